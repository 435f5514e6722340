"""Webhook delivery by the worker: to a real receiver on loopback that verifies every
delivery with the ``standardwebhooks`` package; retries by moving the clock."""

from __future__ import annotations

import base64
import datetime as dt
import random
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consenthub import access_requests, grants, registry
from consenthub.access_requests import NewAccessRequest
from consenthub.app import create_app
from consenthub.config import Settings
from consenthub.domain.access import Process, Scope
from consenthub.outbox import OutboxEntry
from consenthub.outbox.rules import RETRY_DELAYS
from consenthub.services import Services, build_services
from consenthub.store.database import Database
from consenthub.store.tables import Grant, OutboxMessage, Party
from consenthub.worker import Worker, delivery
from consenthub.worker.delivery import WebhookSender
from tests.conftest import TEST_SECRET_KEY
from tests.factories import add_end_user, add_grant, add_metering_point, add_party, add_supply, fnr
from tests.harness import EventLoopThread, MovableClock
from tests.webhook_receiver import Receiver
from tests.worker.two_workers import deliver_with_two_workers

MOVE_IN = dt.date(2022, 8, 1)
# A party's webhook secret, for the sender's own tests.
SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()


@pytest.fixture
def hub(settings: Settings, db: Database, clock: MovableClock) -> Services:
    """The services of a worker allowed to call loopback addresses (the receiver's)."""
    return build_services(
        settings.model_copy(update={"webhook_allow_private": True}), db, clock=clock
    )


@pytest.fixture
def background() -> Iterator[EventLoopThread]:
    loop = EventLoopThread()
    yield loop
    loop.close()


def subscribe(db: Database, hub: Services, client_id: str, url: str) -> str:
    with db.write() as conn:
        endpoint = registry.set_webhook(
            conn, TEST_SECRET_KEY.encode(), client_id, url, now=hub.now()
        )
    assert endpoint.new_secret is not None
    return endpoint.new_secret


@pytest.fixture
def party(db: Database, hub: Services, receiver: tuple[Receiver, str]) -> tuple[int, Receiver]:
    """A third party subscribed to the receiver, and a person's metering point."""
    created = add_party(db, seed=1)
    receiver[0].secrets.append(subscribe(db, hub, created.party.client_id, receiver[1]))
    return created.party.id, receiver[0]


def outbox_rows(db: Database) -> list[OutboxMessage]:
    with db.read() as conn:
        return list(conn.execute(select(OutboxMessage).order_by(OutboxMessage.id)).all())  # type: ignore[arg-type]


def new_grants(db: Database, party_id: int, count: int) -> list[int]:
    person = add_end_user(db, fnr(5, 5, 80))
    ids = []
    for seed in range(count):
        point = add_metering_point(db, 100 + seed)
        add_supply(db, point, person, MOVE_IN)
        ids.append(add_grant(db, party_id, point, person, MOVE_IN))
    return ids


def test_a_delivery_failing_twice_is_retried_at_growing_intervals_and_recorded_once(
    db: Database,
    hub: Services,
    party: tuple[int, Receiver],
    clock: MovableClock,
    background: EventLoopThread,
) -> None:
    party_id, receiver = party
    receiver.answer_next(500)
    receiver.answer_next(503)
    [grant_id] = new_grants(db, party_id, 1)
    worker = Worker(hub, rand=random.Random(7))
    try:
        background.run(worker.deliver_due())
        [row] = outbox_rows(db)
        first_retry = row.due_at - hub.now()
        assert (row.attempts, row.last_status, row.delivered_at) == (1, 500, None)
        assert RETRY_DELAYS[0] * 0.9 <= first_retry <= RETRY_DELAYS[0] * 1.1
        # Not due yet: nothing is sent, however often the worker looks.
        background.run(worker.deliver_due())
        assert len(receiver.received) == 1
        clock.advance(seconds=6)
        background.run(worker.deliver_due())
        [row] = outbox_rows(db)
        second_retry = row.due_at - hub.now()
        assert (row.attempts, row.last_status) == (2, 503)
        assert second_retry > first_retry * 10
        clock.advance(seconds=second_retry.total_seconds() - 1)
        background.run(worker.deliver_due())
        assert len(receiver.received) == 2
        clock.advance(seconds=2)
        report = background.run(worker.deliver_due())
    finally:
        background.run(worker.close())
    assert report.delivered == 1
    [row] = outbox_rows(db)
    assert (row.attempts, row.last_status, row.failed_at) == (3, 204, None)
    assert row.delivered_at is not None
    assert [item.answered for item in receiver.received] == [500, 503, 204]
    assert all(item.verified for item in receiver.received)
    assert len({item.webhook_id for item in receiver.received}) == 1
    [accepted] = receiver.accepted()
    assert accepted.type == "grant.started"
    assert accepted.data["grantId"] == grant_id
    assert fnr(5, 5, 80) not in str(accepted.data)


