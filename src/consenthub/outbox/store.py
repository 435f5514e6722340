"""All SQL of the outbox: enqueue in the caller's transaction; claim, settle and list for
the worker and the operator.

A party's webhook messages are delivered in ``id`` order. A worker claims a party's run
of due messages as a whole (its party row locked while it claims, skipped by others on
PostgreSQL; SQLite has one writer), leases them until ``lease_until``, and settles each
as it goes. A worker that dies leaves its lease to run out; the messages are then
claimed again (at least once: the receiver deduplicates by ``webhook-id``).

Mail has no order to keep: each due mail is claimed on its own (``claim_mail``), leased
and settled the same way; a mail sent again carries the same Message-ID.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, text, update

from consenthub.domain.access import EventType
from consenthub.mail import Mail, message_id_header
from consenthub.store.tables import OutboxMessage, Party

WEBHOOK = "webhook"
MAIL = "mail"
# PostgreSQL NOTIFY channel that wakes workers when a message is committed.
NOTIFY_CHANNEL = "consenthub_outbox"


@dataclass(frozen=True)
class Event:
    type: EventType
    data: dict[str, Any]


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    channel: str
    party_id: int | None
    message_id: str
    event_type: str
    payload: dict[str, Any]
    created_at: dt.datetime
    due_at: dt.datetime
    attempts: int
    delivered_at: dt.datetime | None
    failed_at: dt.datetime | None
    last_status: int | None
    last_error: str | None


def _message_id() -> str:
    # Standard Webhooks' message ids are opaque strings; the prefix says what it is.
    return "msg_" + secrets.token_hex(16)


def enqueue_webhooks(
    conn: Connection, party_id: int, events: Sequence[Event], *, now: dt.datetime
) -> int:
    """Write ``events`` for the party's webhook, if it has an endpoint that is not
    disabled; returns how many were written."""
    if not events:
        return 0
    endpoint = conn.execute(
        select(Party.webhook_url, Party.webhook_disabled_at).where(Party.id == party_id)
    ).first()
    if endpoint is None or endpoint.webhook_url is None or endpoint.webhook_disabled_at:
        return 0
    timestamp = now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    conn.execute(
        insert(OutboxMessage),
        [
            {
                "channel": WEBHOOK,
                "party_id": party_id,
                "message_id": _message_id(),
                "event_type": event.type.value,
                "payload": {"type": event.type.value, "timestamp": timestamp, "data": event.data},
                "created_at": now,
                "due_at": now,
                "attempts": 0,
            }
            for event in events
        ],
    )
    if conn.dialect.name == "postgresql":
        # Delivered to listening workers when this transaction commits.
        conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    return len(events)


def enqueue_mail(
    conn: Connection,
    mail: Mail,
    *,
    event_type: str,
    due_at: dt.datetime,
    now: dt.datetime,
    subject: str | None = None,
    party_id: int | None = None,
) -> str:
    """Write a mail to be sent at ``due_at``, in the caller's transaction; returns its
    Message-ID (``<msg_…@consenthub>``), the same on every attempt. ``subject`` names
    what it is about, so that ``void`` can withdraw it while it is unsent."""
    message_id = _message_id()
    conn.execute(
        insert(OutboxMessage).values(
            channel=MAIL,
            party_id=party_id,
            message_id=message_id,
            event_type=event_type,
            payload={
                "template": mail.template,
                "to": mail.to_address,
                "name": mail.to_name,
                "language": mail.language,
                "context": mail.context,
            },
            created_at=now,
            due_at=due_at,
            attempts=0,
            subject=subject,
        )
    )
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    return message_id_header(message_id)


def mail_of(entry: OutboxEntry) -> Mail:
    """The mail an outbox message of the ``MAIL`` channel holds (as ``enqueue_mail`` wrote
    it)."""
    payload = entry.payload
    return Mail(
        template=payload["template"],
        to_address=payload["to"],
        to_name=payload["name"],
        language=payload["language"],
        context=payload["context"],
    )


def void(
    conn: Connection,
    subject: str,
    *,
    now: dt.datetime,
    event_types: Sequence[str] | None = None,
) -> int:
    """Withdraw the unsent messages about ``subject`` (of these types, or all): a reminder
    of a request no longer open is never sent. Returns how many."""
    query = update(OutboxMessage).where(_OPEN, OutboxMessage.subject == subject)
    if event_types is not None:
        query = query.where(OutboxMessage.event_type.in_(list(event_types)))
    return int(conn.execute(query.values(voided_at=now)).rowcount)


def _entry(row: Any) -> OutboxEntry:
    return OutboxEntry(
        row.id,
        row.channel,
        row.party_id,
        row.message_id,
        row.event_type,
        row.payload,
        row.created_at,
        row.due_at,
        row.attempts,
        row.delivered_at,
        row.failed_at,
        row.last_status,
        row.last_error,
    )


_OPEN = and_(
    OutboxMessage.delivered_at.is_(None),
    OutboxMessage.failed_at.is_(None),
    OutboxMessage.voided_at.is_(None),
)


def claim(
    conn: Connection,
    *,
    worker: str,
    now: dt.datetime,
    lease: dt.timedelta,
    parties: int,
    per_party: int,
) -> dict[int, list[OutboxEntry]]:
    """Lease the next due run of open messages of up to ``parties`` parties, in order: for
    each party whose first open message is due and no one holds, its first ``per_party``
    open messages that are due. Returns them by party."""
    held = (
        select(OutboxMessage.party_id)
        .where(_OPEN, OutboxMessage.channel == WEBHOOK, OutboxMessage.lease_until > now)
        .scalar_subquery()
    )
    heads = (
        select(OutboxMessage.party_id, func.min(OutboxMessage.id).label("head"))
        .where(_OPEN, OutboxMessage.channel == WEBHOOK)
        .group_by(OutboxMessage.party_id)
        .subquery()
    )
    candidates = list(
        conn.execute(
            select(heads.c.party_id)
            .join(OutboxMessage, OutboxMessage.id == heads.c.head)
            .where(OutboxMessage.due_at <= now, heads.c.party_id.not_in(held))
            .order_by(heads.c.head)
            .limit(parties)
        ).scalars()
    )
    if not candidates:
        return {}
    # Another worker claiming a party now holds its row: skipped (PostgreSQL; SQLite has
    # one writer). In id order, as every worker locks them.
    locked = list(
        conn.execute(
            select(Party.id)
            .where(Party.id.in_(candidates))
            .order_by(Party.id)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not locked:
        return {}
    numbered = (
        select(
            OutboxMessage,
            func.row_number()
            .over(partition_by=OutboxMessage.party_id, order_by=OutboxMessage.id)
            .label("position"),
        )
        .where(_OPEN, OutboxMessage.channel == WEBHOOK, OutboxMessage.party_id.in_(locked))
        .subquery()
    )
    rows = conn.execute(
        select(numbered)
        .where(numbered.c.position <= per_party)
        .order_by(numbered.c.party_id, numbered.c.id)
    ).all()
    claimed: dict[int, list[OutboxEntry]] = {}
    stopped: set[int] = set()
    for row in rows:
        # A run starts at the party's first open message and ends before one not due or
        # held by another worker: only such a run keeps the party's order.
        if row.party_id in stopped:
            continue
        if row.due_at > now or (row.lease_until is not None and row.lease_until > now):
            stopped.add(row.party_id)
            continue
        claimed.setdefault(row.party_id, []).append(_entry(row))
    if claimed:
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([e.id for run in claimed.values() for e in run]))
            .values(claimed_by=worker, lease_until=now + lease)
        )
    return claimed


def claim_mail(
    conn: Connection, *, worker: str, now: dt.datetime, lease: dt.timedelta, limit: int
) -> list[OutboxEntry]:
    """Lease up to ``limit`` open mails that are due and that no one holds, oldest first.
    On PostgreSQL the rows another worker is claiming are skipped (``SKIP LOCKED``);
    SQLite has one writer."""
    rows = conn.execute(
        select(OutboxMessage)
        .where(
            _OPEN,
            OutboxMessage.channel == MAIL,
            OutboxMessage.due_at <= now,
            or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until <= now),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if rows:
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([row.id for row in rows]))
            .values(claimed_by=worker, lease_until=now + lease)
        )
    return [_entry(row) for row in rows]


def delivered(
    conn: Connection, message_ids: Sequence[int], *, status: int, now: dt.datetime
) -> None:
    """Messages the receiver accepted with ``status``: one statement for all of them."""
    conn.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(list(message_ids)))
        .values(
            delivered_at=now,
            attempts=OutboxMessage.attempts + 1,
            last_status=status,
            last_error=None,
            lease_until=None,
        )
    )


def retry_later(
    conn: Connection,
    message_id: int,
    *,
    due_at: dt.datetime,
    status: int | None,
    error: str,
) -> None:
    """A failed attempt: counted, its reason kept, tried again at ``due_at``."""
    conn.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(
            due_at=due_at,
            attempts=OutboxMessage.attempts + 1,
            last_status=status,
            last_error=error[:500],
            lease_until=None,
            claimed_by=None,
        )
    )


def give_up(
    conn: Connection, message_id: int, *, status: int | None, error: str, now: dt.datetime
) -> None:
    conn.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(
            failed_at=now,
            attempts=OutboxMessage.attempts + 1,
            last_status=status,
            last_error=error[:500],
            lease_until=None,
        )
    )


def release(conn: Connection, message_ids: Sequence[int]) -> None:
    """Give back claimed messages not attempted (after an earlier one of the party failed,
    or on shutdown), so they keep their place in the order."""
    if message_ids:
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(message_ids), OutboxMessage.delivered_at.is_(None))
            .values(lease_until=None, claimed_by=None)
        )


def disable_endpoint(conn: Connection, party_id: int, *, now: dt.datetime) -> None:
    """410 Gone: no more deliveries to this endpoint until it is set again; its open
    webhook messages fail (mail about the party is not the endpoint's)."""
    conn.execute(update(Party).where(Party.id == party_id).values(webhook_disabled_at=now))
    conn.execute(
        update(OutboxMessage)
        .where(_OPEN, OutboxMessage.channel == WEBHOOK, OutboxMessage.party_id == party_id)
        .values(failed_at=now, last_error="endpoint disabled: it answered 410 Gone")
    )


def next_due(conn: Connection) -> dt.datetime | None:
    """When the next open message falls due (to sleep until then at most)."""
    due: dt.datetime | None = conn.execute(
        select(func.min(OutboxMessage.due_at)).where(_OPEN)
    ).scalar_one()
    return None if due is None else due.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class DeliveryLogEntry(OutboxEntry):
    """A webhook message as the operator sees it: with the party it is for, and whether
    that party's endpoint is disabled (it answered 410 Gone)."""

    party_client_id: str | None
    party_name: str | None
    endpoint_disabled_at: dt.datetime | None

    @property
    def status(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        return "pending" if self.failed_at is None else "failed"

    @property
    def status_at(self) -> dt.datetime:
        """When it was delivered or given up on; for a pending one, when it is next due."""
        return self.delivered_at or self.failed_at or self.due_at


_DELIVERY_LOG = select(
    OutboxMessage,
    Party.client_id.label("party_client_id"),
    Party.name.label("party_name"),
    Party.webhook_disabled_at.label("endpoint_disabled_at"),
).outerjoin(Party, Party.id == OutboxMessage.party_id)


def _delivery_log_entry(row: Any) -> DeliveryLogEntry:
    return DeliveryLogEntry(
        **vars(_entry(row)),
        party_client_id=row.party_client_id,
        party_name=row.party_name,
        endpoint_disabled_at=row.endpoint_disabled_at,
    )


def entries(
    conn: Connection, *, failed_only: bool = False, limit: int = 100
) -> list[DeliveryLogEntry]:
    """The newest webhook messages first, for the operator."""
    query = (
        _DELIVERY_LOG.where(OutboxMessage.channel == WEBHOOK)
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    )
    if failed_only:
        query = query.where(OutboxMessage.failed_at.is_not(None))
    return [_delivery_log_entry(row) for row in conn.execute(query).all()]


def find_entry(conn: Connection, message_id: int) -> DeliveryLogEntry | None:
    """One webhook message by its ``id``, for the operator."""
    row = conn.execute(
        _DELIVERY_LOG.where(OutboxMessage.id == message_id, OutboxMessage.channel == WEBHOOK)
    ).first()
    return None if row is None else _delivery_log_entry(row)


def retry(conn: Connection, message_id: int, *, now: dt.datetime) -> bool:
    """Send a failed message again, now; False when there is no such failed message, or
    its party's endpoint is disabled (nothing goes to an endpoint that answered 410 Gone
    until it is set again)."""
    endpoint_disabled = (
        select(Party.id)
        .where(Party.id == OutboxMessage.party_id, Party.webhook_disabled_at.is_not(None))
        .exists()
    )
    result = conn.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.failed_at.is_not(None),
            ~endpoint_disabled,
        )
        .values(failed_at=None, due_at=now, lease_until=None, claimed_by=None)
    )
    return bool(result.rowcount)
