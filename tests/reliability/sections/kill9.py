"""``kill -9`` under traffic: a ``consenthub serve`` process and a ``consenthub worker`` process,
each killed with SIGKILL at seeded random moments and started again, while client threads
send token requests, data reads, BRS-NO-622 messages and consent code exchanges over HTTP,
and persons approve BRS-NO-624 requests in Min side (a real OIDC login, the decision form).

At the end every request that got a success reply is there with all its parts — a token
still introspects active, a read has its access-log row (by correlation id), an accepted
message item its pending request, item and audit event, an exchanged code its consent
marked used, an approval its grant, audit event and outbox events —, nothing is half
written (every request has its creation event, every decided one its decision event, an
approved one its grants), and ``consenthub audit verify`` passes. The worker delivers to a
receiver that verifies with ``standardwebhooks``: every outbox event reaches it; duplicates
(at-least-once) are recognised by ``webhook-id`` and counted."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
from sqlalchemy import func, select
from typer.testing import CliRunner

from consenthub import outbox
from consenthub.cli.main import app as cli
from consenthub.config import Settings
from consenthub.demo import start_login_provider
from consenthub.domain.access import EventType, Process
from consenthub.outbox import Event
from consenthub.services import build_services
from consenthub.store.database import Database
from consenthub.store.tables import (
    AccessLogEntry,
    AccessRequest,
    AccessRequestItem,
    AuditEvent,
    Consent,
    Grant,
    OutboxMessage,
)
from tests.conftest import TEST_SECRET_KEY
from tests.consent.parties import add_consumer, add_nav
from tests.factories import add_grant, gln
from tests.harness import free_port
from tests.login_flow import csrf_of, login, register_person
from tests.reliability import traffic
from tests.reliability.processes import Hub, prepared
from tests.webhook_receiver import Receiver
from tests.worker.test_worker_processes import start_worker

TITLE = "kill -9"
CLIENTS = 3
SEED = 14
DRAIN_SECONDS = 40.0
BACKLOG = 300


@dataclass
class Acknowledged:
    """What got a success reply, to be found afterwards."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    exchanges: list[str] = field(default_factory=list)
    approvals: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def add(self, kind: list[str], value: str) -> None:
        with self.lock:
            kind.append(value)

    def total(self) -> int:
        return sum(
            map(len, (self.tokens, self.reads, self.messages, self.exchanges, self.approvals))
        )


def _client(
    url: str,
    stop: threading.Event,
    seen: Acknowledged,
    party: Any,
    consumer: Any,
    points: traffic.Points,
    codes: list[tuple[str, str]],
    read_point: str,
) -> None:
    """A third party's system: a token, then messages, reads and code exchanges, going on
    through the hub's deaths (a refused or cut connection is simply not acknowledged)."""
    with httpx.Client() as client:
        while not stop.is_set():
            try:
                answer = traffic.token(client, url, party)
                if answer.status_code != 200:
                    _unexpected(seen, "token", answer)
                    continue
                access_token = answer.json()["access_token"]
                seen.add(seen.tokens, access_token)
                point = points.take()
                if point is not None:
                    sent = traffic.message(client, url, access_token, point.gsrn)
                    request_id = traffic.accepted_request_id(sent)
                    if request_id is None:
                        _unexpected(seen, "message", sent)
                    else:
                        seen.add(seen.messages, request_id)
                read = client.get(
                    f"{url}/api/v1/metering-points/{read_point}",
                    headers={"Authorization": f"Bearer {access_token}"},
                    timeout=traffic.TIMEOUT,
                )
                if read.status_code == 200:
                    seen.add(seen.reads, read.headers["x-correlation-id"])
                else:
                    _unexpected(seen, "read", read)
                with seen.lock:
                    consent_id, code = codes.pop() if codes else ("", "")
                if code:
                    exchanged = client.post(
                        f"{url}/sts/Token",
                        data={
                            "grant_type": "authorization_code",
                            "code": code,
                            "client_id": consumer.party.client_id,
                            "client_secret": consumer.client_secret,
                        },
                        timeout=traffic.TIMEOUT,
                    )
                    if exchanged.status_code == 200:
                        seen.add(seen.exchanges, consent_id)
                    else:
                        _unexpected(seen, "code exchange", exchanged)
            except httpx.TransportError:
                time.sleep(0.05)


def _unexpected(seen: Acknowledged, what: str, answer: httpx.Response) -> None:
    # A 503 is the hub telling the truth about a database in trouble; anything else
    # (a 500, or a refusal of a request that was valid) is a fault.
    if answer.status_code != 503:
        with seen.lock:
            if len(seen.unexpected) < 20:
                seen.unexpected.append(f"{what}: {answer.status_code} {answer.text[:200]}")


