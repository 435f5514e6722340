"""All SQL of grants: party × metering point × scope × ``[valid_from, valid_to)`` (SPEC §2).

Every function runs in the caller's transaction and appends the audit events of what
it changes there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Select, and_, bindparam, case, insert, or_, select, update

from consenthub.domain.access import EndReason, EventType, Scope
from consenthub.grants.rules import GrantChange, LiveGrant
from consenthub.outbox import Event, enqueue_webhooks
from consenthub.store import audit
from consenthub.store.sql import among
from consenthub.store.tables import Grant, MeteringPoint, Party, SupplyPeriod


@dataclass(frozen=True)
class NewGrant:
    party_id: int
    metering_point_id: int
    end_user_id: int
    scope: str
    valid_from: dt.date
    valid_to: dt.date | None = None
    access_request_id: str | None = None
    extended_storage: bool = False


@dataclass(frozen=True)
class EndUserGrant:
    """A grant as its end user sees it."""

    id: int
    # Min side shows who the party is (its GLN, organisation number, privacy policy).
    party_id: int
    party_name: str
    gsrn: str
    address: str | None
    scope: Scope
    valid_from: dt.date
    valid_to: dt.date | None
    revoked: bool
    # BRS-NO-622: the party asked the hub to keep the values longer while it lasts.
    extended_storage: bool = False


def _gsrns(conn: Connection, metering_point_ids: Sequence[int]) -> dict[int, str]:
    return {
        row.id: row.gsrn
        for row in conn.execute(
            select(MeteringPoint.id, MeteringPoint.gsrn).where(
                MeteringPoint.id.in_(set(metering_point_ids))
            )
        )
    }


def _grant_data(
    grant_id: int,
    gsrn: str,
    scope: str,
    valid_from: dt.date,
    valid_to: dt.date | None,
    **more: str | None,
) -> dict[str, str | int | None]:
    """What a party hears of one of its grants: ids and dates, never who the person is."""
    return {
        "grantId": grant_id,
        "meteringPointId": gsrn,
        "scope": scope,
        "validFrom": valid_from.isoformat(),
        "validTo": valid_to.isoformat() if valid_to else None,
        **more,
    }


def create_grant(
    conn: Connection,
    *,
    party_id: int,
    metering_point_id: int,
    end_user_id: int,
    scope: str,
    valid_from: dt.date,
    valid_to: dt.date | None = None,
    access_request_id: str | None = None,
    actor: str,
) -> int:
    """Record a grant and its audit event in the caller's transaction."""
    grant = NewGrant(
        party_id, metering_point_id, end_user_id, scope, valid_from, valid_to, access_request_id
    )
    return create_grants(conn, [grant], actor=actor)[0]


def create_grants(conn: Connection, grants: Sequence[NewGrant], *, actor: str) -> list[int]:
    """Record grants and their audit events, with one INSERT each for all of them; returns
    their ids in the given order."""
    if not grants:
        return []
    now = dt.datetime.now(dt.UTC)
    ids = [
        int(grant_id)
        for grant_id in conn.execute(
            insert(Grant).returning(Grant.id, sort_by_parameter_order=True),
            [asdict(grant) | {"created_at": now} for grant in grants],
        ).scalars()
    ]
    audit.append_many(
        conn,
        [
            audit.Event(
                actor,
                "grant.created",
                f"grant:{grant_id}",
                {
                    "party_id": grant.party_id,
                    "metering_point_id": grant.metering_point_id,
                    "scope": grant.scope,
                    "valid_from": grant.valid_from.isoformat(),
                    "valid_to": grant.valid_to.isoformat() if grant.valid_to else None,
                },
            )
            for grant_id, grant in zip(ids, grants, strict=True)
        ],
        at=now,
    )
    gsrns = _gsrns(conn, [grant.metering_point_id for grant in grants])
    for party_id in {grant.party_id for grant in grants}:
        enqueue_webhooks(
            conn,
            party_id,
            [
                Event(
                    EventType.GRANT_STARTED,
                    _grant_data(
                        grant_id,
                        gsrns[grant.metering_point_id],
                        grant.scope,
                        grant.valid_from,
                        grant.valid_to,
                        accessRequestId=grant.access_request_id,
                    ),
                )
                for grant_id, grant in zip(ids, grants, strict=True)
                if grant.party_id == party_id
            ],
            now=now,
        )
    return ids


