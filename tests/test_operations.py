"""The real ``consenthub serve`` process: health, readiness, docs, metrics and JSON logs."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from consenthub.store.database import Database
from tests.conftest import TEST_SECRET_KEY
from tests.factories import add_party, fnr
from tests.harness import ServerProcess, free_port


class HubProcess:
    """``consenthub serve`` as its own process, with its JSON log in a file."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.log = log_path.open("w")
        self.server = ServerProcess(
            [sys.executable, "-m", "consenthub.cli.main", "serve", "--port", str(self.port)],
            ready_url=f"{self.url}/healthz",
            env=os.environ
            | {
                "CONSENTHUB_DATABASE_URL": database_url,
                "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY,
                "CONSENTHUB_BASE_URL": self.url,
            },
            output=self.log,
        )
        try:
            self.server.wait_ready()
        except RuntimeError:
            raise RuntimeError(f"server did not start: {log_path.read_text()}") from None
        self.process = self.server.process

    def log_lines(self) -> list[dict[str, object]]:
        self.log.flush()
        time.sleep(0.2)
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]

    def stop(self) -> None:
        self.server.stop()
        self.log.close()


@pytest.fixture
def server(db: Database, database_url: str, tmp_path: Path) -> Iterator[HubProcess]:
    process = HubProcess(database_url, tmp_path / "server.log")
    yield process
    process.stop()


def test_health_readiness_docs_metrics(server: HubProcess) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}
    assert "swagger" in httpx.get(f"{server.url}/docs").text.lower()
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert {
        "/sts/Token",
        "/api/v1/metering-points",
        "/api/v1/metering-points/{id}",
        "/api/v1/metering-points/{id}/values",
    } <= paths.keys()
    # Directly served routes still describe their parameters and their bearer token.
    values = httpx.get(f"{server.url}/openapi.json").json()
    operation = values["paths"]["/api/v1/metering-points/{id}/values"]["get"]
    assert [(p["name"], p["in"]) for p in operation["parameters"]] == [
        ("id", "path"),
        ("from", "query"),
        ("to", "query"),
    ]
    assert operation["security"] == [{"bearer": []}]
    assert values["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    httpx.post(f"{server.url}/sts/Token", data={"grant_type": "client_credentials"})
    metrics = httpx.get(f"{server.url}/metrics").text
    # The token endpoint is served without FastAPI's routing, and still counted by route.
    assert (
        'consenthub_http_requests_total{method="POST",route="/sts/Token",status="401"} 1.0'
        in metrics
    )


def test_korrelasjons_id_in_log_and_no_national_id(server: HubProcess, db: Database) -> None:
    creds = add_party(db)
    national_id = fnr(24, 12, 88)
    response = httpx.post(
        f"{server.url}/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds.party.client_id,
            "client_secret": "wrong",
        },
    )
    korrelasjons_id = response.json()["korrelasjonsId"]
    # Personal data sent where it does not belong must not reach the log either.
    httpx.post(
        f"{server.url}/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": national_id,
            "client_secret": national_id,
        },
    )
    httpx.get(f"{server.url}/api/v1/metering-points", params={"after": national_id})
    httpx.get(f"{server.url}/api/v1/metering-points/{national_id}")
    lines = server.log_lines()
    assert any(line.get("correlation_id") == korrelasjons_id for line in lines)
    assert all("level" in line and "message" in line for line in lines)
    text = server.log_path.read_text()
    assert national_id not in text
    assert national_id[:6] + "*****" in text


def test_not_ready_when_schema_missing(tmp_path: Path) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    process = HubProcess(empty, tmp_path / "server.log")
    try:
        ready = httpx.get(f"{process.url}/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
    finally:
        process.stop()


def test_unexpected_failure_is_eh111_without_trace(
    server: HubProcess, db: Database, tmp_path: Path
) -> None:
    """A database that disappears under a running server: EH111 body, no stack trace."""
    from sqlalchemy import text

    creds = add_party(db)
    with db.write() as conn:
        conn.execute(text("ALTER TABLE client_secrets RENAME TO client_secrets_moved"))
    try:
        response = httpx.post(
            f"{server.url}/sts/Token",
            data={
                "grant_type": "client_credentials",
                "client_id": creds.party.client_id,
                "client_secret": creds.client_secret,
            },
        )
    finally:
        with db.write() as conn:
            conn.execute(text("ALTER TABLE client_secrets_moved RENAME TO client_secrets"))
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "EH111"
    assert body["korrelasjonsId"] == response.headers["x-correlation-id"]
    assert "Traceback" not in response.text
    logged = [
        line for line in server.log_lines() if line.get("correlation_id") == body["korrelasjonsId"]
    ]
    assert any("exception" in line for line in logged)
