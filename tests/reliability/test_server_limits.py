"""Defect 2: ``consenthub serve`` bounds request heads (431), bodies (413) and slow
clients (408) before the application, over real sockets against the real process."""

from __future__ import annotations

import os
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from consenthub.store.database import Database
from tests.conftest import TEST_SECRET_KEY
from tests.harness import ServerProcess, free_port

SLOW_SECONDS = 0.5
BODY_LIMIT = 64 * 1024


class Hub:
    def __init__(self, database_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = ServerProcess(
            [sys.executable, "-m", "consenthub.cli.main", "serve", "--port", str(self.port)],
            ready_url=f"{self.url}/healthz",
            env=os.environ
            | {
                "CONSENTHUB_DATABASE_URL": database_url,
                "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY,
                "CONSENTHUB_BASE_URL": self.url,
                "CONSENTHUB_MAX_BODY_BYTES": str(BODY_LIMIT),
                "CONSENTHUB_HEADER_TIMEOUT_SECONDS": str(SLOW_SECONDS),
                "CONSENTHUB_BODY_TIMEOUT_SECONDS": str(SLOW_SECONDS),
            },
        ).wait_ready()

    def rss_kib(self) -> int:
        """The resident size of the process that serves (uvicorn's only process here)."""
        status = Path(f"/proc/{self.server.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1])

    def exchange(self, head: bytes, body: Iterator[bytes] = iter(())) -> bytes:
        """Send ``head`` and then ``body`` piece by piece, stopping as soon as the server
        answers; everything the server sent until it closed."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            received = b""
            try:
                sock.sendall(head)
                for piece in body:
                    if select.select([sock], [], [], 0)[0]:
                        break
                    sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                pass
            try:
                while chunk := sock.recv(65536):
                    received += chunk
            except ConnectionResetError:
                pass
            return received


@pytest.fixture
def hub(database_url: str, db: Database) -> Iterator[Hub]:
    started = Hub(database_url)
    try:
        yield started
    finally:
        started.server.stop()


def status_and_body(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), orjson.loads(body)


def giant_header(megabytes: int) -> Iterator[bytes]:
    piece = b"a" * 65536
    for _ in range(megabytes * 16):
        yield piece


HEALTH = b"GET /healthz HTTP/1.1\r\nHost: hub\r\n"


def test_a_30_mb_header_is_431_and_the_process_stays_small(hub: Hub) -> None:
    before = hub.rss_kib()
    answers: list[bytes] = []

    def send() -> None:
        answers.append(hub.exchange(HEALTH + b"X-Big: ", giant_header(30)))

    senders = [threading.Thread(target=send) for _ in range(4)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=60)
    assert len(answers) == 4
    for answer in answers:
        status, body = status_and_body(answer)
        assert status == 431
        assert body["code"] == "CH2007"
        assert b"connection: close" in answer.lower()
    # Four 30 MB headers at once grew the worker by 115 MB each before the limit.
    assert hub.rss_kib() - before < 20 * 1024
    assert status_and_body(hub.exchange(HEALTH + b"\r\n"))[0] == 200


def test_too_many_header_fields_are_431(hub: Hub) -> None:
    fields = b"".join(b"X-F%d: 1\r\n" % n for n in range(101))
    status, body = status_and_body(hub.exchange(HEALTH + fields + b"\r\n"))
    assert (status, body["code"]) == (431, "CH2007")
    fields = b"".join(b"X-F%d: 1\r\n" % n for n in range(90))
    assert status_and_body(hub.exchange(HEALTH + fields + b"\r\n"))[0] == 200


def test_a_body_over_the_limit_is_413_before_the_application(hub: Hub) -> None:
    document = orjson.dumps({"filler": "x" * 100_000})
    head = (
        b"POST /api/v1/authorization-requests HTTP/1.1\r\nHost: hub\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(document)
    )
    status, body = status_and_body(hub.exchange(head, iter([document])))
    assert (status, body["code"]) == (413, "CH2006")
    # The same without a length: chunked, cut when it passes the limit.
    # (to a route that reads its body before anything else, in one chunk past the limit)
    chunked = (
        b"POST /sts/Token HTTP/1.1\r\nHost: hub\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    pieces = iter([b"14000\r\n" + b"x" * 0x14000 + b"\r\n"])
    status, body = status_and_body(hub.exchange(chunked, pieces))
    assert (status, body["code"]) == (413, "CH2006")


def test_a_head_trickled_slowly_is_cut(hub: Hub) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as sock:
        sock.sendall(HEALTH)  # and never the blank line
        answer = sock.recv(65536)
        assert sock.recv(65536) == b""  # closed
    status, body = status_and_body(answer)
    assert (status, body["code"]) == (408, "CH2008")
    assert SLOW_SECONDS <= time.monotonic() - started < 5


def test_a_connection_that_sends_nothing_is_cut(hub: Hub) -> None:
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as sock:
        status, _ = status_and_body(sock.recv(65536))
    assert status == 408


def test_a_body_trickled_slowly_is_cut(hub: Hub) -> None:
    head = (
        b"POST /sts/Token HTTP/1.1\r\nHost: hub\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as sock:
        sock.sendall(head + b"grant_type")
        answer = sock.recv(65536)
    status, body = status_and_body(answer)
    assert (status, body["code"]) == (408, "CH2008")