def live_grants(
    conn: Connection,
    *,
    party_id: int,
    end_user_id: int,
    metering_point_ids: Sequence[int],
    today: dt.date,
) -> dict[int, LiveGrant]:
    """The party's live grants from this end user on these metering points, by metering
    point: one statement for any number of them."""
    if not metering_point_ids:
        return {}
    rows = conn.execute(
        select(
            Grant.id,
            Grant.metering_point_id,
            Grant.scope,
            Grant.valid_from,
            Grant.valid_to,
            Grant.extended_storage,
        )
        .where(
            Grant.party_id == party_id,
            Grant.metering_point_id.in_(metering_point_ids),
            Grant.end_user_id == end_user_id,
            Grant.revoked_at.is_(None),
            (Grant.valid_to.is_(None)) | (Grant.valid_to > today),
        )
        .order_by(Grant.id)
    ).all()
    return {
        row.metering_point_id: LiveGrant(
            row.id,
            row.metering_point_id,
            Scope(row.scope),
            row.valid_from,
            row.valid_to,
            row.extended_storage,
        )
        for row in rows
    }


def change_grants(
    conn: Connection, changes: Sequence[GrantChange], *, access_request_id: str, actor: str
) -> None:
    """Give live grants a new scope and end, with their audit events and events."""
    shapes = {(change.scope, change.valid_to, change.extended_storage) for change in changes}
    for scope, valid_to, extended_storage in shapes:
        ids = [
            change.grant_id
            for change in changes
            if (change.scope, change.valid_to, change.extended_storage)
            == (scope, valid_to, extended_storage)
        ]
        conn.execute(
            update(Grant)
            .where(Grant.id.in_(ids))
            .values(
                scope=scope.value,
                valid_to=valid_to,
                extended_storage=extended_storage,
                access_request_id=access_request_id,
            )
        )
    audit.append_many(
        conn,
        [
            audit.Event(
                actor,
                "grant.updated",
                f"grant:{change.grant_id}",
                {
                    "scope": change.scope.value,
                    "valid_to": change.valid_to.isoformat() if change.valid_to else None,
                },
            )
            for change in changes
        ],
    )
    _announce(conn, [change.grant_id for change in changes], EventType.GRANT_CHANGED)


def _announce(
    conn: Connection,
    grant_ids: Sequence[int],
    event_type: EventType,
    reason: EndReason | None = None,
) -> None:
    """Tell each grant's party what became of it, as the grants now stand."""
    rows = conn.execute(
        select(
            Grant.id,
            Grant.party_id,
            MeteringPoint.gsrn,
            Grant.scope,
            Grant.valid_from,
            Grant.valid_to,
        )
        .join(MeteringPoint, MeteringPoint.id == Grant.metering_point_id)
        .join(Party, Party.id == Grant.party_id)
        # Only parties with a webhook are told (``enqueue_webhooks`` writes nothing for
        # the others): no events are built for thousands of grants nobody hears of.
        .where(
            among(conn, Grant.id, grant_ids),
            Party.webhook_url.is_not(None),
            Party.webhook_disabled_at.is_(None),
        )
        .order_by(Grant.id)
    ).all()
    more = {"reason": reason.value} if reason else {}
    now = dt.datetime.now(dt.UTC)
    for party_id in sorted({row.party_id for row in rows}):
        enqueue_webhooks(
            conn,
            party_id,
            [
                Event(
                    event_type,
                    _grant_data(row.id, row.gsrn, row.scope, row.valid_from, row.valid_to, **more),
                )
                for row in rows
                if row.party_id == party_id
            ],
            now=now,
        )


_END_USER_GRANTS = (
    select(
        Grant.id,
        Party.name,
        MeteringPoint.gsrn,
        MeteringPoint.address,
        Grant.scope,
        Grant.valid_from,
        Grant.valid_to,
        Grant.revoked_at,
        Grant.extended_storage,
        Grant.party_id,
    )
    .join(Party, Party.id == Grant.party_id)
    .join(MeteringPoint, MeteringPoint.id == Grant.metering_point_id)
)


def _end_user_grant(row: Any) -> EndUserGrant:
    return EndUserGrant(
        row.id,
        row.party_id,
        row.name,
        row.gsrn,
        row.address,
        Scope(row.scope),
        row.valid_from,
        row.valid_to,
        row.revoked_at is not None,
        row.extended_storage,
    )


@dataclass(frozen=True)
class OperatorGrant:
    """A grant as the hub's operator sees it: whose, on what, and how it stands."""

    id: int
    party_client_id: str
    party_name: str
    gsrn: str
    end_user_id: int
    scope: Scope
    valid_from: dt.date
    valid_to: dt.date | None
    ended_reason: EndReason | None
    revoked: bool


_OPERATOR_GRANTS = (
    select(
        Grant.id,
        Party.client_id,
        Party.name,
        MeteringPoint.gsrn,
        Grant.end_user_id,
        Grant.scope,
        Grant.valid_from,
        Grant.valid_to,
        Grant.ended_reason,
        Grant.revoked_at,
    )
    .join(Party, Party.id == Grant.party_id)
    .join(MeteringPoint, MeteringPoint.id == Grant.metering_point_id)
)


