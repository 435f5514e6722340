"""Queries of the data API: grants with supply periods, meter values, the access log, and
a party's own grants (the grants API).

Every lookup starts from the caller's party id and an indexed key (grants by
``(party_id, metering_point_id)``, values by ``(metering_point_id, start_ts)``),
so its cost does not grow with the number of metering points in the hub.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    and_,
    bindparam,
    insert,
    literal,
    not_,
    or_,
    select,
)

from consenthub.domain.access import EndReason, Scope
from consenthub.domain.windows import DateWindow, Interval, merge, readable_windows
from consenthub.grants import GrantStatus
from consenthub.store.prepared import Prepared, as_date, db_instant
from consenthub.store.tables import (
    AccessLogEntry,
    Grant,
    MeteringPoint,
    MeterValue,
    Party,
    SupplyPeriod,
)
from consenthub.token_service import (
    LIVE_PARTY_WHERE,
    LIVENESS_COLUMNS,
    liveness_parameters,
    party_if_live,
)


@dataclass(frozen=True)
class GrantView:
    end_user_id: int
    scope: str
    windows: list[DateWindow]


@dataclass
class MeteringPointAccess:
    """A metering point as one party may see it, with the windows its grants open."""

    id: int
    gsrn: str
    settlement_point: bool
    address: str | None
    postcode: str | None
    city: str | None
    grid_area: str | None
    extended_storage: bool
    grants: list[GrantView] = field(default_factory=list)
    supply_periods: dict[int, list[DateWindow]] = field(default_factory=dict)

    @property
    def full(self) -> bool:
        return any(grant.scope == "Full" and grant.windows for grant in self.grants)

    def windows(self) -> list[DateWindow]:
        return merge(window for grant in self.grants for window in grant.windows)

    def end_users_in(self, interval_days: DateWindow) -> list[int]:
        return sorted(
            {
                grant.end_user_id
                for grant in self.grants
                if any(w.intersect(interval_days) for w in grant.windows)
            }
        )


# Built once with bind parameters: on the hot path, building a statement costs more
# than running it. Each grant comes with the granting end user's supply periods on
# that metering point (one row per period), so one statement answers both.
_ACCESS_COLUMNS = (
    MeteringPoint.id,
    MeteringPoint.gsrn,
    MeteringPoint.settlement_point,
    MeteringPoint.address,
    MeteringPoint.postcode,
    MeteringPoint.city,
    MeteringPoint.grid_area,
    MeteringPoint.extended_storage,
    Grant.id.label("grant_id"),
    Grant.end_user_id,
    Grant.scope,
    Grant.valid_from,
    Grant.valid_to,
    SupplyPeriod.move_in,
    SupplyPeriod.move_out,
)
_GRANT_ID = 8  # where ``grant_id`` is in ``_ACCESS_COLUMNS``
_SUPPLY_PERIOD_OF_GRANTOR = and_(
    SupplyPeriod.metering_point_id == MeteringPoint.id,
    SupplyPeriod.end_user_id == Grant.end_user_id,
)
_GRANTS_OF_PAGE = (
    select(*_ACCESS_COLUMNS)
    .join(Grant, Grant.metering_point_id == MeteringPoint.id)
    .outerjoin(SupplyPeriod, _SUPPLY_PERIOD_OF_GRANTOR)
    .where(
        Grant.party_id == bindparam("party_id"),
        Grant.revoked_at.is_(None),
        MeteringPoint.gsrn.in_(bindparam("gsrns", expanding=True)),
    )
    .order_by(MeteringPoint.gsrn)
)
# One metering point for one token: the token's liveness and the party's grants in one
# statement, one round trip. The party's row is always there (one row of NULL access
# columns when there is no such metering point or grant), so liveness is always answered.
_LIVE_GRANTS_OF_ONE = (
    select(*LIVENESS_COLUMNS, *_ACCESS_COLUMNS)
    .select_from(Party)
    .outerjoin(MeteringPoint, MeteringPoint.gsrn == bindparam("gsrn"))
    .outerjoin(
        Grant,
        and_(
            Grant.party_id == Party.id,
            Grant.metering_point_id == MeteringPoint.id,
            Grant.revoked_at.is_(None),
        ),
    )
    .outerjoin(SupplyPeriod, _SUPPLY_PERIOD_OF_GRANTOR)
    .where(LIVE_PARTY_WHERE)
)
_LIVENESS_WIDTH = len(LIVENESS_COLUMNS)
_VALUES = (
    select(MeterValue.start_ts, MeterValue.wh)
    .where(
        MeterValue.metering_point_id == bindparam("metering_point_id"),
        MeterValue.start_ts >= bindparam("start"),
        MeterValue.start_ts < bindparam("end"),
    )
    .order_by(MeterValue.start_ts)
)
_PREPARED_LIVE_GRANTS_OF_ONE = Prepared(_LIVE_GRANTS_OF_ONE)
_PREPARED_VALUES = Prepared(_VALUES)
_PREPARED_INSERT_LOG = Prepared(
    insert(AccessLogEntry).values(
        {
            column: bindparam(column)
            for column in (
                "at",
                "party_id",
                "end_user_id",
                "metering_point_id",
                "what",
                "period_from",
                "period_to",
                "correlation_id",
            )
        }
    )
)


def _assemble(rows: Sequence[Sequence[Any]], today: dt.date) -> list[MeteringPointAccess]:
    """Rows of ``_ACCESS_COLUMNS`` (SQLAlchemy rows or the driver's tuples) by metering point."""
    by_id: dict[int, MeteringPointAccess] = {}
    grants: dict[int, tuple[MeteringPointAccess, Sequence[Any], list[DateWindow]]] = {}
    for row in rows:
        mp_id, gsrn, settlement, address, postcode, city, grid_area, extended = row[:8]
        access = by_id.get(mp_id)
        if access is None:
            access = by_id[mp_id] = MeteringPointAccess(
                mp_id,
                gsrn,
                bool(settlement),
                address,
                postcode,
                city,
                grid_area,
                bool(extended),
            )
        entry = grants.setdefault(row[8], (access, row, []))
        move_in = as_date(row[13])
        if move_in is not None:
            entry[2].append(DateWindow(move_in, as_date(row[14])))
    for access, row, supply in grants.values():
        end_user_id, scope, valid_from, valid_to = row[9:13]
        access.supply_periods[end_user_id] = supply
        granted = DateWindow(as_date(valid_from), as_date(valid_to))  # type: ignore[arg-type]
        windows = [window for window in readable_windows(granted, supply) if window.start <= today]
        access.grants.append(GrantView(end_user_id, scope, windows))
    return [access for access in by_id.values() if access.windows()]


def accessible_metering_points(
    conn: Connection, party_id: int, today: dt.date, *, after: str | None, limit: int
) -> tuple[list[MeteringPointAccess], str | None]:
    """One page of metering points with a readable window, by GSRN, and the next cursor.

    A page examines ``limit`` granted metering points; those whose grants open
    no window yet are left out, so a page may hold fewer, and the cursor says
    where the next one starts.
    """
    page = (
        select(MeteringPoint.gsrn)
        .distinct()
        .join(Grant, Grant.metering_point_id == MeteringPoint.id)
        .where(Grant.party_id == party_id, Grant.revoked_at.is_(None))
        .order_by(MeteringPoint.gsrn)
        .limit(limit + 1)
    )
    if after is not None:
        page = page.where(MeteringPoint.gsrn > after)
    found = list(conn.execute(page).scalars())
    gsrns = found[:limit]
    if not gsrns:
        return [], None
    rows = conn.execute(_GRANTS_OF_PAGE, {"party_id": party_id, "gsrns": gsrns}).all()
    # One more than a page tells whether a next page exists: the last page has no cursor.
    return _assemble(rows, today), (gsrns[-1] if len(found) > limit else None)


def live_metering_point_access(
    conn: Connection, claims: dict[str, Any], gsrn: str, today: dt.date
) -> tuple[int | None, MeteringPointAccess | None]:
    """The token's party id if the token is live (``tokens.party_if_live``), and what the
    party may see of the metering point ``gsrn``, if anything."""
    rows = _PREPARED_LIVE_GRANTS_OF_ONE.rows(conn, gsrn=gsrn, **liveness_parameters(claims))
    party_id = party_if_live(rows[0]) if rows else None
    if party_id is None:
        return None, None
    width = _LIVENESS_WIDTH
    granted = [row[width:] for row in rows if row[width + _GRANT_ID] is not None]
    found = _assemble(granted, today)
    return party_id, (found[0] if found else None)


def meter_values(
    conn: Connection, metering_point_id: int, intervals: Sequence[Interval]
) -> Sequence[tuple[int, int]]:
    """(start_ts, wh) of the values that start inside any of the intervals.

    One indexed range scan from the first interval's start to the last one's end;
    values in the gaps between intervals (another occupant's time) are dropped here.
    """
    if not intervals:
        return []
    rows = _PREPARED_VALUES.rows(
        conn,
        metering_point_id=metering_point_id,
        start=intervals[0].start,
        end=intervals[-1].end,
    )
    if len(intervals) == 1:  # the scan's own bounds: nothing to drop
        return rows
    return [
        (start_ts, wh)
        for start_ts, wh in rows
        if any(i.start <= start_ts < i.end for i in intervals)
    ]


@dataclass(frozen=True)
class Read:
    end_user_id: int
    metering_point_id: int
    what: str
    period_from: dt.datetime | None = None
    period_to: dt.datetime | None = None


# Rows per INSERT: 8 bind parameters each stays far below SQLite's and PostgreSQL's
# limits (32,766 and 65,535 parameters per statement).
_LOG_ROWS_PER_STATEMENT = 1000


def log_reads(
    conn: Connection, party_id: int, reads: Sequence[Read], correlation_id: str | None
) -> None:
    """The access log entries of one request, in as few statements as the parameter limits
    allow: one for a read of one metering point (its entries are one per end user whose
    grant opens the period), so it is atomic even in autocommit mode
    (``Database.reads_and_one_write``); chunks of 1,000 for a list page, which runs in a
    transaction (``Database.transact``)."""
    if not reads:
        return
    now = dt.datetime.now(dt.UTC)
    if len(reads) == 1:
        read = reads[0]
        sqlite = conn.dialect.name == "sqlite"
        _PREPARED_INSERT_LOG.run(
            conn,
            at=db_instant(now, sqlite=sqlite),
            party_id=party_id,
            end_user_id=read.end_user_id,
            metering_point_id=read.metering_point_id,
            what=read.what,
            period_from=db_instant(read.period_from, sqlite=sqlite),
            period_to=db_instant(read.period_to, sqlite=sqlite),
            correlation_id=correlation_id,
        )
        return
    shared = {"at": now, "party_id": party_id, "correlation_id": correlation_id}
    rows = [asdict(read) | shared for read in reads]
    for start in range(0, len(rows), _LOG_ROWS_PER_STATEMENT):
        conn.execute(insert(AccessLogEntry).values(rows[start : start + _LOG_ROWS_PER_STATEMENT]))


@dataclass(frozen=True)
class PartyGrant:
    """One of a party's grants as the party may see it: ids, dates and terms, never who
    granted it."""

    id: int
    gsrn: str
    scope: Scope
    valid_from: dt.date
    valid_to: dt.date | None
    ended_reason: EndReason | None
    revoked: bool
    extended_storage: bool
    access_request_id: str | None
    created_at: dt.datetime


_PARTY_GRANTS = select(
    Grant.id,
    MeteringPoint.gsrn,
    Grant.scope,
    Grant.valid_from,
    Grant.valid_to,
    Grant.ended_reason,
    Grant.revoked_at,
    Grant.extended_storage,
    Grant.access_request_id,
    Grant.created_at,
).join(MeteringPoint, MeteringPoint.id == Grant.metering_point_id)


def _bound_id(value: int) -> ColumnElement[int]:
    """A grant id as asked, bound as a 64-bit integer: ``grants.id`` is 32 bits on
    PostgreSQL, which refuses a larger number bound as its type, but such a number is
    only an id that no grant has."""
    return literal(value, BigInteger)


def _party_grant(row: Any) -> PartyGrant:
    return PartyGrant(
        row.id,
        row.gsrn,
        Scope(row.scope),
        row.valid_from,
        row.valid_to,
        EndReason(row.ended_reason) if row.ended_reason else None,
        row.revoked_at is not None,
        bool(row.extended_storage),
        row.access_request_id,
        row.created_at,
    )


def _has_status(status: GrantStatus, today: dt.date) -> ColumnElement[bool]:
    """``grants.grant_standing``'s status as a condition, so that the database cuts a
    filtered page; tests/data_api/test_grants_api.py keeps the two in step. None of the
    parts is ever NULL, so their negations are exact."""
    withdrawn = Grant.revoked_at.is_not(None)
    active = and_(
        not_(withdrawn),
        or_(
            Grant.valid_to.is_(None),
            and_(Grant.valid_to > today, Grant.valid_to > Grant.valid_from),
        ),
    )
    ran_to_its_end = or_(
        Grant.ended_reason.is_(None), Grant.ended_reason == EndReason.EXPIRED.value
    )
    expired = and_(not_(withdrawn), not_(active), ran_to_its_end)
    return {
        GrantStatus.ACTIVE: active,
        GrantStatus.EXPIRED: expired,
        GrantStatus.ENDED: not_(or_(active, expired)),
    }[status]


def party_grants(
    conn: Connection,
    party_id: int,
    today: dt.date,
    *,
    status: GrantStatus | None,
    after: int | None,
    limit: int,
) -> tuple[list[PartyGrant], int | None]:
    """One page of the party's grants of every process, by id after ``after``, and the
    id to continue after when more follow (``None`` on the last page)."""
    query = _PARTY_GRANTS.where(Grant.party_id == party_id)
    if status is not None:
        query = query.where(_has_status(status, today))
    if after is not None:
        query = query.where(Grant.id > _bound_id(after))
    # One row more than the page says whether another page follows, so the last page
    # carries no cursor (issue 15), even when it is exactly full.
    rows = conn.execute(query.order_by(Grant.id).limit(limit + 1)).all()
    page = [_party_grant(row) for row in rows[:limit]]
    return page, (page[-1].id if len(rows) > limit else None)


def party_grant(conn: Connection, party_id: int, grant_id: int) -> PartyGrant | None:
    """The party's grant ``grant_id``; None for an unknown id and another party's alike."""
    row = conn.execute(
        _PARTY_GRANTS.where(Grant.id == _bound_id(grant_id), Grant.party_id == party_id)
    ).first()
    return None if row is None else _party_grant(row)