def test_a_partys_events_arrive_in_order_and_a_retry_holds_the_rest(
    db: Database,
    hub: Services,
    party: tuple[int, Receiver],
    clock: MovableClock,
    background: EventLoopThread,
) -> None:
    party_id, receiver = party
    grant_ids = new_grants(db, party_id, 5)
    receiver.answer_next(204)
    receiver.answer_next(500)
    worker = Worker(hub, rand=random.Random(7))
    try:
        background.run(worker.deliver_due())
        # The second failed: the three after it wait behind it.
        assert [item.data["grantId"] for item in receiver.received] == grant_ids[:2]
        clock.advance(seconds=10)
        background.run(worker.deliver_due())
    finally:
        background.run(worker.close())
    assert [item.data["grantId"] for item in receiver.accepted()] == grant_ids
    assert all(row.delivered_at is not None for row in outbox_rows(db))


def test_gone_disables_the_endpoint_and_stops_new_events(
    db: Database, hub: Services, party: tuple[int, Receiver], background: EventLoopThread
) -> None:
    party_id, receiver = party
    receiver.answer_next(410)
    new_grants(db, party_id, 2)
    worker = Worker(hub)
    try:
        background.run(worker.deliver_due())
    finally:
        background.run(worker.close())
    assert len(receiver.received) == 1
    with db.read() as conn:
        assert conn.execute(
            select(Party.webhook_disabled_at).where(Party.id == party_id)
        ).scalar_one()
    assert all(row.failed_at is not None for row in outbox_rows(db))
    before = len(outbox_rows(db))
    add_grant(db, party_id, add_metering_point(db, 300), add_end_user(db, fnr(7, 7, 77)), MOVE_IN)
    assert len(outbox_rows(db)) == before


def test_a_redirect_is_not_followed(
    db: Database,
    hub: Services,
    party: tuple[int, Receiver],
    clock: MovableClock,
    background: EventLoopThread,
) -> None:
    party_id, receiver = party
    receiver.answer_next(307, location="/elsewhere")
    new_grants(db, party_id, 1)
    worker = Worker(hub)
    try:
        background.run(worker.deliver_due())
    finally:
        background.run(worker.close())
    [row] = outbox_rows(db)
    assert row.delivered_at is None
    assert row.last_status == 307
    assert "not followed" in (row.last_error or "")


def test_private_addresses_are_refused_unless_allowed(
    settings: Settings,
    db: Database,
    clock: MovableClock,
    party: tuple[int, Receiver],
    background: EventLoopThread,
) -> None:
    party_id, receiver = party
    new_grants(db, party_id, 1)
    strict = build_services(settings, db, clock=clock)
    worker = Worker(strict)
    try:
        background.run(worker.deliver_due())
    finally:
        background.run(worker.close())
    assert receiver.received == []
    [row] = outbox_rows(db)
    assert "non-public address" in (row.last_error or "")
    assert row.delivered_at is None


def _entry(message_id: str) -> OutboxEntry:
    at = dt.datetime.now(dt.UTC)
    return OutboxEntry(
        1,
        "webhook",
        1,
        message_id,
        "grant.started",
        {"type": "grant.started", "timestamp": at.isoformat(), "data": {}},
        at,
        at,
        0,
        None,
        None,
        None,
        None,
    )


