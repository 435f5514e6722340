"""``consenthub worker``: the one place that talks to the outside (SPEC §10).

It delivers the outbox (webhooks, and mail over SMTP) and runs the due work. Several
workers may run at once, on one database: each claims what it sends under a lease
(``outbox.claim``, ``outbox.claim_mail``), so none sends what another holds, and a
worker killed mid-run leaves its lease to run out, after which another sends the rest
(at least once; receivers deduplicate by ``webhook-id``, mail readers by Message-ID).
On PostgreSQL a worker is woken by ``NOTIFY`` when a message commits; otherwise it
looks again after ``CONSENTHUB_WORKER_POLL_SECONDS``. Time comes from the services'
clock, so tests move it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import os
import random
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import psycopg
from sqlalchemy import Connection

from consenthub import mail, outbox, registry
from consenthub.outbox import OutboxEntry, Verdict
from consenthub.services import Services
from consenthub.worker import housekeeping
from consenthub.worker.delivery import Delivery, WebhookSender
from consenthub.worker.mail import ACCEPTED, MailDelivery, MailSender

log = logging.getLogger("consenthub.worker")

# How much one claim takes: parties delivered side by side, messages per party in order.
PARTIES_PER_CLAIM = 50
MESSAGES_PER_PARTY = 100
# Mails sent side by side, each on a connection of its own (kept open for the next mail);
# few enough that all of them are sent well inside their lease.
MAILS_PER_CLAIM = 10
HOUSEKEEPING_EVERY = dt.timedelta(minutes=1)
PURGE_EVERY = dt.timedelta(hours=1)


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
    mail_sent: int = 0
    mail_retried: int = 0
    mail_failed: int = 0
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
        self.mail_sender = MailSender(hub.settings)
        self._rand = rand or random.Random()
        self._secret_key = hub.settings.resolved_secret_key()
        self._lease = dt.timedelta(seconds=hub.settings.worker_lease_seconds)
        self._housekeeping_due = hub.now()
        self._purge_due = hub.now()

    async def close(self) -> None:
        await self.sender.close()
        await self.mail_sender.close()

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
        """Deliver every message due now, until nothing due is left unclaimed: the
        webhooks and the mail side by side, so that a slow SMTP server holds up no
        webhook and a slow endpoint no mail."""
        report = report or RunReport()
        outcomes = await asyncio.gather(
            self._deliver_webhooks(report), self._send_mail(report), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return report

    async def _deliver_webhooks(self, report: RunReport) -> None:
        while True:
            runs = await self.hub.database.transact(self._claim)
            if not runs:
                return
            await asyncio.gather(*(self._run_party(run, report) for run in runs))

    async def _send_mail(self, report: RunReport) -> None:
        while True:
            claimed = await self.hub.database.transact(self._claim_mail)
            if not claimed:
                return
            outcomes = await asyncio.gather(*(self._send_one_mail(message) for message in claimed))
            # One transaction for the claim's outcomes. A crash before it leaves the lease
            # to run out, and the mails the server took are sent again with the same
            # Message-ID (at least once).
            record = functools.partial(self._record_mails, outcomes=outcomes)
            await self.hub.database.transact(record)
            for message, _, settlement in outcomes:
                if settlement.verdict is Verdict.DELIVERED:
                    report.mail_sent += 1
                elif settlement.verdict is Verdict.RETRY:
                    report.mail_retried += 1
                else:
                    report.mail_failed += 1
                    log.warning("mail given up", extra={"message_id": message.message_id})

    def _claim_mail(self, conn: Connection) -> list[OutboxEntry]:
        return outbox.claim_mail(
            conn, worker=self.name, now=self.hub.now(), lease=self._lease, limit=MAILS_PER_CLAIM
        )

    async def _send_one_mail(
        self, message: OutboxEntry
    ) -> tuple[OutboxEntry, MailDelivery, outbox.Settlement]:
        """Make the mail and send it; what came of it, to be recorded."""
        settings = self.hub.settings
        try:
            queued = outbox.mail_of(message)
            to = mail.recipient(queued)
            composed = mail.compose(
                queued,
                mail.render(queued, settings),
                message_id=message.message_id,
                sender=settings.mail_from,
                date=self.hub.now(),
            )
        except mail.MailError as exc:
            # The mail's own content or address: sending it again cannot help.
            delivery = MailDelivery(outbox.MailAttempt(None), f"cannot be made: {exc}")
            settlement = outbox.Settlement(Verdict.FAILED)
        except Exception as exc:
            # A fault of the hub's (a template that breaks): retried on the schedule, so
            # that a fixed release sends it.
            log.exception("mail could not be made", extra={"message_id": message.message_id})
            delivery = MailDelivery(outbox.MailAttempt(None), f"cannot be made: {exc!r}")
            settlement = outbox.settle_mail(
                delivery.attempt, message.attempts, self.hub.now(), self._rand
            )
        else:
            delivery = await self.mail_sender.send(
                composed, sender=settings.mail_sender_address, recipient=to.addr_spec
            )
            settlement = outbox.settle_mail(
                delivery.attempt, message.attempts, self.hub.now(), self._rand
            )
        return message, delivery, settlement

    def _record_mails(
        self,
        conn: Connection,
        outcomes: Sequence[tuple[OutboxEntry, MailDelivery, outbox.Settlement]],
    ) -> None:
        now = self.hub.now()
        sent: dict[int, list[int]] = {}
        for message, delivery, settlement in outcomes:
            if settlement.verdict is Verdict.DELIVERED:
                sent.setdefault(delivery.attempt.reply or ACCEPTED, []).append(message.id)
            else:
                self._record_unsent_mail(conn, message, delivery, settlement)
        for reply, message_ids in sent.items():
            outbox.delivered(conn, message_ids, status=reply, now=now)

    def _record_unsent_mail(
        self,
        conn: Connection,
        message: OutboxEntry,
        delivery: MailDelivery,
        settlement: outbox.Settlement,
    ) -> None:
        """A mail not sent: retried later or failed."""
        reply = delivery.attempt.reply
        if settlement.verdict is Verdict.RETRY:
            assert settlement.due_at is not None
            outbox.retry_later(
                conn, message.id, due_at=settlement.due_at, status=reply, error=delivery.error or ""
            )
        else:
            outbox.give_up(
                conn, message.id, status=reply, error=delivery.error or "", now=self.hub.now()
            )

    async def due_work(self) -> dict[str, int]:
        """The periodic jobs (``housekeeping``): expire pending requests past their
        deadline and end grants past their end date (their parties hear of it through the
        outbox), purge expired token revocations; at most hourly, because it walks every
        metering point, meter values past retention; then the processes' own jobs (handed
        over by the composition root: consent expiry)."""
        done = await asyncio.to_thread(self._due_work)
        for name, job in self._due_jobs.items():
            done[name] = await asyncio.to_thread(job, self.hub)
        return done

    def _due_work(self) -> dict[str, int]:
        purge_values = self.hub.now() >= self._purge_due
        done = housekeeping.run_due_housekeeping(self.hub, purge_values=purge_values)
        if purge_values:
            self._purge_due = self.hub.now() + PURGE_EVERY
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
        now = self.hub.now()
        # A message already due that deliver_due left cannot be claimed yet (another
        # worker's lease holds it, or it waits behind its party's retry): the poll
        # interval, not at once again, which would keep the worker busy until then.
        if next_due is not None and next_due > now:
            timeout = min(timeout, (next_due - now).total_seconds())
        if stop.is_set():
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
