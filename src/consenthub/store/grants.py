"""Grants: party × metering point × scope × ``[valid_from, valid_to)`` (SPEC §2)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, insert

from consenthub.store import audit
from consenthub.store.tables import Grant


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
    grant_id = int(
        conn.execute(
            insert(Grant)
            .values(
                party_id=party_id,
                metering_point_id=metering_point_id,
                end_user_id=end_user_id,
                scope=scope,
                valid_from=valid_from,
                valid_to=valid_to,
                access_request_id=access_request_id,
                created_at=dt.datetime.now(dt.UTC),
            )
            .returning(Grant.id)
        ).scalar_one()
    )
    audit.append(
        conn,
        actor=actor,
        action="grant.created",
        subject=f"grant:{grant_id}",
        details={
            "party_id": party_id,
            "metering_point_id": metering_point_id,
            "scope": scope,
            "valid_from": valid_from.isoformat(),
            "valid_to": valid_to.isoformat() if valid_to else None,
        },
    )
    return grant_id