def _approver(
    hub: Hub,
    stop: threading.Event,
    seen: Acknowledged,
    persons: list[traffic.Person],
) -> None:
    """Each person opens a BRS-NO-624 link, logs in at the real OIDC provider and approves
    in Min side, over HTTP; acknowledged when the hub sends the browser back to the third
    party with its signed answer."""
    for person in persons:
        if stop.is_set():
            return
        request_id = str(uuid.uuid4())
        link = {"client_id": gln(1), "request_id": request_id, "scope": "Full"}
        try:
            with httpx.Client(timeout=traffic.TIMEOUT) as browser:
                opened = browser.get(
                    f"{hub.url}/third-party-access/authorize",
                    params=link,
                    follow_redirects=False,
                )
                if opened.status_code != 303:
                    _unexpected(seen, "authorize link", opened)
                    continue
                page_path = opened.headers["location"]
                landed = login(browser, cast(Any, hub), f"person-{person.end_user_id}", page_path)
                if landed.headers.get("location") != page_path:
                    continue
                page = browser.get(f"{hub.url}{page_path}")
                answered = browser.post(
                    f"{hub.url}{page_path}",
                    data={
                        "csrf_token": csrf_of(page.text),
                        "action": "approve",
                        "metering_point": person.gsrn,
                    },
                    follow_redirects=False,
                )
        except (httpx.TransportError, AssertionError, KeyError):
            continue  # the hub died in the middle: nothing was acknowledged
        if answered.status_code == 303 and answered.headers["location"].startswith(
            traffic.RETURN_URL + "?response="
        ):
            seen.add(seen.approvals, request_id)
        else:
            _unexpected(seen, "approval", answered)


def run(backend: str, database_url: str, quick: bool) -> tuple[list[tuple[str, int]], list[str]]:
    kills = 2 if quick else 12
    rand = random.Random(SEED)
    database = prepared(database_url)
    receiver = Receiver()
    seen = Acknowledged()
    problems: list[str] = []
    stop = threading.Event()
    with tempfile.TemporaryDirectory() as workdir, receiver.server() as sink:
        party, secret = traffic.add_third_party(database, webhook_url=f"{sink.url}/hook")
        add_nav(database)
        consumer = add_consumer(database, webhook_url=f"{sink.url}/hook")
        receiver.secrets += [s for s in (secret, consumer.webhook_secret) if s]
        persons = traffic.add_persons(database, 60 if quick else 300)
        reader, approved, messaged, consenting = (
            persons[0],
            persons[1:21],
            persons[21:-10],
            persons[-10:],
        )
        add_grant(
            database, party.party.id, reader.metering_point_id, reader.end_user_id, traffic.MOVE_IN
        )
        # A backlog, so that the worker is killed in the middle of its batches.
        with database.write() as conn:
            outbox.enqueue_webhooks(
                conn,
                party.party.id,
                [Event(EventType.GRANT_STARTED, {"sequence": n}) for n in range(BACKLOG)],
                now=dt.datetime.now(dt.UTC),
            )
        settings = Settings(
            database_url=database_url,
            secret_key=TEST_SECRET_KEY,
            secret_key_file=Path(workdir) / "unused.key",
            environment="test",
            base_url="http://127.0.0.1:8000",
        )
        services = build_services(settings, database)
        codes = [traffic.accepted_consent(services, person) for person in consenting]
        login_port = free_port()
        provider = start_login_provider(login_port, users=[])
        issuer = f"http://127.0.0.1:{login_port}"
        for person in approved:
            register_person(issuer, f"person-{person.end_user_id}", pid=person.national_id)
        hub = Hub(
            database_url,
            Path(workdir) / "hub.log",
            CONSENTHUB_OIDC_ISSUER=issuer,
            CONSENTHUB_OIDC_CLIENT_SECRET="test-client-secret",
            CONSENTHUB_ALLOW_SYNTHETIC_IDS="true",
        )
        hub.start()
        worker = start_worker(database_url)
        points = traffic.Points(list(messaged))
        threads = [
            threading.Thread(
                target=_client,
                args=(hub.url, stop, seen, party, consumer, points, codes, reader.gsrn),
            )
            for _ in range(CLIENTS)
        ]
        threads.append(threading.Thread(target=_approver, args=(hub, stop, seen, approved)))
        killed = {"server": 0, "worker": 0}
        try:
            for thread in threads:
                thread.start()
            plan = ["server", "worker"] * (kills // 2)
            rand.shuffle(plan)
            for victim in plan:
                time.sleep(rand.uniform(0.3, 1.5))
                if victim == "server":
                    hub.kill()
                    killed["server"] += 1
                    hub.start()
                else:
                    os.kill(worker.pid, signal.SIGKILL)
                    worker.wait(timeout=10)
                    killed["worker"] += 1
                    worker = start_worker(database_url)
            time.sleep(0.5)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        try:
            problems += seen.unexpected
            problems += _missing(database, seen)
            problems += _half_written(database)
            problems += _inactive_tokens(hub.url, party, seen.tokens)
            problems += _audit_verify(database_url)
            events, lost = _drain(database, receiver)
        finally:
            hub.stop()
            provider.terminate()
            provider.wait(timeout=10)
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=10)
            database.dispose()
    if lost:
        problems.append(f"{lost} events never delivered")
    if not all(item.verified for item in receiver.received):
        problems.append("a delivery did not verify with standardwebhooks")
    duplicates = len([r for r in receiver.received if 200 <= r.answered < 300]) - len(
        receiver.accepted()
    )
    acknowledged = seen.total()
    return [
        ("acknowledged", acknowledged),
        ("found", acknowledged - sum(p.startswith("missing") for p in problems)),
        ("partial", sum(p.startswith("half-written") for p in problems)),
        ("server kills", killed["server"]),
        ("worker kills", killed["worker"]),
        ("events", events),
        ("delivered", events - lost),
        ("lost", lost),
        ("duplicates recognised by webhook-id", duplicates),
    ], problems