def test_the_address_vetted_is_the_address_connected_to(
    receiver: tuple[Receiver, str],
    background: EventLoopThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No second lookup after the check (DNS rebinding): the name below resolves only
    through the sender's own resolver, and Host still names it."""
    hook, url = receiver
    hook.secrets.append(SECRET)
    port = urlsplit(url).port
    lookups: list[str] = []

    async def resolve(host: str, port: int) -> list[tuple[Any, ...]]:
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    # The loopback receiver stands for a public address here.
    monkeypatch.setattr(delivery, "_forbidden", lambda _address: False)
    sender = WebhookSender(timeout=5, allow_private=False, resolve=resolve)
    try:
        sent = background.run(
            sender.send(f"http://hooks.invalid:{port}/hook", _entry("msg_pinned"), [SECRET])
        )
    finally:
        background.run(sender.close())
    assert sent.error is None
    assert lookups == ["hooks.invalid"]
    [got] = hook.received
    assert (got.host, got.verified) == (f"hooks.invalid:{port}", True)


def test_a_name_resolving_to_any_private_address_is_refused(
    receiver: tuple[Receiver, str], background: EventLoopThread
) -> None:
    hook, url = receiver

    async def resolve(host: str, port: int) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    sender = WebhookSender(timeout=5, allow_private=False, resolve=resolve)
    named = f"http://hooks.invalid:{urlsplit(url).port}/hook"
    try:
        sent = background.run(sender.send(named, _entry("msg_private"), [SECRET]))
    finally:
        background.run(sender.close())
    assert sent.attempt.status is None
    assert "non-public address (10.0.0.7)" in (sent.error or "")
    assert hook.received == []


def test_deliveries_to_one_origin_share_a_few_kept_connections(
    db: Database, hub: Services, receiver: tuple[Receiver, str], background: EventLoopThread
) -> None:
    hook, url = receiver
    for seed in range(8):
        created = add_party(db, seed=10 + seed)
        hook.secrets.append(subscribe(db, hub, created.party.client_id, url))
        person = add_end_user(db, fnr(5, 5, 60 + seed))
        for item in range(3):
            point = add_metering_point(db, 200 + 10 * seed + item)
            add_supply(db, point, person, MOVE_IN)
            add_grant(db, created.party.id, point, person, MOVE_IN)
    worker = Worker(hub)
    try:
        background.run(worker.deliver_due())
    finally:
        background.run(worker.close())
    assert len(hook.accepted()) == 24
    assert all(item.verified for item in hook.received)
    assert len({item.peer_port for item in hook.received}) <= delivery.CONNECTIONS_PER_ORIGIN


def test_an_endpoint_that_does_not_answer_is_given_up_on_within_the_time_out(
    db: Database, hub: Services, background: EventLoopThread
) -> None:
    """Connected, the request sent, and no answer: the attempt fails after the timeout
    and the message waits for its retry."""
    silent = socket.create_server(("127.0.0.1", 0))
    silent.listen()
    created = add_party(db, seed=2)
    subscribe(db, hub, created.party.client_id, f"http://127.0.0.1:{silent.getsockname()[1]}/h")
    new_grants(db, created.party.id, 1)
    worker = Worker(hub, sender=WebhookSender(timeout=0.5, allow_private=True))
    started = time.monotonic()
    try:
        report = background.run(worker.deliver_due())
    finally:
        background.run(worker.close())
        silent.close()
    assert time.monotonic() - started < 5
    assert report.retried == 1
    [row] = outbox_rows(db)
    assert (row.delivered_at, row.last_status) == (None, None)
    assert row.last_error == "no answer within 0.5 s"
    assert row.due_at > hub.now()


def test_retry_after_is_honoured(
    db: Database, hub: Services, party: tuple[int, Receiver], background: EventLoopThread
) -> None:
    party_id, receiver = party
    receiver.answer_next(429, **{"retry-after": "3600"})
    new_grants(db, party_id, 1)
    worker = Worker(hub)
    try:
        background.run(worker.deliver_due())
    finally:
        background.run(worker.close())
    [row] = outbox_rows(db)
    assert row.due_at - hub.now() >= dt.timedelta(seconds=3590)


def test_after_the_schedule_a_message_is_marked_failed(
    db: Database,
    hub: Services,
    party: tuple[int, Receiver],
    clock: MovableClock,
    background: EventLoopThread,
) -> None:
    party_id, receiver = party
    for _ in range(len(RETRY_DELAYS) + 1):
        receiver.answer_next(500)
    new_grants(db, party_id, 1)
    worker = Worker(hub)
    try:
        for _ in range(len(RETRY_DELAYS) + 1):
            background.run(worker.deliver_due())
            clock.advance(hours=12)
        background.run(worker.deliver_due())
    finally:
        background.run(worker.close())
    [row] = outbox_rows(db)
    assert row.failed_at is not None
    assert row.attempts == len(RETRY_DELAYS) + 1
    assert len(receiver.received) == len(RETRY_DELAYS) + 1


def test_two_workers_at_once_send_each_message_once(
    db: Database, hub: Services, receiver: tuple[Receiver, str], background: EventLoopThread
) -> None:
    target, url = receiver
    parties = [add_party(db, seed=10 + index, name=f"Part {index}") for index in range(6)]
    for created in parties:
        target.secrets.append(subscribe(db, hub, created.party.client_id, url))
    person = add_end_user(db, fnr(5, 5, 80))
    for index in range(60):
        point = add_metering_point(db, 500 + index)
        add_supply(db, point, person, MOVE_IN)
        add_grant(db, parties[index % 6].party.id, point, person, MOVE_IN)
    deliver_with_two_workers(background, hub)
    ids = [item.webhook_id for item in target.received]
    assert len(ids) == 60
    assert len(set(ids)) == 60
    assert all(row.delivered_at is not None for row in outbox_rows(db))


def test_an_expired_request_and_an_ended_grant_reach_their_party(
    db: Database,
    hub: Services,
    party: tuple[int, Receiver],
    clock: MovableClock,
    background: EventLoopThread,
) -> None:
    """A BRS-NO-624 request left past its deadline becomes expired and the party hears
    ``access_request.expired``; the person ending a grant gives ``grant.ended``."""
    party_id, receiver = party
    request = access_requests.create(
        hub,
        NewAccessRequest(
            Process.URL, party_id, str(uuid.uuid4()), Scope.FULL, hub.now() + dt.timedelta(days=1)
        ),
        actor="party",
    )
    assert request is not None
    [grant_id] = new_grants(db, party_id, 1)
    with db.read() as conn:
        person = conn.execute(select(Grant.end_user_id).where(Grant.id == grant_id)).scalar_one()
    clock.advance(days=2)
    worker = Worker(hub)
    try:
        report = background.run(worker.run_once())
        assert report.due_work["expired_requests"] == 1
        grants.end_by_end_user(hub, grant_id, person)
        background.run(worker.run_once())
    finally:
        background.run(worker.close())
    accepted = receiver.accepted()
    assert [item.type for item in accepted] == [
        "grant.started",
        "access_request.expired",
        "grant.ended",
    ]
    assert accepted[1].data == {
        "id": request.id,
        "requestId": request.request_id,
        "process": "url",
        "status": "expired",
        "code": "EH088",
    }
    assert accepted[2].data["grantId"] == grant_id
    assert accepted[2].data["reason"] == "end_user"
    assert accepted[2].data["validTo"] == hub.today().isoformat()


def test_a_party_without_a_webhook_gets_no_outbox_rows(db: Database, hub: Services) -> None:
    created = add_party(db, seed=3)
    new_grants(db, created.party.id, 2)
    assert outbox_rows(db) == []


def test_the_worker_runs_inside_the_server_when_asked(
    settings: Settings, db: Database, hub: Services, party: tuple[int, Receiver]
) -> None:
    """The demo's one process: the server's lifespan runs the worker beside it."""
    party_id, receiver = party
    new_grants(db, party_id, 1)
    in_server = settings.model_copy(
        update={"worker_in_server": True, "webhook_allow_private": True}
    )
    with TestClient(create_app(in_server, db)):
        deadline = time.monotonic() + 10
        while not receiver.accepted():
            assert time.monotonic() < deadline, "the server's worker delivered nothing"
            time.sleep(0.05)
    assert [item.type for item in receiver.accepted()] == ["grant.started"]