def _operator_grant(row: Any) -> OperatorGrant:
    return OperatorGrant(
        row.id,
        row.client_id,
        row.name,
        row.gsrn,
        row.end_user_id,
        Scope(row.scope),
        row.valid_from,
        row.valid_to,
        EndReason(row.ended_reason) if row.ended_reason else None,
        row.revoked_at is not None,
    )


def operator_grants(
    conn: Connection,
    *,
    party_client_id: str | None = None,
    gsrn: str | None = None,
    end_user_id: int | None = None,
) -> list[OperatorGrant]:
    """Every grant, or those of one party, metering point or end user, by id."""
    query = _OPERATOR_GRANTS
    if party_client_id is not None:
        query = query.where(Party.client_id == party_client_id)
    if gsrn is not None:
        query = query.where(MeteringPoint.gsrn == gsrn)
    if end_user_id is not None:
        query = query.where(Grant.end_user_id == end_user_id)
    return [_operator_grant(row) for row in conn.execute(query.order_by(Grant.id))]


def operator_grant(conn: Connection, grant_id: int, *, lock: bool = False) -> OperatorGrant | None:
    query = _OPERATOR_GRANTS.where(Grant.id == grant_id)
    if lock:
        query = query.with_for_update(of=Grant)
    row = conn.execute(query).first()
    return None if row is None else _operator_grant(row)


def end_user_grant(
    conn: Connection, grant_id: int, end_user_id: int, *, lock: bool = False
) -> EndUserGrant | None:
    """One of the end user's own grants; None for anyone else's."""
    query = _END_USER_GRANTS.where(Grant.id == grant_id, Grant.end_user_id == end_user_id)
    if lock:
        query = query.with_for_update(of=Grant)
    row = conn.execute(query).first()
    return None if row is None else _end_user_grant(row)


def end_user_grants(conn: Connection, end_user_id: int) -> list[EndUserGrant]:
    """All of the end user's grants, by party, metering point and start."""
    rows = conn.execute(
        _END_USER_GRANTS.where(Grant.end_user_id == end_user_id).order_by(
            Party.name, MeteringPoint.gsrn, Grant.valid_from
        )
    ).all()
    return [_end_user_grant(row) for row in rows]


def end_grant(
    conn: Connection, grant_id: int, end: dt.date, *, reason: EndReason, actor: str
) -> None:
    """End a grant at ``end`` for ``reason``, with its audit event and its party's event."""
    conn.execute(
        update(Grant).where(Grant.id == grant_id).values(valid_to=end, ended_reason=reason.value)
    )
    audit.append(
        conn,
        actor=actor,
        action="grant.ended",
        subject=f"grant:{grant_id}",
        details={"valid_to": end.isoformat(), "reason": reason.value},
    )
    _announce(conn, [grant_id], EventType.GRANT_ENDED, reason)


@dataclass(frozen=True)
class ContractDates:
    grant_id: int
    valid_from: dt.date
    valid_to: dt.date | None


def end_grants(
    conn: Connection, grant_ids: Sequence[int], today: dt.date, *, reason: EndReason, actor: str
) -> None:
    """End grants today (one that has not started yet, at its start) for ``reason``, with
    their audit events and their parties' events: one UPDATE however many."""
    if not grant_ids:
        return
    ids = list(grant_ids)
    conn.execute(
        update(Grant)
        .where(among(conn, Grant.id, ids))
        .values(
            valid_to=case((Grant.valid_from <= today, today), else_=Grant.valid_from),
            ended_reason=reason.value,
        )
    )
    audit.append_many(
        conn,
        [
            audit.Event(actor, "grant.ended", f"grant:{grant_id}", {"reason": reason.value})
            for grant_id in ids
        ],
    )
    _announce(conn, ids, EventType.GRANT_ENDED, reason)


# The new dates of many contracts (a BRS-NO-622 message updates up to 10,000), one
# statement on the driver's cursor: on PostgreSQL an UPDATE from one JSON document of
# rows (executemany would be a statement per contract, each through psycopg's Python;
# orjson writes the document in C), on SQLite the driver's executemany (no round trips;
# dates as SQLAlchemy stores them, ISO text).
_CHANGE_DATES_POSTGRESQL = (
    "UPDATE grants SET valid_from = (new->>1)::date, valid_to = (new->>2)::date"
    " FROM json_array_elements(%(changes)s::json) AS new"
    " WHERE grants.id = (new->>0)::integer"
)
_CHANGE_DATES_SQLITE = "UPDATE grants SET valid_from = ?, valid_to = ? WHERE id = ?"


