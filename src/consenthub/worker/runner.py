"""``consenthub worker``: the one place that talks to the outside (SPEC §10).

It delivers the outbox and runs the due work. Several workers may run at once, on
one database: each claims what it sends under a lease (``outbox.claim``), so none
sends what another holds, and a worker killed mid-run leaves its lease to run out,
after which another sends the rest (at least once; receivers deduplicate by
``webhook-id``). On PostgreSQL a worker is woken by ``NOTIFY`` when a message
commits; otherwise it looks again after ``CONSENTHUB_WORKER_POLL_SECONDS``. Time
comes from the services' clock, so tests move it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import random
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import psycopg
from sqlalchemy import Connection

from consenthub import access_requests, outbox, registry
from consenthub.outbox import OutboxEntry, Verdict
from consenthub.services import Services
from consenthub.worker.delivery import Delivery, WebhookSender

log = logging.getLogger("consenthub.worker")

# How much one claim takes: parties delivered side by side, messages per party in order.
PARTIES_PER_CLAIM = 50
MESSAGES_PER_PARTY = 100
HOUSEKEEPING_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class _PartyRun:
    party_id: int
    target: registry.WebhookTarget | None
    messages: list[OutboxEntry]


@dataclass
class _Outcome:
    message: OutboxEntry
    delivery: Delivery
    settlement: outbox.Settlement


@dataclass
class RunReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    due_work: dict[str, int] = field(default_factory=dict)


class Worker:
    def __init__(
        self,
        hub: Services,
        *,
        name: str | None = None,
        sender: WebhookSender | None = None,
        rand: random.Random | None = None,
        due_jobs: Mapping[str, Callable[[Services], int]] | None = None,
    ) -> None:
        self.hub = hub
        # The processes' own periodic jobs (consent expiry), handed in by the composition
        # root: the worker stands below the processes.
        self._due_jobs = dict(due_jobs or {})
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.sender = sender or WebhookSender(
            timeout=hub.settings.webhook_timeout_seconds,
            allow_private=hub.settings.webhook_allow_private,
        )
        self._rand = rand or random.Random()
        self._secret_key = hub.settings.resolved_secret_key()
        self._lease = dt.timedelta(seconds=hub.settings.worker_lease_seconds)
        self._housekeeping_due = hub.now()

    async def close(self) -> None:
        await self.sender.close()

    def _claim(self, conn: Connection) -> list[_PartyRun]:
        now = self.hub.now()
        claimed = outbox.claim(
            conn,
            worker=self.name,
            now=now,
            lease=self._lease,
            parties=PARTIES_PER_CLAIM,
            per_party=MESSAGES_PER_PARTY,
        )
        return [
            _PartyRun(
                party_id, registry.webhook_target(conn, self._secret_key, party_id, now), messages
            )
            for party_id, messages in claimed.items()
        ]

    async def _deliver_run(self, run: _PartyRun) -> list[_Outcome]:
        """A party's messages in order; a message to be retried holds the ones after it."""
        outcomes: list[_Outcome] = []
        for message in run.messages:
            if run.target is None:
                delivery = Delivery(outbox.Attempt(None), "the party has no webhook endpoint")
                settlement = outbox.Settlement(Verdict.FAILED)
            else:
                delivery = await self.sender.send(run.target.url, message, run.target.secrets)
                settlement = outbox.settle(
                    delivery.attempt, message.attempts, self.hub.now(), self._rand
                )
            outcomes.append(_Outcome(message, delivery, settlement))
            if settlement.verdict in (Verdict.RETRY, Verdict.DISABLE):
                break
        return outcomes

    def _record(self, conn: Connection, run: _PartyRun, outcomes: Sequence[_Outcome]) -> None:
        now = self.hub.now()
        delivered: dict[int, list[int]] = {}
        for outcome in outcomes:
            message, delivery, settlement = outcome.message, outcome.delivery, outcome.settlement
            status = delivery.attempt.status
            if settlement.verdict is Verdict.DELIVERED:
                delivered.setdefault(status or 200, []).append(message.id)
            elif settlement.verdict is Verdict.RETRY:
                assert settlement.due_at is not None
                outbox.retry_later(
                    conn,
                    message.id,
                    due_at=settlement.due_at,
                    status=status,
                    error=delivery.error or "",
                )
            elif settlement.verdict is Verdict.DISABLE:
                outbox.give_up(conn, message.id, status=status, error="410 Gone", now=now)
                outbox.disable_endpoint(conn, run.party_id, now=now)
                log.warning("webhook endpoint disabled (410)", extra={"party_id": run.party_id})
            else:
                outbox.give_up(conn, message.id, status=status, error=delivery.error or "", now=now)
                log.warning(
                    "webhook given up",
                    extra={"party_id": run.party_id, "message_id": message.message_id},
                )
        for status, message_ids in delivered.items():
            outbox.delivered(conn, message_ids, status=status, now=now)
        attempted = {outcome.message.id for outcome in outcomes}
        outbox.release(conn, [m.id for m in run.messages if m.id not in attempted])

    async def _run_party(self, run: _PartyRun, report: RunReport) -> None:
        outcomes = await self._deliver_run(run)
        await self.hub.database.transact(lambda conn: self._record(conn, run, outcomes))
        for outcome in outcomes:
            verdict = outcome.settlement.verdict
            if verdict is Verdict.DELIVERED:
                report.delivered += 1
            elif verdict is Verdict.RETRY:
                report.retried += 1
            else:
                report.failed += 1

    async def deliver_due(self, report: RunReport | None = None) -> RunReport:
        """Deliver every message due now, until nothing due is left unclaimed."""
        report = report or RunReport()
        while True:
            runs = await self.hub.database.transact(self._claim)
            if not runs:
                return report
            await asyncio.gather(*(self._run_party(run, report) for run in runs))

    async def due_work(self) -> dict[str, int]:
        """The periodic jobs: expire pending requests past their deadline, then the
        processes' own (their parties hear of it through the outbox)."""
        done = {"expired_requests": await asyncio.to_thread(access_requests.expire_due, self.hub)}
        for name, job in self._due_jobs.items():
            done[name] = await asyncio.to_thread(job, self.hub)
        return done

    async def run_once(self) -> RunReport:
        """The due work, then everything due in the outbox (the expiries it just wrote
        included)."""
        report = RunReport(due_work=await self.due_work())
        self._housekeeping_due = self.hub.now() + HOUSEKEEPING_EVERY
        return await self.deliver_due(report)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: deliver, run the due work each minute, then wait for a
        NOTIFY (PostgreSQL) or the poll interval, or until the next message falls due."""
        listener = _NotifyListener.open(self.hub)
        try:
            while not stop.is_set():
                try:
                    if self.hub.now() >= self._housekeeping_due:
                        await self.run_once()
                    else:
                        await self.deliver_due()
                    await self._wait(stop, listener)
                except Exception:
                    # The database or the network failed: nothing is lost (leases run
                    # out, due work is idempotent); try again after the poll interval.
                    log.exception("worker round failed")
                    await _sleep_unless(stop, self.hub.settings.worker_poll_seconds)
        finally:
            if listener is not None:
                listener.close()

    async def _wait(self, stop: asyncio.Event, listener: _NotifyListener | None) -> None:
        timeout = self.hub.settings.worker_poll_seconds
        next_due = await self.hub.database.transact(outbox.next_due)
        if next_due is not None:
            timeout = max(0.0, min(timeout, (next_due - self.hub.now()).total_seconds()))
        if timeout == 0 or stop.is_set():
            return
        if listener is None:
            await _sleep_unless(stop, timeout)
            return
        await asyncio.to_thread(listener.wait, timeout)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less when ``stop`` is set meanwhile."""
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({stopped}, timeout=seconds)
    stopped.cancel()


class _NotifyListener:
    """A PostgreSQL connection of its own that LISTENs on the outbox channel."""

    def __init__(self, connection: psycopg.Connection[tuple[object, ...]]) -> None:
        self._connection = connection

    @classmethod
    def open(cls, hub: Services) -> _NotifyListener | None:
        if hub.database.is_sqlite:
            return None
        url = hub.database.url.set(drivername="postgresql")
        connection = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        connection.execute(f"LISTEN {outbox.NOTIFY_CHANNEL}")
        return cls(connection)

    def wait(self, timeout: float) -> bool:
        """True when a message was committed within ``timeout`` seconds."""
        return any(True for _ in self._connection.notifies(timeout=timeout, stop_after=1))

    def close(self) -> None:
        self._connection.close()
