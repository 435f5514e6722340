"""All SQL of access requests (SPEC §2). Every function runs in the caller's transaction;
the ones that change state append their audit events there."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVarTuple

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    and_,
    cast,
    exists,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import QueryableAttribute

from consenthub.domain.access import EventType, Process, Scope, Status
from consenthub.domain.errors import Code
from consenthub.grants import Contract
from consenthub.outbox import Event, enqueue_webhooks, void
from consenthub.store import audit
from consenthub.store.prepared import db_instant
from consenthub.store.sql import among
from consenthub.store.tables import (
    AccessRequest as AccessRequestRow,
)
from consenthub.store.tables import (
    AccessRequestItem,
    MeteringPoint,
    Party,
    SupplyPeriod,
    new_uuid,
)

# Where the outcome is kept in ``details`` (the name predates the other processes).
_OUTCOME = "response"
_EVENTS = {
    Status.APPROVED: EventType.ACCESS_REQUEST_APPROVED,
    Status.REJECTED: EventType.ACCESS_REQUEST_REJECTED,
    Status.EXPIRED: EventType.ACCESS_REQUEST_EXPIRED,
    Status.CANCELLED: EventType.ACCESS_REQUEST_CANCELLED,
    Status.CLOSED: EventType.ACCESS_REQUEST_CLOSED,
}


@dataclass(frozen=True)
class Outcome:
    """What a decided request came to: the scope and contracts it granted, or the code
    of why it granted nothing (``EH088``, ``EH106``)."""

    scope: Scope | None = None
    contracts: tuple[Contract, ...] = ()
    error: Code | None = None
    # Metering points the request named that the person left out of an approval.
    declined: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": {"code": self.error.value}}
        stored: dict[str, Any] = {
            "scope": self.scope.value if self.scope else None,
            "contracts": [
                {
                    "meteringPointId": contract.metering_point_id,
                    "start": contract.start.isoformat(),
                    "end": contract.end.isoformat() if contract.end else None,
                }
                for contract in self.contracts
            ],
        }
        if self.declined:
            stored["declined"] = list(self.declined)
        return stored

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> Outcome:
        if "error" in stored:
            return cls(error=Code(stored["error"]["code"]))
        return cls(
            scope=Scope(stored["scope"]) if stored.get("scope") else None,
            contracts=tuple(
                Contract(
                    item["meteringPointId"],
                    dt.date.fromisoformat(item["start"]),
                    dt.date.fromisoformat(item["end"]) if item["end"] else None,
                )
                for item in stored.get("contracts", [])
            ),
            declined=tuple(stored.get("declined", ())),
        )


@dataclass(frozen=True)
class AccessRequest:
    id: str
    process: Process
    party_id: int
    party_name: str
    party_gln: str | None
    party_orgnr: str | None
    request_id: str
    scope: Scope
    status: Status
    end_user_id: int | None
    deadline: dt.datetime | None
    created_at: dt.datetime
    decided_at: dt.datetime | None
    # What the process keeps of its own (BRS-NO-624: the return address).
    details: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome | None = None


@dataclass(frozen=True)
class NewAccessRequest:
    process: Process
    party_id: int
    request_id: str
    scope: Scope
    deadline: dt.datetime | None
    details: dict[str, Any] = field(default_factory=dict)
    # The metering points asked for; none means "those the person has" (BRS-NO-624).
    metering_point_ids: tuple[int, ...] = ()
    # The person it asks, when the process knows them (BRS-NO-622: the end user of the
    # metering points); else the first person to open it.
    end_user_id: int | None = None


@dataclass(frozen=True)
class OwnedMeteringPoint:
    id: int
    gsrn: str
    address: str | None
    postcode: str | None
    city: str | None
    move_in: dt.date


_SELECT = select(
    AccessRequestRow,
    Party.name.label("party_name"),
    Party.gln.label("party_gln"),
    Party.orgnr.label("party_orgnr"),
).join(Party, Party.id == AccessRequestRow.party_id)


def _record(row: Any) -> AccessRequest:
    details = dict(row.details or {})
    stored_outcome = details.pop(_OUTCOME, None)
    return AccessRequest(
        id=row.id,
        process=Process(row.process),
        party_id=row.party_id,
        party_name=row.party_name,
        party_gln=row.party_gln,
        party_orgnr=row.party_orgnr,
        request_id=row.request_id,
        scope=Scope(row.scope),
        status=Status(row.status),
        end_user_id=row.end_user_id,
        deadline=row.deadline,
        created_at=row.created_at,
        decided_at=row.decided_at,
        details=details,
        outcome=Outcome.from_json(stored_outcome) if stored_outcome else None,
    )


def insert_request(
    conn: Connection, new: NewAccessRequest, *, now: dt.datetime, actor: str
) -> str | None:
    """A new pending request and its audit event; None when the party already used
    ``request_id`` in this process (the database's unique constraint decides races)."""
    try:
        with conn.begin_nested():
            internal_id = str(
                conn.execute(
                    insert(AccessRequestRow)
                    .values(
                        party_id=new.party_id,
                        request_id=new.request_id,
                        process=new.process.value,
                        scope=new.scope.value,
                        status=Status.PENDING.value,
                        deadline=new.deadline,
                        created_at=now,
                        details=new.details,
                        end_user_id=new.end_user_id,
                    )
                    .returning(AccessRequestRow.id)
                ).scalar_one()
            )
    except IntegrityError:
        return None
    _insert_items(conn, [(internal_id, new)])
    audit.append(
        conn,
        actor=actor,
        action="access_request.created",
        subject=f"access_request:{internal_id}",
        details={
            "process": new.process.value,
            "request_id": new.request_id,
            "scope": new.scope.value,
        },
        at=now,
    )
    return internal_id


def _pending_key(party_id: int, metering_point_id: int) -> str:
    return f"{party_id}:{metering_point_id}"


# A batch of new requests (a BRS-NO-622 message opens one per end user, up to 10,000
# items) is one statement per table on the driver's cursor: on PostgreSQL an INSERT from
# one JSON document of rows (orjson writes it in C; psycopg's dumping of lists into
# arrays costs ~1.7 µs a value in Python), on SQLite, where a statement costs no round
# trip, the driver's executemany. SQLAlchemy's insertmanyvalues statements of 1,000
# rows, rendered by it and parsed again by psycopg, and its per-row type processing cost
# more than the rows (docs/performance.md). The ids are made here: nothing needs
# RETURNING.
_INSERT_REQUESTS_POSTGRESQL = (
    "INSERT INTO access_requests (id, party_id, request_id, process, scope, status,"
    " deadline, created_at, details, end_user_id)"
    " SELECT new->>0, (new->>1)::integer, new->>2, new->>3, new->>4, %(status)s,"
    " (new->>5)::timestamp, %(now)s, new->6, (new->>7)::integer"
    " FROM json_array_elements(%(requests)s::json) AS new"
)
_INSERT_REQUESTS_SQLITE = (
    "INSERT INTO access_requests (id, party_id, request_id, process, scope, status,"
    " deadline, created_at, details, end_user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_ITEMS_POSTGRESQL = (
    "INSERT INTO access_request_items (access_request_id, metering_point_id, pending_key)"
    " SELECT item->>0, (item->>1)::integer, item->>2"
    " FROM json_array_elements(%(items)s::json) AS item"
)
_INSERT_ITEMS_SQLITE = (
    "INSERT INTO access_request_items (access_request_id, metering_point_id, pending_key)"
    " VALUES (?, ?, ?)"
)


def _insert_items(conn: Connection, requests: Sequence[tuple[str, NewAccessRequest]]) -> None:
    """The metering points each request names, each holding the party's one pending key
    on it (a second pending request of the party on it fails with ``IntegrityError``)."""
    rows = [
        (internal_id, metering_point_id, _pending_key(new.party_id, metering_point_id))
        for internal_id, new in requests
        for metering_point_id in new.metering_point_ids
    ]
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_INSERT_ITEMS_POSTGRESQL, {"items": orjson.dumps(rows).decode()})
        return
    conn.exec_driver_sql(_INSERT_ITEMS_SQLITE, rows)


