"""All SQL of the outbox: enqueue in the caller's transaction; claim, settle and list for
the worker and the operator.

A party's webhook messages are delivered in the order they were written: by ``id``, a
batch's messages at the batch's place (``batch_id``). A worker claims a party's run of
due messages as a whole (its party row locked while it claims, skipped by others on
PostgreSQL; SQLite has one writer), fanning out the batches among them in that
transaction, leases them until ``lease_until``, and settles each as it goes. A worker
that dies leaves its lease to run out; the messages are then claimed again (at least
once: the receiver deduplicates by ``webhook-id``, which a message keeps).

Mail has no order to keep: each due mail is claimed on its own (``claim_mail``), leased
and settled the same way; a mail sent again carries the same Message-ID.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, and_, func, insert, or_, select, text, update

from consenthub.domain.access import EventType
from consenthub.mail import Mail, message_id_header
from consenthub.store.prepared import db_instant
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


def _message_ids(count: int) -> list[str]:
    """``count`` new message ids, ``msg_`` and 32 hex digits: the milliseconds since the
    epoch (12), then 80 random bits. Standard Webhooks' ids are opaque strings; these
    grow with time so that new rows land at the right edge of the unique index on
    ``message_id`` instead of on a random page each: a hundred random ids dirtied about a
    hundred index pages per transaction, which made SQLite's commit and PostgreSQL's
    full-page writes the outbox's largest cost (docs/performance.md)."""
    prefix = f"msg_{time.time_ns() // 1_000_000:012x}"
    randomness = secrets.token_hex(10 * count)
    return [prefix + randomness[20 * i : 20 * (i + 1)] for i in range(count)]


# One row per call, in one statement: a message for a single event, a batch for several
# (fanned out by the worker, ``_fan_out``). On PostgreSQL the statement also wakes the
# listening workers (delivered at commit). Both run on the driver's cursor, with values
# as the columns store them: SQLAlchemy's type processing costs more than the row.
_ENQUEUE_POSTGRESQL = (
    "WITH written AS ("
    " INSERT INTO outbox (channel, party_id, message_id, event_type, payload, created_at,"
    " due_at, attempts, batch_events)"
    " VALUES (%(channel)s, %(party_id)s, %(message_id)s, %(event_type)s, %(payload)s::json,"
    " %(now)s, %(now)s, 0, %(batch_events)s)"
    " RETURNING 1)"
    " SELECT pg_notify(%(notify_channel)s, '') FROM written"
)
_ENQUEUE_SQLITE = (
    "INSERT INTO outbox (channel, party_id, message_id, event_type, payload, created_at,"
    " due_at, attempts, batch_events) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)"
)
# ``event_type`` of a batch names its events' types, in order, within the column.
_BATCH_TYPES_LENGTH = 64


def _batch_types(types: Sequence[str]) -> str:
    named = "+".join(dict.fromkeys(types))
    return named if len(named) <= _BATCH_TYPES_LENGTH else named[: _BATCH_TYPES_LENGTH - 1] + "…"


def enqueue_webhooks(
    conn: Connection, party_id: int, events: Sequence[Event], *, now: dt.datetime
) -> int:
    """Write ``events`` for the party's webhook, in this order, if it has an endpoint that
    is not disabled; returns how many were written.

    One row whatever their number: several events are a batch, which the worker fans out
    into a message per event, each with its own ``webhook-id``, at the batch's place in
    the party's order. An approval of a hundred metering points so writes one row
    instead of a hundred (docs/performance.md)."""
    if not events:
        return 0
    endpoint = conn.execute(
        select(Party.webhook_url, Party.webhook_disabled_at).where(Party.id == party_id)
    ).first()
    if endpoint is None or endpoint.webhook_url is None or endpoint.webhook_disabled_at:
        return 0
    timestamp = now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    (message_id,) = _message_ids(1)
    payload: dict[str, Any]
    batch_events: int | None
    if len(events) == 1:
        event_type, batch_events = events[0].type.value, None
        payload = {"type": event_type, "timestamp": timestamp, "data": events[0].data}
    else:
        # The types as the members themselves: they are strings, orjson writes their
        # values, and ``.value`` on each of a hundred members costs more than the INSERT.
        event_type = _batch_types([event.type for event in events])
        batch_events = len(events)
        payload = {
            "timestamp": timestamp,
            "events": [{"type": event.type, "data": event.data} for event in events],
        }
    serialised = orjson.dumps(payload).decode()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            _ENQUEUE_POSTGRESQL,
            {
                "channel": WEBHOOK,
                "party_id": party_id,
                "message_id": message_id,
                "event_type": event_type,
                "payload": serialised,
                "now": db_instant(now, sqlite=False),
                "batch_events": batch_events,
                "notify_channel": NOTIFY_CHANNEL,
            },
        )
    else:
        written_at = db_instant(now, sqlite=True)
        conn.exec_driver_sql(
            _ENQUEUE_SQLITE,
            (
                WEBHOOK,
                party_id,
                message_id,
                event_type,
                serialised,
                written_at,
                written_at,
                batch_events,
            ),
        )
    return len(events)


