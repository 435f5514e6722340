"""PostgreSQL gone for a while under traffic, without touching the shared server: a loopback
TCP proxy between a ``consenthub serve`` process and PostgreSQL is cut (every connection
closed, new ones closed at once) and restored.

During the cut every answer is either one that needs no database (a token from the
client cache) or ``503`` with the catalog's ``CH5001`` body and ``Retry-After`` — never
another 5xx, never a trace in the log; ``/readyz`` says not ready. After the restore the
same process answers again by itself; every message it acknowledged is stored."""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.engine import make_url

from consenthub.registry import NewCredentials
from consenthub.store.database import STORE_RETRY_AFTER_SECONDS, Database
from consenthub.store.tables import AccessRequest
from tests.factories import gln
from tests.reliability import traffic
from tests.reliability.processes import Hub, TcpProxy, prepared

TITLE = "postgresql outage"
CLIENTS = 3
RECOVERY_SECONDS = 30.0
# Answered without the database: a token for a client in the cache; liveness.
NO_DATABASE_NEEDED = {"/sts/Token", "/healthz"}


@dataclass
class Log:
    """What the clients saw, by phase."""

    outage: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    during: int = 0
    other_5xx: int = 0
    acknowledged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def answer(self, path: str, response: httpx.Response) -> None:
        during = self.outage.is_set()
        problem = _judge(path, response, during=during)
        with self.lock:
            self.during += during
            self.other_5xx += response.status_code >= 500 and response.status_code != 503
            if problem and len(self.problems) < 20:
                self.problems.append(problem)


def _judge(path: str, response: httpx.Response, *, during: bool) -> str | None:
    status = response.status_code
    if "Traceback" in response.text:
        return f"{path}: a traceback in the answer"
    if status >= 500 and status != 503:
        return f"{path}: {status} {response.text[:200]}"
    if status == 503 and path != "/readyz":
        if response.headers.get("retry-after") != str(STORE_RETRY_AFTER_SECONDS):
            return f"{path}: 503 without Retry-After"
        if response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
            if body.get("code") != "CH5001" or body.get("statusCode") != 503:
                return f"{path}: 503 with the body {body}"
        elif "CH5001" not in response.text:
            return f"{path}: a 503 page without its code"
    if during and path == "/readyz" and status != 503:
        return f"/readyz answered {status} during the outage"
    # A stored message is acceptable (checked after the restore); nothing else may succeed.
    writes = NO_DATABASE_NEEDED | {"/readyz", "/api/v1/third-party-access/updates"}
    if during and 200 <= status < 300 and path not in writes:
        return f"{path}: {status} while the database was unreachable"
    return None


def _client(url: str, log: Log, party: NewCredentials, points: traffic.Points) -> None:
    link = {
        "client_id": gln(1),
        "request_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "scope": "Full",
    }
    with httpx.Client() as client:
        access_token: str | None = None
        while not log.stop.is_set():
            try:
                if access_token is None:
                    answer = traffic.token(client, url, party)
                    log.answer("/sts/Token", answer)
                    if answer.status_code == 200:
                        access_token = answer.json()["access_token"]
                    continue
                point = points.take()
                if point is not None:
                    sent = traffic.message(client, url, access_token, point.gsrn)
                    log.answer("/api/v1/third-party-access/updates", sent)
                    request_id = traffic.accepted_request_id(sent)
                    if request_id is not None:
                        with log.lock:
                            log.acknowledged.append(request_id)
                log.answer("/api/v1/metering-points", traffic.read(client, url, access_token))
                log.answer("/readyz", client.get(f"{url}/readyz"))
                log.answer(
                    "/third-party-access/authorize",
                    client.get(f"{url}/third-party-access/authorize", params=link),
                )
                log.answer("/sts/Token", traffic.token(client, url, party))
            except httpx.TransportError as exc:
                with log.lock:
                    log.problems.append(f"the hub did not answer: {exc!r}")
                return
            time.sleep(0.02)


def run(backend: str, database_url: str, quick: bool) -> tuple[list[tuple[str, int]], list[str]]:
    if backend == "sqlite":
        return [("not applicable on sqlite", 0)], []
    outage_seconds = 2.0 if quick else 10.0
    database = prepared(database_url)
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    log = Log()
    problems: list[str] = []
    recovered_ms = -1
    try:
        party, _ = traffic.add_third_party(database)
        points = traffic.Points(traffic.add_persons(database, 40 if quick else 200))
        with tempfile.TemporaryDirectory() as workdir:
            hub = Hub(through_proxy, Path(workdir) / "hub.log").start()
            clients = [
                threading.Thread(target=_client, args=(hub.url, log, party, points))
                for _ in range(CLIENTS)
            ]
            try:
                for thread in clients:
                    thread.start()
                time.sleep(0.5)
                proxy.cut()
                log.outage.set()
                time.sleep(outage_seconds)
                log.outage.clear()
                proxy.restore()
                recovered_ms = _recovery_ms(hub.url, party)
                if recovered_ms < 0:
                    problems.append(f"the hub did not recover within {RECOVERY_SECONDS:.0f} s")
                time.sleep(0.5)
            finally:
                log.stop.set()
                for thread in clients:
                    thread.join(timeout=30)
                hub.stop()
            server_log = (Path(workdir) / "hub.log").read_text()
        if "Traceback" in server_log or "unhandled error" in server_log:
            problems.append("the hub logged an unhandled error: " + _first_trace(server_log))
        problems += log.problems
        problems += _unstored(database, log.acknowledged)
    finally:
        proxy.close()
        database.dispose()
    figures = [
        ("requests during outage", log.during),
        ("5xx other than 503", log.other_5xx),
        ("ms to recover", max(recovered_ms, 0)),
    ]
    return figures, problems


def _recovery_ms(url: str, party: NewCredentials) -> int:
    """Milliseconds from the restore until a read that needs the database and /readyz
    answer 200 again, on the same process; -1 if that did not happen in time."""
    restored = time.monotonic()
    with httpx.Client() as client:
        while time.monotonic() - restored < RECOVERY_SECONDS:
            answer = traffic.token(client, url, party)
            if answer.status_code == 200:
                access_token = answer.json()["access_token"]
                if (
                    traffic.read(client, url, access_token).status_code == 200
                    and client.get(f"{url}/readyz").status_code == 200
                ):
                    return round((time.monotonic() - restored) * 1000)
            time.sleep(0.02)
    return -1


def _unstored(database: Database, acknowledged: list[str]) -> list[str]:
    with database.read() as conn:
        stored = set(
            conn.execute(
                select(AccessRequest.request_id).where(AccessRequest.request_id.in_(acknowledged))
            ).scalars()
        )
    return [
        f"acknowledged but not stored: request {rid}" for rid in acknowledged if rid not in stored
    ]


def _first_trace(log: str) -> str:
    start = max(log.find("Traceback"), log.find("unhandled error"))
    return log[start : start + 500]