def _missing(database: Database, seen: Acknowledged) -> list[str]:
    problems: list[str] = []
    with database.read() as conn:
        logged = set(
            conn.execute(
                select(AccessLogEntry.correlation_id).where(
                    AccessLogEntry.correlation_id.in_(seen.reads)
                )
            ).scalars()
        )
        problems += [
            f"missing: the access-log row of read {cid}" for cid in seen.reads if cid not in logged
        ]
        for request_id in seen.messages:
            row = conn.execute(
                select(AccessRequest.id).where(AccessRequest.request_id == request_id)
            ).scalar()
            items = conn.execute(
                select(func.count())
                .select_from(AccessRequestItem)
                .where(AccessRequestItem.access_request_id == row)
            ).scalar_one()
            created = _actions(conn, row)
            if row is None or items != 1 or "access_request.created" not in created:
                problems.append(f"missing: message request {request_id} ({items} items, {created})")
        for consent_id in seen.exchanges:
            used = conn.execute(
                select(Consent.code_used_at).where(Consent.id == consent_id)
            ).scalar()
            if used is None:
                problems.append(f"missing: the exchange of consent {consent_id}")
        for request_id in seen.approvals:
            internal_id = conn.execute(
                select(AccessRequest.id).where(AccessRequest.request_id == request_id)
            ).scalar()
            grants = conn.execute(
                select(func.count())
                .select_from(Grant)
                .where(Grant.access_request_id == internal_id)
            ).scalar_one()
            told = _told(conn, internal_id)
            if (
                grants != 1
                or "access_request.approved" not in _actions(conn, internal_id)
                or told != 1
            ):
                problems.append(f"missing: approval {request_id} ({grants} grants, told {told})")
    return problems


def _actions(conn: Any, internal_id: str | None) -> list[str]:
    return list(
        conn.execute(
            select(AuditEvent.action).where(AuditEvent.subject == f"access_request:{internal_id}")
        ).scalars()
    )


def _told(conn: Any, internal_id: str | None) -> int:
    payloads = conn.execute(
        select(OutboxMessage.payload).where(OutboxMessage.event_type == "access_request.approved")
    ).scalars()
    return sum(1 for payload in payloads if payload["data"].get("id") == internal_id)


def _half_written(database: Database) -> list[str]:
    """Every request has its creation event and items; every decided one its decision
    event; every approved one its grants."""
    problems = []
    with database.read() as conn:
        rows = conn.execute(
            select(AccessRequest.id, AccessRequest.status, AccessRequest.process)
        ).all()
        for row in rows:
            actions = _actions(conn, row.id)
            if "access_request.created" not in actions:
                problems.append(f"half-written: request {row.id} has no creation event")
            if row.status != "pending" and f"access_request.{row.status}" not in actions:
                problems.append(f"half-written: {row.status} request {row.id} has no event for it")
            if row.status == "approved" and row.process != Process.CONSENT.value:
                grants = conn.execute(
                    select(func.count()).select_from(Grant).where(Grant.access_request_id == row.id)
                ).scalar_one()
                if grants == 0:
                    problems.append(f"half-written: approved request {row.id} without grants")
    return problems


def _inactive_tokens(url: str, party: Any, tokens: list[str]) -> list[str]:
    problems = []
    with httpx.Client() as client:
        for token in tokens[-50:]:
            answer = client.post(
                f"{url}/sts/introspect",
                data={
                    "token": token,
                    "client_id": party.party.client_id,
                    "client_secret": party.client_secret,
                },
            )
            if answer.status_code != 200 or not answer.json().get("active"):
                problems.append(f"missing: an issued token is not active ({answer.status_code})")
    return problems


def _audit_verify(database_url: str) -> list[str]:
    """``consenthub audit verify``, in this process (a new one would import the hub again)."""
    verified = CliRunner().invoke(
        cli,
        ["audit", "verify"],
        env={"CONSENTHUB_DATABASE_URL": database_url, "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY},
    )
    if verified.exit_code != 0:
        return [f"half-written: audit verify failed: {verified.output[-300:]}"]
    return []


def _drain(database: Database, receiver: Receiver) -> tuple[int, int]:
    """Wait (bounded) until the worker has delivered every outbox event; the number of
    events and how many never reached the receiver."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        with database.read() as conn:
            wanted = set(
                conn.execute(
                    select(OutboxMessage.message_id).where(OutboxMessage.channel == "webhook")
                ).scalars()
            )
        got = {item.webhook_id for item in receiver.accepted()}
        if wanted <= got or time.monotonic() > deadline:
            return len(wanted), len(wanted - got)
        time.sleep(0.1)
