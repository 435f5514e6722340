"""Defect 8: a client that hangs up in the middle of its body is no server error."""

from __future__ import annotations

import logging
import socket
import time

import pytest
from prometheus_client import REGISTRY

from consenthub.store.database import Database
from tests.factories import add_party
from tests.harness import LiveServer


def requests_counted(path: str, status: int) -> float:
    value = REGISTRY.get_sample_value(
        "consenthub_http_requests_total",
        {"method": "POST", "route": path, "status": str(status)},
    )
    return value or 0.0


def hang_up_mid_body(server: LiveServer, path: str) -> None:
    """Announce a 1,000-byte body, send a part of it, and close the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 1000\r\n"
            "\r\n"
            "grant_type=client_credentials&client_id=".encode()
        )
        time.sleep(0.2)  # the server is now waiting for the rest of the body


@pytest.mark.parametrize("path", ["/sts/Token", "/sts/revoke"])
def test_a_client_hanging_up_mid_body_is_logged_as_info_and_counted_499(
    live_server: LiveServer, db: Database, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    add_party(db)
    closed_before = requests_counted(path, 499)
    failed_before = requests_counted(path, 500)
    with caplog.at_level(logging.DEBUG):
        hang_up_mid_body(live_server, path)
        deadline = time.monotonic() + 5
        while requests_counted(path, 499) == closed_before and time.monotonic() < deadline:
            time.sleep(0.02)

    assert requests_counted(path, 499) == closed_before + 1
    assert requests_counted(path, 500) == failed_before
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    disconnects = [record for record in caplog.records if "disconnect" in record.getMessage()]
    assert disconnects
    assert all(record.levelno <= logging.INFO and not record.exc_info for record in disconnects)