def insert_requests(
    conn: Connection, news: Sequence[NewAccessRequest], *, now: dt.datetime, actor: str
) -> list[str]:
    """Many new pending requests at once, with one INSERT each for the requests, their
    items and their audit events; returns their ids in order. A ``request_id`` used
    before or a metering point with the party's request already pending raises
    ``IntegrityError`` (the caller's transaction is then to be rolled back)."""
    if not news:
        return []
    ids = [new_uuid() for _ in news]
    if conn.dialect.name == "postgresql":
        rows = [
            (
                internal_id,
                new.party_id,
                new.request_id,
                new.process.value,
                new.scope.value,
                db_instant(new.deadline, sqlite=False),
                new.details,
                new.end_user_id,
            )
            for internal_id, new in zip(ids, news, strict=True)
        ]
        conn.exec_driver_sql(
            _INSERT_REQUESTS_POSTGRESQL,
            {
                "status": Status.PENDING.value,
                "now": db_instant(now, sqlite=False),
                "requests": orjson.dumps(rows).decode(),
            },
        )
    else:
        created_at = db_instant(now, sqlite=True)
        conn.exec_driver_sql(
            _INSERT_REQUESTS_SQLITE,
            [
                (
                    internal_id,
                    new.party_id,
                    new.request_id,
                    new.process.value,
                    new.scope.value,
                    Status.PENDING.value,
                    db_instant(new.deadline, sqlite=True),
                    created_at,
                    orjson.dumps(new.details).decode(),
                    new.end_user_id,
                )
                for internal_id, new in zip(ids, news, strict=True)
            ],
        )
    _insert_items(conn, list(zip(ids, news, strict=True)))
    audit.append_many(
        conn,
        [
            audit.Event(
                actor,
                "access_request.created",
                f"access_request:{internal_id}",
                {
                    "process": new.process.value,
                    "request_id": new.request_id,
                    "scope": new.scope.value,
                },
            )
            for internal_id, new in zip(ids, news, strict=True)
        ],
        at=now,
    )
    return ids