# Fanning batches out: the second and later events of each as new messages that copy the
# batch row's party, times and place (``batch_id``); then each batch row becomes its first
# event. PostgreSQL: one statement each for all the batches, from arrays sent in binary
# (in text form psycopg escapes every quote of a JSON payload with a regular expression,
# in Python); ids are drawn in the arrays' order. SQLite: the driver's executemany.
_FAN_OUT_POSTGRESQL = (
    "INSERT INTO outbox (channel, party_id, message_id, event_type, payload, created_at,"
    " due_at, attempts, batch_id)"
    " SELECT batch.channel, batch.party_id, new.message_id, new.event_type,"
    " new.payload::json, batch.created_at, batch.due_at, 0, batch.id"
    " FROM unnest(%(batch_ids)b::bigint[], %(message_ids)b::text[], %(event_types)b::text[],"
    " %(payloads)b::text[]) WITH ORDINALITY AS new(batch_id, message_id, event_type, payload,"
    " position)"
    " JOIN outbox AS batch ON batch.id = new.batch_id"
    " ORDER BY new.position"
)
_FAN_OUT_SQLITE = (
    "INSERT INTO outbox (channel, party_id, message_id, event_type, payload, created_at,"
    " due_at, attempts, batch_id)"
    " SELECT channel, party_id, ?, ?, ?, created_at, due_at, 0, id FROM outbox WHERE id = ?"
)
_FIRST_OF_BATCH_POSTGRESQL = (
    "UPDATE outbox SET event_type = first.event_type, payload = first.payload::json,"
    " batch_events = NULL, batch_id = outbox.id"
    " FROM unnest(%(batch_ids)b::bigint[], %(event_types)b::text[], %(payloads)b::text[])"
    " AS first(batch_id, event_type, payload)"
    " WHERE outbox.id = first.batch_id"
)
_FIRST_OF_BATCH_SQLITE = (
    "UPDATE outbox SET event_type = ?, payload = ?, batch_events = NULL, batch_id = id WHERE id = ?"
)


def _fan_out(conn: Connection, batches: Sequence[Any]) -> None:
    """Replace each batch row by a message per event, in the events' order, at the
    batch's place: the batch row becomes the first (keeping its ``webhook-id``), new rows
    with ``batch_id`` set to it the others. In the claiming worker's transaction, so a
    worker that dies meanwhile leaves the batch as it was."""
    firsts: list[tuple[int, str, str]] = []
    rest: list[tuple[int, str, str]] = []
    for batch in batches:
        payload = batch.payload
        timestamp = payload["timestamp"]
        for position, event in enumerate(payload["events"]):
            body = {"type": event["type"], "timestamp": timestamp, "data": event["data"]}
            row = (batch.id, event["type"], orjson.dumps(body).decode())
            (firsts if position == 0 else rest).append(row)
    message_ids = _message_ids(len(rest))
    if conn.dialect.name == "postgresql":
        if rest:
            conn.exec_driver_sql(
                _FAN_OUT_POSTGRESQL,
                {
                    "batch_ids": [batch_id for batch_id, _, _ in rest],
                    "message_ids": message_ids,
                    "event_types": [event_type for _, event_type, _ in rest],
                    "payloads": [body for _, _, body in rest],
                },
            )
        conn.exec_driver_sql(
            _FIRST_OF_BATCH_POSTGRESQL,
            {
                "batch_ids": [batch_id for batch_id, _, _ in firsts],
                "event_types": [event_type for _, event_type, _ in firsts],
                "payloads": [body for _, _, body in firsts],
            },
        )
        return
    if rest:
        conn.exec_driver_sql(
            _FAN_OUT_SQLITE,
            [
                (message_id, event_type, body, batch_id)
                for message_id, (batch_id, event_type, body) in zip(message_ids, rest, strict=True)
            ],
        )
    conn.exec_driver_sql(
        _FIRST_OF_BATCH_SQLITE,
        [(event_type, body, batch_id) for batch_id, event_type, body in firsts],
    )


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
    (message_id,) = _message_ids(1)
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


