"""Defect 14: security headers on every kind of answer, not only pages; ``/metrics``
protected (loopback only by default, or a bearer token)."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from consenthub.app import create_app
from consenthub.config import Settings
from consenthub.store.database import Database
from tests.factories import add_party
from tests.harness import LiveServer, ThreadedServer, bearer, free_port

HSTS = "strict-transport-security"


def assert_protected(response: httpx.Response, cache: str = "no-store") -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == cache


def test_json_redirect_and_static_answers_carry_nosniff_and_cache_control(
    live_server: LiveServer, db: Database
) -> None:
    url = live_server.url
    creds = add_party(db)
    token = httpx.post(
        f"{url}/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds.party.client_id,
            "client_secret": creds.client_secret,
        },
    )
    assert token.status_code == 200
    assert_protected(token)  # the direct route's pre-encoded headers, once each
    assert token.headers.get_list("cache-control") == ["no-store"]
    headers = bearer(live_server, creds.party.client_id, creds.client_secret)
    assert_protected(httpx.get(f"{url}/api/v1/metering-points", headers=headers))
    assert_protected(httpx.get(f"{url}/api/v1/metering-points"))  # a 401
    assert_protected(httpx.get(f"{url}/healthz"))
    front_page = httpx.get(f"{url}/")
    assert front_page.status_code == 200
    assert_protected(front_page)
    redirect = httpx.get(f"{url}/minside")
    assert redirect.status_code == 303
    assert_protected(redirect)
    assert_protected(httpx.get(f"{url}/.well-known/jwks.json"), "public, max-age=60")
    assert_protected(httpx.get(f"{url}/static/style.css"), "public, max-age=3600")
    # Not over plain http: RFC 6797 §7.2.
    assert HSTS not in token.headers


def test_an_https_hub_sends_strict_transport_security(settings: Settings, db: Database) -> None:
    https = settings.model_copy(update={"base_url": "https://hub.example.no"})
    with ThreadedServer(create_app(https, db), free_port()) as server:
        for path in ("/healthz", "/", "/minside", "/api/v1/metering-points"):
            response = httpx.get(f"{server.url}{path}")
            assert response.headers[HSTS] == "max-age=31536000; includeSubDomains", path
        token = httpx.post(f"{server.url}/sts/Token", data={"grant_type": "x"})
        assert HSTS in token.headers


def test_metrics_answer_loopback_clients_only_by_default(live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.url}/metrics").status_code == 200
    outside = httpx.get(f"{live_server.url}/metrics", headers={"X-Forwarded-For": "203.0.113.5"})
    assert outside.status_code == 404
    assert "http_requests" not in outside.text


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("Bearer wrong", 401), ("Bearer s3cret-metrics", 200)],
)
def test_metrics_with_a_token_ask_for_it_from_everywhere(
    settings: Settings, db: Database, authorization: str | None, status: int
) -> None:
    configured = settings.model_copy(update={"metrics_token": SecretStr("s3cret-metrics")})
    headers = {"X-Forwarded-For": "203.0.113.5"}
    if authorization:
        headers["Authorization"] = authorization
    with LiveServer(configured, db) as server:
        response = httpx.get(f"{server.url}/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