def pending_metering_points(
    conn: Connection, party_id: int, metering_point_ids: Sequence[int]
) -> set[int]:
    """Those of the metering points on which the party has a request pending."""
    keys = [_pending_key(party_id, metering_point_id) for metering_point_id in metering_point_ids]
    return set(
        conn.execute(
            select(AccessRequestItem.metering_point_id).where(
                among(conn, AccessRequestItem.pending_key, keys)
            )
        ).scalars()
    )


def pending_on(
    party_id: int, metering_point_id: ColumnElement[int] | QueryableAttribute[int]
) -> ColumnElement[bool]:
    """SQL: the party has a request pending on the metering point ``metering_point_id``
    (the party's pending key on it, ``_pending_key``'s form, is held), for a query about
    many metering points at once: one lookup in the unique index of pending keys each."""
    return exists().where(
        AccessRequestItem.pending_key == literal(f"{party_id}:") + cast(metering_point_id, String)
    )


def load(conn: Connection, internal_id: str, *, lock: bool = False) -> AccessRequest | None:
    query = _SELECT.where(AccessRequestRow.id == internal_id)
    if lock:
        query = query.with_for_update(of=AccessRequestRow)
    row = conn.execute(query).first()
    return None if row is None else _record(row)


def find(
    conn: Connection, party_id: int, process: Process, request_id: str
) -> AccessRequest | None:
    row = conn.execute(
        _SELECT.where(
            AccessRequestRow.party_id == party_id,
            AccessRequestRow.process == process.value,
            AccessRequestRow.request_id == request_id,
        )
    ).first()
    return None if row is None else _record(row)