# A party's webhook messages go in this order: a batch's messages at the batch's place.
_PLACE = func.coalesce(OutboxMessage.batch_id, OutboxMessage.id)
_OPEN_WEBHOOKS = and_(_OPEN, OutboxMessage.channel == WEBHOOK)


def _first_open(party_ids: Sequence[int], per_party: int) -> Any:
    """The first ``per_party`` open webhook rows of each of the parties, in order."""
    numbered = (
        select(
            OutboxMessage,
            func.row_number()
            .over(partition_by=OutboxMessage.party_id, order_by=(_PLACE, OutboxMessage.id))
            .label("position"),
        )
        .where(_OPEN_WEBHOOKS, OutboxMessage.party_id.in_(list(party_ids)))
        .subquery()
    )
    return (
        select(numbered)
        .where(numbered.c.position <= per_party)
        .order_by(numbered.c.party_id, numbered.c.position)
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
    open messages that are due. Returns them by party.

    Batches among them are fanned out first, in this transaction (``_fan_out``)."""
    held = (
        select(OutboxMessage.party_id)
        .where(_OPEN_WEBHOOKS, OutboxMessage.lease_until > now)
        .scalar_subquery()
    )
    ranked = select(
        OutboxMessage.party_id,
        OutboxMessage.due_at,
        _PLACE.label("place"),
        OutboxMessage.id,
        func.row_number()
        .over(partition_by=OutboxMessage.party_id, order_by=(_PLACE, OutboxMessage.id))
        .label("position"),
    ).where(_OPEN_WEBHOOKS)
    heads = ranked.subquery()
    candidates = list(
        conn.execute(
            select(heads.c.party_id)
            .where(heads.c.position == 1, heads.c.due_at <= now, heads.c.party_id.not_in(held))
            .order_by(heads.c.place, heads.c.id)
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
    rows = conn.execute(_first_open(locked, per_party)).all()
    batches = [row for row in rows if row.batch_events is not None]
    if batches:
        # Each batch's messages fill at least its own place in the window, so after one
        # fan-out the first ``per_party`` rows hold no batch.
        _fan_out(conn, batches)
        rows = conn.execute(_first_open(locked, per_party)).all()
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
    that party's endpoint is disabled (it answered 410 Gone). A batch not yet fanned out
    is one entry (``batch_events``); once the worker has claimed it, each of its events is
    an entry of its own."""

    party_client_id: str | None
    party_name: str | None
    endpoint_disabled_at: dt.datetime | None
    # A batch not yet fanned out (its events get their messages when the worker claims
    # it): how many events it holds; ``event_type`` names their types.
    batch_events: int | None

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
        batch_events=row.batch_events,
    )


def entries(
    conn: Connection, *, channel: str = WEBHOOK, failed_only: bool = False, limit: int = 100
) -> list[DeliveryLogEntry]:
    """The newest messages of ``channel`` first, for the operator."""
    query = (
        _DELIVERY_LOG.where(OutboxMessage.channel == channel)
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    )
    if failed_only:
        query = query.where(OutboxMessage.failed_at.is_not(None))
    return [_delivery_log_entry(row) for row in conn.execute(query).all()]


def find_entry(
    conn: Connection, message_id: int, *, channel: str = WEBHOOK
) -> DeliveryLogEntry | None:
    """One message of ``channel`` by its ``id``, for the operator."""
    row = conn.execute(
        _DELIVERY_LOG.where(OutboxMessage.id == message_id, OutboxMessage.channel == channel)
    ).first()
    return None if row is None else _delivery_log_entry(row)


def retry(conn: Connection, message_id: int, *, now: dt.datetime) -> bool:
    """Send a failed message again, now; False when there is no such failed message, or
    it is a webhook and its party's endpoint is disabled (nothing goes to an endpoint
    that answered 410 Gone until it is set again; mail about the party still may)."""
    endpoint_disabled = (
        select(Party.id)
        .where(
            OutboxMessage.channel == WEBHOOK,
            Party.id == OutboxMessage.party_id,
            Party.webhook_disabled_at.is_not(None),
        )
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
