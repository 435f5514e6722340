"""Grants: party × metering point × scope × ``[valid_from, valid_to)`` (SPEC §2)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import Connection, insert

from consenthub.store import audit
from consenthub.store.tables import Grant


@dataclass(frozen=True)
class NewGrant:
    party_id: int
    metering_point_id: int
    end_user_id: int
    scope: str
    valid_from: dt.date
    valid_to: dt.date | None = None
    access_request_id: str | None = None


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
    """Record grants and their audit events in the caller's transaction, with one INSERT
    each for all of them; returns their ids in the given order."""
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
    return ids