def of_party(
    conn: Connection,
    party_id: int,
    processes: Sequence[Process],
    *,
    status: Status | None,
    now: dt.datetime,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> list[AccessRequest]:
    """The party's requests of these processes, oldest first, after the cursor
    ``(created_at, id)``; ``status`` is judged as ``rules.effective_status`` judges it."""
    query = _with_status(
        _SELECT.where(
            AccessRequestRow.party_id == party_id,
            AccessRequestRow.process.in_([process.value for process in processes]),
        ),
        status,
        now,
    )
    if after is not None:
        created_at, internal_id = after
        query = query.where(
            or_(
                AccessRequestRow.created_at > created_at,
                and_(AccessRequestRow.created_at == created_at, AccessRequestRow.id > internal_id),
            )
        )
    rows = conn.execute(
        query.order_by(AccessRequestRow.created_at, AccessRequestRow.id).limit(limit)
    ).all()
    return [_record(row) for row in rows]


_Columns = TypeVarTuple("_Columns")


def _with_status(
    query: Select[*_Columns], status: Status | None, now: dt.datetime
) -> Select[*_Columns]:
    """Only requests whose status, judged as ``rules.effective_status`` judges it, is
    ``status`` (every request for None)."""
    past_deadline = and_(
        AccessRequestRow.status == Status.PENDING.value, AccessRequestRow.deadline <= now
    )
    if status is Status.PENDING:
        return query.where(
            AccessRequestRow.status == Status.PENDING.value,
            or_(AccessRequestRow.deadline.is_(None), AccessRequestRow.deadline > now),
        )
    if status is Status.EXPIRED:
        return query.where(or_(AccessRequestRow.status == Status.EXPIRED.value, past_deadline))
    if status is not None:
        return query.where(AccessRequestRow.status == status.value)
    return query


def listing(
    conn: Connection,
    *,
    status: Status | None,
    process: Process | None,
    now: dt.datetime,
    limit: int,
) -> list[AccessRequest]:
    """Every party's requests, newest first (the operator's ``requests list``)."""
    query = _with_status(_SELECT, status, now)
    if process is not None:
        query = query.where(AccessRequestRow.process == process.value)
    rows = conn.execute(
        query.order_by(AccessRequestRow.created_at.desc(), AccessRequestRow.id.desc()).limit(limit)
    ).all()
    return [_record(row) for row in rows]


def of_end_user(conn: Connection, end_user_id: int) -> list[AccessRequest]:
    """The person's requests, newest first."""
    rows = conn.execute(
        _SELECT.where(AccessRequestRow.end_user_id == end_user_id).order_by(
            AccessRequestRow.created_at.desc()
        )
    ).all()
    return [_record(row) for row in rows]


def bind_end_user(conn: Connection, internal_id: str, end_user_id: int) -> bool:
    """The first person to open the request after login owns it; others never can."""
    conn.execute(
        update(AccessRequestRow)
        .where(AccessRequestRow.id == internal_id, AccessRequestRow.end_user_id.is_(None))
        .values(end_user_id=end_user_id)
    )
    owner = conn.execute(
        select(AccessRequestRow.end_user_id).where(AccessRequestRow.id == internal_id)
    ).scalar_one()
    return bool(owner == end_user_id)


def requested_metering_points(conn: Connection, internal_id: str) -> list[int]:
    return list(
        conn.execute(
            select(AccessRequestItem.metering_point_id).where(
                AccessRequestItem.access_request_id == internal_id
            )
        ).scalars()
    )


def current_metering_points(
    conn: Connection, end_user_id: int, today: dt.date, *, among: Sequence[int] | None = None
) -> list[OwnedMeteringPoint]:
    """Metering points the end user lives on today (their supply period is open), or only
    those of them ``among`` names."""
    query = (
        select(
            MeteringPoint.id,
            MeteringPoint.gsrn,
            MeteringPoint.address,
            MeteringPoint.postcode,
            MeteringPoint.city,
            SupplyPeriod.move_in,
        )
        .join(SupplyPeriod, SupplyPeriod.metering_point_id == MeteringPoint.id)
        .where(
            SupplyPeriod.end_user_id == end_user_id,
            SupplyPeriod.move_in <= today,
            (SupplyPeriod.move_out.is_(None)) | (SupplyPeriod.move_out > today),
        )
        .order_by(MeteringPoint.gsrn)
    )
    if among is not None:
        query = query.where(MeteringPoint.id.in_(among))
    return [
        OwnedMeteringPoint(r.id, r.gsrn, r.address, r.postcode, r.city, r.move_in)
        for r in conn.execute(query).all()
    ]


def finish(
    conn: Connection,
    request: AccessRequest,
    status: Status,
    outcome: Outcome | None,
    *,
    now: dt.datetime,
    actor: str,
) -> None:
    """Record the request's final status and outcome, and its audit event."""
    details = dict(request.details)
    if outcome is not None:
        details[_OUTCOME] = outcome.as_json()
    conn.execute(
        update(AccessRequestRow)
        .where(AccessRequestRow.id == request.id)
        .values(status=status.value, decided_at=now, details=details)
    )
    conn.execute(
        update(AccessRequestItem)
        .where(AccessRequestItem.access_request_id == request.id)
        .values(pending_key=None)
    )
    audit_details: dict[str, Any] = {"request_id": request.request_id}
    if outcome is not None and outcome.error is not None:
        audit_details["code"] = outcome.error.value
    audit.append(
        conn,
        actor=actor,
        action=f"access_request.{status.value}",
        subject=f"access_request:{request.id}",
        details=audit_details,
        at=now,
    )
    data: dict[str, Any] = {
        "id": request.id,
        "requestId": request.request_id,
        "process": request.process.value,
        "status": status.value,
    }
    if outcome is not None and outcome.error is not None:
        data["code"] = outcome.error.value
    enqueue_webhooks(conn, request.party_id, [Event(_EVENTS[status], data)], now=now)
    # What was to tell the person of an open request (a reminder) is moot now.
    void(conn, subject_of(request.id), now=now)


def subject_of(internal_id: str) -> str:
    """The outbox subject of what is sent about a request (its mails)."""
    return f"access_request:{internal_id}"


def pending_past_deadline(conn: Connection, now: dt.datetime, limit: int) -> list[AccessRequest]:
    """Pending requests whose deadline has passed, oldest deadline first, locked (on
    PostgreSQL, skipping rows another worker holds)."""
    query = (
        _SELECT.where(
            AccessRequestRow.status == Status.PENDING.value,
            AccessRequestRow.deadline <= now,
        )
        .order_by(AccessRequestRow.deadline)
        .limit(limit)
        .with_for_update(of=AccessRequestRow, skip_locked=True)
    )
    return [_record(row) for row in conn.execute(query).all()]
