"""Outbox batches: the events of one call are one row, which the worker fans out into a
message per event when it claims the party's messages. What a party receives is as if
each event had had its row: in order (the batch's at its place), each with its own
stable ``webhook-id``, each retried on its own; a worker that dies before or after the
fan-out leaves nothing half-done."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest
from sqlalchemy import func, select

from consenthub import access_requests, outbox
from consenthub.access_requests import NewAccessRequest
from consenthub.access_requests.service import Answer
from consenthub.domain.access import Decision, EventType, Process, Scope
from consenthub.outbox import Event
from consenthub.services import Services
from consenthub.store.database import Database
from consenthub.store.tables import OutboxMessage
from consenthub.worker import Worker
from tests.factories import add_end_user, add_metering_point, add_party, add_supply, fnr, gsrn
from tests.harness import EventLoopThread, MovableClock
from tests.webhook_receiver import Receiver
from tests.worker.test_delivery import MOVE_IN, background, hub, outbox_rows, party, subscribe
from tests.worker.two_workers import deliver_with_two_workers

__all__ = ["background", "hub", "party"]  # fixtures


def enqueue(db: Database, hub: Services, party_id: int, *labels: str) -> None:
    """One call of ``enqueue_webhooks``: several labels make a batch."""
    with db.write() as conn:
        outbox.enqueue_webhooks(
            conn,
            party_id,
            [Event(EventType.GRANT_STARTED, {"label": label}) for label in labels],
            now=hub.now(),
        )


def labels(receiver: Receiver) -> list[str]:
    return [item.data["label"] for item in receiver.accepted()]


def deliver(background: EventLoopThread, worker: Worker) -> None:
    background.run(worker.deliver_due())


def test_a_batch_is_one_row_until_the_worker_fans_it_out_in_the_partys_order(
    db: Database, hub: Services, party: tuple[int, Receiver], background: EventLoopThread
) -> None:
    party_id, receiver = party
    enqueue(db, hub, party_id, "before")
    enqueue(db, hub, party_id, "b1", "b2", "b3", "b4", "b5")
    enqueue(db, hub, party_id, "between")
    enqueue(db, hub, party_id, "c1", "c2")
    assert [row.batch_events for row in outbox_rows(db)] == [None, 5, None, 2]
    worker = Worker(hub)
    try:
        deliver(background, worker)
    finally:
        background.run(worker.close())
    assert labels(receiver) == ["before", "b1", "b2", "b3", "b4", "b5", "between", "c1", "c2"]
    assert len(receiver.received) == 9
    assert all(item.verified for item in receiver.received)
    rows = outbox_rows(db)
    assert len(rows) == 9
    assert all(row.delivered_at is not None and row.batch_events is None for row in rows)
    # Each event its own webhook-id, the batch row's kept by its first event.
    assert len({row.message_id for row in rows}) == 9
    assert {item.webhook_id for item in receiver.received} == {row.message_id for row in rows}


def test_an_approval_tells_its_grants_and_then_the_approval(
    db: Database, hub: Services, party: tuple[int, Receiver], background: EventLoopThread
) -> None:
    party_id, receiver = party
    person = add_end_user(db, fnr(5, 5, 80))
    for seed in range(3):
        add_supply(db, add_metering_point(db, 100 + seed), person, MOVE_IN)
    request = access_requests.create(
        hub,
        NewAccessRequest(
            Process.URL, party_id, str(uuid.uuid4()), Scope.FULL, hub.now() + dt.timedelta(days=1)
        ),
        actor="party",
    )
    assert request is not None
    access_requests.open_for(hub, request.id, person)
    chosen = [gsrn(100 + seed) for seed in range(3)]
    access_requests.decide(
        hub, request.id, person, Answer(Decision.APPROVE, chosen=chosen, scope="Full")
    )
    # One batch of the three grant.started, one message for the approval.
    assert [row.batch_events for row in outbox_rows(db)] == [3, None]
    worker = Worker(hub)
    try:
        deliver(background, worker)
    finally:
        background.run(worker.close())
    accepted = receiver.accepted()
    assert [item.type for item in accepted] == ["grant.started"] * 3 + ["access_request.approved"]
    assert [item.data["meteringPointId"] for item in accepted[:3]] == chosen
    assert {item.data["accessRequestId"] for item in accepted[:3]} == {request.id}


def test_a_batch_written_behind_a_retry_waits_for_it_and_each_event_is_retried_alone(
    db: Database,
    hub: Services,
    party: tuple[int, Receiver],
    clock: MovableClock,
    background: EventLoopThread,
) -> None:
    party_id, receiver = party
    receiver.answer_next(500)
    enqueue(db, hub, party_id, "first")
    worker = Worker(hub, rand=random.Random(3))
    try:
        deliver(background, worker)
        enqueue(db, hub, party_id, "b1", "b2", "b3")
        # The first waits for its retry; the batch behind it is neither sent nor fanned out.
        deliver(background, worker)
        assert [item.data["label"] for item in receiver.received] == ["first"]
        assert [row.batch_events for row in outbox_rows(db)] == [None, 3]
        clock.advance(seconds=10)
        receiver.answer_next(204)  # first
        receiver.answer_next(204)  # b1
        receiver.answer_next(503)  # b2: retried, b3 waits
        deliver(background, worker)
        assert [item.data["label"] for item in receiver.received] == ["first", "first", "b1", "b2"]
        clock.advance(seconds=10)
        deliver(background, worker)
    finally:
        background.run(worker.close())
    assert labels(receiver) == ["first", "b1", "b2", "b3"]
    attempts = {item.webhook_id: [] for item in receiver.received}
    for item in receiver.received:
        attempts[item.webhook_id].append(item.data["label"])
    # b2's two attempts carried one webhook-id; every event has its own.
    assert sorted(attempts.values()) == [["b1"], ["b2", "b2"], ["b3"], ["first", "first"]]
    by_label = {row.payload["data"]["label"]: row for row in outbox_rows(db)}
    assert [by_label[label].attempts for label in ("first", "b1", "b2", "b3")] == [2, 1, 2, 1]


def test_a_worker_dying_in_its_claim_leaves_the_batch_whole(
    db: Database, hub: Services, party: tuple[int, Receiver], background: EventLoopThread
) -> None:
    party_id, receiver = party
    enqueue(db, hub, party_id, "b1", "b2", "b3")

    fanned_out: list[int] = []

    class Died(Exception):
        pass

    def claim_and_die() -> None:
        with db.write() as conn:
            claimed = outbox.claim(
                conn,
                worker="dies",
                now=hub.now(),
                lease=dt.timedelta(minutes=5),
                parties=10,
                per_party=10,
            )
            fanned_out.append(len(claimed[party_id]))
            raise Died

    with pytest.raises(Died):
        claim_and_die()
    assert fanned_out == [3]
    [row] = outbox_rows(db)
    assert (row.batch_events, row.lease_until) == (3, None)
    worker = Worker(hub)
    try:
        deliver(background, worker)
    finally:
        background.run(worker.close())
    assert labels(receiver) == ["b1", "b2", "b3"]


def test_a_worker_dying_after_the_fan_out_leaves_the_messages_to_the_next_after_its_lease(
    db: Database,
    hub: Services,
    party: tuple[int, Receiver],
    clock: MovableClock,
    background: EventLoopThread,
) -> None:
    party_id, receiver = party
    enqueue(db, hub, party_id, *(f"b{n}" for n in range(1, 11)))
    enqueue(db, hub, party_id, "after")
    lease = dt.timedelta(seconds=hub.settings.worker_lease_seconds)
    # A worker claims (the fan-out commits with its lease), sends nothing and dies.
    with db.write() as conn:
        claimed = outbox.claim(
            conn, worker="died", now=hub.now(), lease=lease, parties=10, per_party=4
        )
    held = [entry.message_id for entry in claimed[party_id]]
    assert len(held) == 4
    worker = Worker(hub, name="next")
    try:
        deliver(background, worker)
        # Its lease holds the party: nothing is sent out of order meanwhile.
        assert receiver.received == []
        clock.advance(seconds=lease.total_seconds() + 1)
        deliver(background, worker)
    finally:
        background.run(worker.close())
    assert labels(receiver) == [*(f"b{n}" for n in range(1, 11)), "after"]
    # The messages the dead worker held went out under the ids it had leased them with.
    assert [item.webhook_id for item in receiver.received[:4]] == held
    assert len(receiver.received) == 11


def test_two_workers_at_once_fan_out_and_send_each_event_once_in_order(
    db: Database, hub: Services, receiver: tuple[Receiver, str], background: EventLoopThread
) -> None:
    target, url = receiver
    parties = [add_party(db, seed=10 + index, name=f"Part {index}") for index in range(6)]
    for created in parties:
        target.secrets.append(subscribe(db, hub, created.party.client_id, url))
    for index, created in enumerate(parties):
        enqueue(db, hub, created.party.id, *(f"{index}:a{n}" for n in range(10)))
        enqueue(db, hub, created.party.id, f"{index}:single")
        enqueue(db, hub, created.party.id, *(f"{index}:b{n}" for n in range(5)))
    deliver_with_two_workers(background, hub)
    assert len(target.received) == len(target.accepted()) == 6 * 16
    for index in range(6):
        sent = [label for label in labels(target) if label.startswith(f"{index}:")]
        assert sent == [
            *(f"{index}:a{n}" for n in range(10)),
            f"{index}:single",
            *(f"{index}:b{n}" for n in range(5)),
        ]
    with db.read() as conn:
        assert (
            conn.execute(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.delivered_at.is_(None))
            ).scalar_one()
            == 0
        )
