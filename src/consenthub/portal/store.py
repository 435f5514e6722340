"""All SQL of Min side beyond the shared lifecycles: the person's access log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, func, select

from consenthub.store.tables import AccessLogEntry, MeteringPoint, Party


@dataclass(frozen=True)
class LogLine:
    at: dt.datetime
    party_name: str
    gsrn: str
    what: str
    period_from: dt.datetime | None
    period_to: dt.datetime | None
    party_id: int | None = None


@dataclass(frozen=True)
class LogFilter:
    """Which reads the person looks at: all, one third party's, one metering point's."""

    party_id: int | None = None
    gsrn: str | None = None


def _where(end_user_id: int, only: LogFilter) -> list[ColumnElement[bool]]:
    conditions = [AccessLogEntry.end_user_id == end_user_id]
    if only.party_id is not None:
        conditions.append(AccessLogEntry.party_id == only.party_id)
    if only.gsrn is not None:
        conditions.append(MeteringPoint.gsrn == only.gsrn)
    return conditions


def access_log(
    conn: Connection,
    end_user_id: int,
    limit: int,
    *,
    only: LogFilter = LogFilter(),
    offset: int = 0,
) -> list[LogLine]:
    rows = conn.execute(
        select(
            AccessLogEntry.at,
            Party.name,
            MeteringPoint.gsrn,
            AccessLogEntry.what,
            AccessLogEntry.period_from,
            AccessLogEntry.period_to,
            AccessLogEntry.party_id,
        )
        .join(Party, Party.id == AccessLogEntry.party_id)
        .join(MeteringPoint, MeteringPoint.id == AccessLogEntry.metering_point_id)
        .where(*_where(end_user_id, only))
        .order_by(AccessLogEntry.at.desc(), AccessLogEntry.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        LogLine(e.at, e.name, e.gsrn, e.what, e.period_from, e.period_to, e.party_id) for e in rows
    ]


def access_log_count(conn: Connection, end_user_id: int, only: LogFilter) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(AccessLogEntry)
            .join(MeteringPoint, MeteringPoint.id == AccessLogEntry.metering_point_id)
            .where(*_where(end_user_id, only))
        ).scalar_one()
    )


def access_log_choices(
    conn: Connection, end_user_id: int
) -> tuple[list[tuple[int, str]], list[str]]:
    """The third parties (id, name) and metering points that appear in the person's log:
    what the filter offers."""
    parties = conn.execute(
        select(Party.id, Party.name)
        .where(
            Party.id.in_(
                select(AccessLogEntry.party_id).where(AccessLogEntry.end_user_id == end_user_id)
            )
        )
        .order_by(Party.name, Party.id)
    ).all()
    points = conn.execute(
        select(MeteringPoint.gsrn)
        .where(
            MeteringPoint.id.in_(
                select(AccessLogEntry.metering_point_id).where(
                    AccessLogEntry.end_user_id == end_user_id
                )
            )
        )
        .order_by(MeteringPoint.gsrn)
    ).scalars()
    return [(row.id, row.name) for row in parties], list(points)
