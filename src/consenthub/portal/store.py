"""What the portal shows an end user: only their own requests, grants and access log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from consenthub.store import audit
from consenthub.store.tables import (
    AccessLogEntry,
    AccessRequest,
    Grant,
    MeteringPoint,
    Party,
)


@dataclass(frozen=True)
class PendingRequest:
    id: str
    party_name: str
    process: str
    scope: str
    created_at: dt.datetime
    deadline: dt.datetime | None


@dataclass(frozen=True)
class GrantLine:
    id: int
    party_name: str
    gsrn: str
    address: str | None
    scope: str
    valid_from: dt.date
    valid_to: dt.date | None
    revoked: bool


@dataclass(frozen=True)
class DecidedRequest:
    party_name: str
    process: str
    status: str
    decided_at: dt.datetime | None


@dataclass(frozen=True)
class LogLine:
    at: dt.datetime
    party_name: str
    gsrn: str
    what: str
    period_from: dt.datetime | None
    period_to: dt.datetime | None


@dataclass(frozen=True)
class Overview:
    pending: list[PendingRequest]
    active: list[GrantLine]
    ended: list[GrantLine]
    decided: list[DecidedRequest]
    access_log: list[LogLine]


def overview(conn: Connection, end_user_id: int, today: dt.date, log_limit: int = 200) -> Overview:
    requests = conn.execute(
        select(
            AccessRequest.id,
            Party.name,
            AccessRequest.process,
            AccessRequest.scope,
            AccessRequest.status,
            AccessRequest.created_at,
            AccessRequest.deadline,
            AccessRequest.decided_at,
        )
        .join(Party, Party.id == AccessRequest.party_id)
        .where(AccessRequest.end_user_id == end_user_id)
        .order_by(AccessRequest.created_at.desc())
    ).all()
    grants = conn.execute(
        select(
            Grant.id,
            Party.name,
            MeteringPoint.gsrn,
            MeteringPoint.address,
            Grant.scope,
            Grant.valid_from,
            Grant.valid_to,
            Grant.revoked_at,
        )
        .join(Party, Party.id == Grant.party_id)
        .join(MeteringPoint, MeteringPoint.id == Grant.metering_point_id)
        .where(Grant.end_user_id == end_user_id)
        .order_by(Party.name, MeteringPoint.gsrn, Grant.valid_from)
    ).all()
    lines = [
        GrantLine(
            g.id,
            g.name,
            g.gsrn,
            g.address,
            g.scope,
            g.valid_from,
            g.valid_to,
            g.revoked_at is not None,
        )
        for g in grants
    ]
    log = conn.execute(
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
        .limit(log_limit)
    ).all()
    return Overview(
        pending=[
            PendingRequest(r.id, r.name, r.process, r.scope, r.created_at, r.deadline)
            for r in requests
            if r.status == "pending"
        ],
        active=[
            line
            for line in lines
            if not line.revoked and (line.valid_to is None or line.valid_to > today)
        ],
        ended=[
            line
            for line in lines
            if line.revoked or (line.valid_to is not None and line.valid_to <= today)
        ],
        decided=[
            DecidedRequest(r.name, r.process, r.status, r.decided_at)
            for r in requests
            if r.status != "pending"
        ],
        access_log=[LogLine(e.at, e.name, e.gsrn, e.what, e.period_from, e.period_to) for e in log],
    )


def end_grant(conn: Connection, grant_id: int, end_user_id: int, today: dt.date) -> bool:
    """End the end user's own live grant today; the party keeps data up to today."""
    row = conn.execute(
        select(Grant.valid_from, Grant.valid_to)
        .where(Grant.id == grant_id, Grant.end_user_id == end_user_id, Grant.revoked_at.is_(None))
        .with_for_update()
    ).first()
    if row is None or (row.valid_to is not None and row.valid_to <= today):
        return False
    end = max(today, row.valid_from)
    conn.execute(update(Grant).where(Grant.id == grant_id).values(valid_to=end))
    audit.append(
        conn,
        actor=f"end_user:{end_user_id}",
        action="grant.ended",
        subject=f"grant:{grant_id}",
        details={"valid_to": end.isoformat()},
    )
    return True
