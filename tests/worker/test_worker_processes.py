"""Two ``consenthub worker`` processes on one PostgreSQL database, one of them killed with
SIGKILL in the middle of its deliveries: every event still reaches its party, in order,
and a receiver that deduplicates by ``webhook-id`` sees each exactly once."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from consenthub import outbox, registry
from consenthub.domain.access import EventType
from consenthub.outbox import Event
from consenthub.store.database import Database
from consenthub.store.tables import OutboxMessage
from consenthub.worker.runner import MESSAGES_PER_PARTY, PARTIES_PER_CLAIM
from tests.conftest import TEST_SECRET_KEY
from tests.factories import add_party
from tests.webhook_receiver import Receiver

PARTIES = 20
EVENTS_PER_PARTY = 50
KILL_AFTER = 300
DEADLINE_SECONDS = 90


def start_worker(database_url: str) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "CONSENTHUB_DATABASE_URL": database_url,
        "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY,
        "CONSENTHUB_WEBHOOK_ALLOW_PRIVATE": "true",
        "CONSENTHUB_WORKER_LEASE_SECONDS": "5",
        "CONSENTHUB_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "consenthub.cli.main", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_two_workers_one_killed_deliver_every_event_once_in_order(
    db: Database, database_url: str, receiver: tuple[Receiver, str]
) -> None:
    if db.is_sqlite:
        pytest.skip("several worker processes share a server database (PostgreSQL)")
    target, url = receiver
    now = dt.datetime.now(dt.UTC)
    parties = [add_party(db, seed=20 + index, name=f"Part {index}") for index in range(PARTIES)]
    with db.write() as conn:
        for created in parties:
            endpoint = registry.set_webhook(
                conn, TEST_SECRET_KEY.encode(), created.party.client_id, url, now=now
            )
            assert endpoint.new_secret is not None
            target.secrets.append(endpoint.new_secret)
        for created in parties:
            outbox.enqueue_webhooks(
                conn,
                created.party.id,
                [
                    Event(EventType.GRANT_STARTED, {"sequence": sequence})
                    for sequence in range(EVENTS_PER_PARTY)
                ],
                now=now,
            )
    workers = [start_worker(database_url), start_worker(database_url)]
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while len(target.received) < KILL_AFTER:
            assert time.monotonic() < deadline, "the workers delivered too little"
            time.sleep(0.01)
        os.kill(workers[0].pid, signal.SIGKILL)
        workers[0].wait(timeout=10)
        total = PARTIES * EVENTS_PER_PARTY
        while len(target.accepted()) < total or _open_messages(db):
            assert time.monotonic() < deadline, (len(target.accepted()), _open_messages(db))
            time.sleep(0.05)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=10)
    with db.read() as conn:
        message_ids = set(conn.execute(select(OutboxMessage.message_id)).scalars())
    accepted = target.accepted()
    assert {item.webhook_id for item in accepted} == message_ids
    assert all(item.verified for item in target.received)
    # In order per party: each party's events were first accepted in sequence.
    by_party: dict[str, list[int]] = {}
    with db.read() as conn:
        owners = dict(conn.execute(select(OutboxMessage.message_id, OutboxMessage.party_id)).all())
    for item in accepted:
        by_party.setdefault(str(owners[item.webhook_id]), []).append(item.data["sequence"])
    assert all(sequences == list(range(EVENTS_PER_PARTY)) for sequences in by_party.values())
    # Only what the killed worker held when it died can have arrived twice.
    assert len(target.received) - len(accepted) <= PARTIES_PER_CLAIM * MESSAGES_PER_PARTY


def _open_messages(db: Database) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_(None))
            ).scalar_one()
        )
