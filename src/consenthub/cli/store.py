"""All SQL of the operator's commands beyond the processes' own: finding an end user by
national identity number, and what the data API read of theirs (the access log)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, select

from consenthub.store.id_cipher import NationalIdCipher
from consenthub.store.tables import AccessLogEntry, EndUser, MeteringPoint, Party


@dataclass(frozen=True)
class FoundEndUser:
    id: int
    national_id: str
    kind: str
    name: str | None


@dataclass(frozen=True)
class Read:
    """One read of the person's data through the data API."""

    at: dt.datetime
    party_client_id: str
    party_name: str
    gsrn: str
    what: str
    period_from: dt.datetime | None
    period_to: dt.datetime | None


def end_user_by_national_id(
    conn: Connection, ids: NationalIdCipher, national_id: str
) -> FoundEndUser | None:
    """The person with this (canonical) number, found by its keyed hash: the number is
    stored sealed, so the one typed is the one shown."""
    row = conn.execute(
        select(EndUser.id, EndUser.kind, EndUser.name).where(
            EndUser.national_id_hash == ids.lookup_hash(national_id)
        )
    ).one_or_none()
    return None if row is None else FoundEndUser(row.id, national_id, row.kind, row.name)


def access_log(conn: Connection, end_user_id: int, limit: int) -> list[Read]:
    """The person's latest reads, newest first."""
    rows = conn.execute(
        select(
            AccessLogEntry.at,
            Party.client_id,
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
    return [Read(*row) for row in rows]