def change_dates(conn: Connection, changes: Sequence[ContractDates], *, actor: str) -> None:
    """New start and end of contracts (BRS-NO-622 ``update``), each contract once, with
    their audit events and their parties' ``grant.changed``: one statement for all."""
    if not changes:
        return
    if conn.dialect.name == "postgresql":
        rows = [(change.grant_id, change.valid_from, change.valid_to) for change in changes]
        conn.exec_driver_sql(_CHANGE_DATES_POSTGRESQL, {"changes": orjson.dumps(rows).decode()})
    else:
        conn.exec_driver_sql(
            _CHANGE_DATES_SQLITE,
            [
                (
                    change.valid_from.isoformat(),
                    change.valid_to.isoformat() if change.valid_to else None,
                    change.grant_id,
                )
                for change in changes
            ],
        )
    audit.append_many(
        conn,
        [
            audit.Event(
                actor,
                "grant.updated",
                f"grant:{change.grant_id}",
                {
                    "valid_from": change.valid_from.isoformat(),
                    "valid_to": change.valid_to.isoformat() if change.valid_to else None,
                },
            )
            for change in changes
        ],
    )
    _announce(conn, [change.grant_id for change in changes], EventType.GRANT_CHANGED)


_END_AT_MOVE_OUT = (
    update(Grant)
    .where(Grant.id == bindparam("grant_id"))
    .values(valid_to=bindparam("move_out"), ended_reason=EndReason.MOVED_OUT.value)
)


def end_at_move_out(conn: Connection, metering_points: Select[int], *, actor: str) -> int:
    """Contracts whose end user has moved out of the metering point end at the move-out
    date, for every party, with their audit events and ``grant.ended`` (reason
    ``moved_out``); returns how many. Only the metering points ``metering_points``
    selects are looked at.

    Seed 001: "Ved utflytting ... beholder tredjepart mulighet for å spørre på data som
    er gyldig frem til utflyttingsdato" — the window ends at the move-out date, and the
    next resident's data is never the party's.
    """
    rows = conn.execute(
        select(Grant.id, SupplyPeriod.move_out)
        .join(
            SupplyPeriod,
            and_(
                SupplyPeriod.metering_point_id == Grant.metering_point_id,
                SupplyPeriod.end_user_id == Grant.end_user_id,
                SupplyPeriod.move_in <= Grant.valid_from,
                SupplyPeriod.move_out.is_not(None),
                SupplyPeriod.move_out > Grant.valid_from,
            ),
        )
        .where(
            Grant.metering_point_id.in_(metering_points),
            Grant.revoked_at.is_(None),
            or_(Grant.valid_to.is_(None), Grant.valid_to > SupplyPeriod.move_out),
        )
        .order_by(Grant.id)
    ).all()
    if not rows:
        return 0
    conn.execute(_END_AT_MOVE_OUT, [{"grant_id": row.id, "move_out": row.move_out} for row in rows])
    audit.append_many(
        conn,
        [
            audit.Event(
                actor,
                "grant.ended",
                f"grant:{row.id}",
                {"valid_to": row.move_out.isoformat(), "reason": EndReason.MOVED_OUT.value},
            )
            for row in rows
        ],
    )
    _announce(conn, [row.id for row in rows], EventType.GRANT_ENDED, EndReason.MOVED_OUT)
    return len(rows)


def mark_expired(
    conn: Connection, grant_ids: Sequence[int], *, today: dt.date, actor: str
) -> list[int]:
    """Record that these grants' end date has come (``ended_reason`` expired), with their
    audit events ``grant.expired`` and their parties' ``grant.ended``; returns the ids
    recorded, in order. A grant that was revoked, has not reached its end, or already
    ended for a reason is left as it is."""
    if not grant_ids:
        return []
    expired = sorted(
        conn.execute(
            update(Grant)
            .where(
                Grant.id.in_(grant_ids),
                Grant.valid_to <= today,
                Grant.ended_reason.is_(None),
                Grant.revoked_at.is_(None),
            )
            .values(ended_reason=EndReason.EXPIRED.value)
            .returning(Grant.id, Grant.valid_to)
        ).all()
    )
    audit.append_many(
        conn,
        [
            audit.Event(
                actor,
                "grant.expired",
                f"grant:{grant_id}",
                {
                    "valid_to": valid_to.isoformat() if valid_to else None,
                    "reason": EndReason.EXPIRED.value,
                },
            )
            for grant_id, valid_to in expired
        ],
    )
    expired_ids = [grant_id for grant_id, _ in expired]
    _announce(conn, expired_ids, EventType.GRANT_ENDED, EndReason.EXPIRED)
    return expired_ids
