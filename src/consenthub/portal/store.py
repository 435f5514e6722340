"""All SQL of Min side beyond the shared lifecycles: the person's access log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, select

from consenthub.store.tables import AccessLogEntry, MeteringPoint, Party


@dataclass(frozen=True)
class LogLine:
    at: dt.datetime
    party_name: str
    gsrn: str
    what: str
    period_from: dt.datetime | None
    period_to: dt.datetime | None


def access_log(conn: Connection, end_user_id: int, limit: int) -> list[LogLine]:
    rows = conn.execute(
        select(
            AccessLogEntry.at,
            Party.name,
            MeteringPoint.gsrn,
            AccessLogEntry.what,
            AccessLogEntry.period_from,
            AccessLogEntry.period_to,
        )
        .join(Party, Party.id == AccessLogEntry.party_id)
        .join(MeteringPoint, MeteringPoint.id == AccessLogEntry.metering_point_id)
        .where(AccessLogEntry.end_user_id == end_user_id)
        .order_by(AccessLogEntry.at.desc(), AccessLogEntry.id.desc())
        .limit(limit)
    ).all()
    return [LogLine(e.at, e.name, e.gsrn, e.what, e.period_from, e.period_to) for e in rows]
