"""Defect 11: a 405 names the allowed methods in ``Allow`` (RFC 9110 §15.5.6)."""

from __future__ import annotations

import httpx
import pytest

from consenthub.store.database import Database
from tests.factories import gsrn
from tests.harness import LiveServer


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/sts/Token", {"POST"}),  # served directly for POST
        ("GET", "/sts/Token", {"POST"}),
        ("PUT", f"/api/v1/metering-points/{gsrn(1)}/values", {"GET"}),  # direct, with a pattern
        ("POST", "/api/v1/metering-points", {"GET"}),
        ("DELETE", "/sts/revoke", {"POST"}),  # routed by FastAPI
        ("POST", "/healthz", {"GET"}),
    ],
)
def test_method_not_allowed_answers_405_with_allow(
    live_server: LiveServer, db: Database, method: str, path: str, allowed: set[str]
) -> None:
    response = httpx.request(method, f"{live_server.url}{path}")
    assert response.status_code == 405
    assert response.json()["code"] == "CH2003"
    assert {name.strip() for name in response.headers["allow"].split(",")} == allowed
    assert response.headers["cache-control"] == "no-store"
