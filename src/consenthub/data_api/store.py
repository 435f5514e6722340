"""Queries of the data API: grants with supply periods, meter values, the access log.

Every lookup starts from the caller's party id and an indexed key (grants by
``(party_id, metering_point_id)``, values by ``(metering_point_id, start_ts)``),
so its cost does not grow with the number of metering points in the hub.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select

from consenthub.domain.windows import DateWindow, Interval, merge, readable_windows
from consenthub.store.tables import (
    AccessLogEntry,
    Grant,
    MeteringPoint,
    MeterValue,
    SupplyPeriod,
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
# than running it.
_GRANT_COLUMNS = (
    select(
        MeteringPoint.id,
        MeteringPoint.gsrn,
        MeteringPoint.settlement_point,
        MeteringPoint.address,
        MeteringPoint.postcode,
        MeteringPoint.city,
        MeteringPoint.grid_area,
        MeteringPoint.extended_storage,
        Grant.end_user_id,
        Grant.scope,
        Grant.valid_from,
        Grant.valid_to,
    )
    .join(Grant, Grant.metering_point_id == MeteringPoint.id)
    .where(Grant.party_id == bindparam("party_id"), Grant.revoked_at.is_(None))
)
_GRANTS_OF_ONE = _GRANT_COLUMNS.where(MeteringPoint.gsrn == bindparam("gsrn"))
_GRANTS_OF_PAGE = _GRANT_COLUMNS.where(
    MeteringPoint.gsrn.in_(bindparam("gsrns", expanding=True))
).order_by(MeteringPoint.gsrn)
_SUPPLY_PERIODS = select(
    SupplyPeriod.metering_point_id,
    SupplyPeriod.end_user_id,
    SupplyPeriod.move_in,
    SupplyPeriod.move_out,
).where(SupplyPeriod.metering_point_id.in_(bindparam("ids", expanding=True)))
_VALUES = (
    select(MeterValue.start_ts, MeterValue.wh)
    .where(
        MeterValue.metering_point_id == bindparam("metering_point_id"),
        MeterValue.start_ts >= bindparam("start"),
        MeterValue.start_ts < bindparam("end"),
    )
    .order_by(MeterValue.start_ts)
)
_INSERT_LOG = insert(AccessLogEntry)


def _supply_periods(
    conn: Connection, metering_point_ids: Sequence[int]
) -> dict[tuple[int, int], list[DateWindow]]:
    """Supply periods keyed by (metering point id, end user id)."""
    periods: dict[tuple[int, int], list[DateWindow]] = defaultdict(list)
    for start in range(0, len(metering_point_ids), 500):
        chunk = list(metering_point_ids[start : start + 500])
        for row in conn.execute(_SUPPLY_PERIODS, {"ids": chunk}):
            periods[(row.metering_point_id, row.end_user_id)].append(
                DateWindow(row.move_in, row.move_out)
            )
    return periods


def _assemble(
    conn: Connection, rows: Sequence[Row[*tuple[Any, ...]]], today: dt.date
) -> list[MeteringPointAccess]:
    periods = _supply_periods(conn, sorted({row.id for row in rows}))
    by_id: dict[int, MeteringPointAccess] = {}
    for row in rows:
        access = by_id.get(row.id)
        if access is None:
            access = MeteringPointAccess(
                row.id,
                row.gsrn,
                row.settlement_point,
                row.address,
                row.postcode,
                row.city,
                row.grid_area,
                row.extended_storage,
            )
            by_id[row.id] = access
        supply = periods.get((row.id, row.end_user_id), [])
        access.supply_periods[row.end_user_id] = supply
        windows = [
            window
            for window in readable_windows(DateWindow(row.valid_from, row.valid_to), supply)
            if window.start <= today
        ]
        access.grants.append(GrantView(row.end_user_id, row.scope, windows))
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
        .limit(limit)
    )
    if after is not None:
        page = page.where(MeteringPoint.gsrn > after)
    gsrns = list(conn.execute(page).scalars())
    if not gsrns:
        return [], None
    rows = conn.execute(_GRANTS_OF_PAGE, {"party_id": party_id, "gsrns": gsrns}).all()
    return _assemble(conn, rows, today), (gsrns[-1] if len(gsrns) == limit else None)


def metering_point_access(
    conn: Connection, party_id: int, gsrn: str, today: dt.date
) -> MeteringPointAccess | None:
    rows = conn.execute(_GRANTS_OF_ONE, {"party_id": party_id, "gsrn": gsrn}).all()
    found = _assemble(conn, rows, today)
    return found[0] if found else None


def meter_values(
    conn: Connection, metering_point_id: int, intervals: Sequence[Interval]
) -> list[tuple[int, int]]:
    """(start_ts, wh) of the values that start inside any of the intervals.

    One indexed range scan from the first interval's start to the last one's end;
    values in the gaps between intervals (another occupant's time) are dropped here.
    """
    if not intervals:
        return []
    rows = conn.execute(
        _VALUES,
        {
            "metering_point_id": metering_point_id,
            "start": intervals[0].start,
            "end": intervals[-1].end,
        },
    )
    return [
        (row.start_ts, row.wh)
        for row in rows
        if any(i.start <= row.start_ts < i.end for i in intervals)
    ]


@dataclass(frozen=True)
class Read:
    end_user_id: int
    metering_point_id: int
    what: str
    period_from: dt.datetime | None = None
    period_to: dt.datetime | None = None


def log_reads(
    conn: Connection, party_id: int, reads: Sequence[Read], correlation_id: str | None
) -> None:
    if not reads:
        return
    now = dt.datetime.now(dt.UTC)
    conn.execute(
        _INSERT_LOG,
        [
            {
                "at": now,
                "party_id": party_id,
                "end_user_id": read.end_user_id,
                "metering_point_id": read.metering_point_id,
                "what": read.what,
                "period_from": read.period_from,
                "period_to": read.period_to,
                "correlation_id": correlation_id,
            }
            for read in reads
        ],
    )
