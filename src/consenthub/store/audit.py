"""Append-only, hash-chained audit log (SPEC §2).

Each event's hash covers its content and the previous event's hash, so
removing or editing any event breaks every hash after it. Appends lock the
single ``audit_head`` row, so concurrent writers extend the chain in order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from consenthub.store.prepared import db_instant
from consenthub.store.tables import AuditEvent, AuditHead

GENESIS = "0" * 64


def event_hash(
    prev_hash: str, at: dt.datetime, actor: str, action: str, subject: str, details: dict[str, Any]
) -> str:
    body = orjson.dumps(
        [prev_hash, at.astimezone(dt.UTC).isoformat(), actor, action, subject, details],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(body).hexdigest()


def _lock_head(conn: Connection) -> str:
    """Create the head row if this is the first event ever, then lock it."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
    conn.execute(dialect_insert(AuditHead).values(id=1, last_hash=GENESIS).on_conflict_do_nothing())
    return str(
        conn.execute(
            select(AuditHead.last_hash).where(AuditHead.id == 1).with_for_update()
        ).scalar_one()
    )


@dataclass(frozen=True)
class Event:
    actor: str
    action: str
    subject: str
    details: dict[str, Any] = field(default_factory=dict)


def append(
    conn: Connection,
    *,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> str:
    """Append one event in the caller's transaction; returns its hash."""
    return append_many(conn, [Event(actor, action, subject, details or {})], at=at)[0]


# The events of one append, one statement on the driver's cursor: SQLAlchemy's
# insertmanyvalues statements of ~1,000 rows, rendered by it and parsed again by psycopg
# (or on SQLite one statement per row, to keep the ids in order), cost more than the
# rows (a BRS-NO-622 message appends thousands, docs/performance.md). On PostgreSQL the
# rows go as one JSON document (orjson writes it in C; psycopg's dumping of lists into
# arrays costs ~1.7 µs a value in Python) into a multi-row INSERT that also moves the
# head; on SQLite, where a statement costs no round trip, the driver's executemany
# (rowids follow the rows' order).
_APPEND_POSTGRESQL = (
    "WITH written AS ("
    " INSERT INTO audit_events (at, actor, action, subject, details, prev_hash, hash)"
    " SELECT %(at)s, new.event->>0, new.event->>1, new.event->>2, new.event->3,"
    " new.event->>4, new.event->>5"
    " FROM json_array_elements(%(events)s::json) WITH ORDINALITY AS new(event, position)"
    # Ids are drawn in this order: ``verify`` walks the chain by id.
    " ORDER BY new.position"
    " RETURNING 1)"
    " UPDATE audit_head SET last_hash = %(last_hash)s WHERE id = 1"
)
_APPEND_SQLITE = (
    "INSERT INTO audit_events (at, actor, action, subject, details, prev_hash, hash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_HEAD_SQLITE = "UPDATE audit_head SET last_hash = ? WHERE id = 1"


def append_many(
    conn: Connection, events: Sequence[Event], *, at: dt.datetime | None = None
) -> list[str]:
    """Append events in this order in the caller's transaction; returns their hashes.

    One lock of the head and one INSERT for all of them: an approval of a hundred
    metering points appends a hundred events, and four statements each cost more
    than the grants themselves.
    """
    if not events:
        return []
    at = (at or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    prev_hash = _lock_head(conn)
    chained: list[tuple[str, str]] = []
    for event in events:
        digest = event_hash(prev_hash, at, event.actor, event.action, event.subject, event.details)
        chained.append((prev_hash, digest))
        prev_hash = digest
    if conn.dialect.name == "postgresql":
        rows = [
            (event.actor, event.action, event.subject, event.details, *hashes)
            for event, hashes in zip(events, chained, strict=True)
        ]
        conn.exec_driver_sql(
            _APPEND_POSTGRESQL,
            {
                "at": db_instant(at, sqlite=False),
                "events": orjson.dumps(rows).decode(),
                "last_hash": prev_hash,
            },
        )
    else:
        written_at = db_instant(at, sqlite=True)
        conn.exec_driver_sql(
            _APPEND_SQLITE,
            [
                (
                    written_at,
                    event.actor,
                    event.action,
                    event.subject,
                    orjson.dumps(event.details).decode(),
                    *hashes,
                )
                for event, hashes in zip(events, chained, strict=True)
            ],
        )
        conn.exec_driver_sql(_HEAD_SQLITE, (prev_hash,))
    return [digest for _, digest in chained]


@dataclass(frozen=True)
class ChainReport:
    events: int
    first_broken_id: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.reason is None


def verify(conn: Connection) -> ChainReport:
    prev_hash = GENESIS
    count = 0
    rows = conn.execute(select(AuditEvent).order_by(AuditEvent.id)).all()
    for row in rows:
        count += 1
        if row.prev_hash != prev_hash:
            return ChainReport(count, row.id, "previous hash does not match the chain")
        expected = event_hash(prev_hash, row.at, row.actor, row.action, row.subject, row.details)
        if expected != row.hash:
            return ChainReport(count, row.id, "event content does not match its hash")
        prev_hash = row.hash
    head = conn.execute(select(AuditHead.last_hash).where(AuditHead.id == 1)).scalar_one_or_none()
    if (head or GENESIS) != prev_hash:
        return ChainReport(count, None, "chain head does not match the last event (events removed)")
    return ChainReport(count, None, None)
