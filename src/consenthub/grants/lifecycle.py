"""Steps of the grant lifecycle that run inside another package's transaction: an
approval of an access request becomes grants here, in the decision's own transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from consenthub.domain.access import Scope
from consenthub.grants import store
from consenthub.grants.rules import plan_approval


@dataclass(frozen=True)
class ApprovedPoint:
    """A metering point the person approved, with the contract's start (the person's
    move-in date; DH-831: the requested validFrom), and what the request asked for it
    alone (BRS-NO-622: its own end, extended storage)."""

    id: int
    gsrn: str
    start: dt.date
    end: dt.date | None = None
    extended_storage: bool = False


@dataclass(frozen=True)
class Contract:
    """A grant as the seeds' return messages name it: ``{meteringPointId, start, end}``."""

    metering_point_id: str
    start: dt.date
    end: dt.date | None


def approve(
    conn: Connection,
    *,
    party_id: int,
    end_user_id: int,
    points: Sequence[ApprovedPoint],
    scope: Scope,
    end: dt.date | None,
    access_request_id: str,
    today: dt.date,
    actor: str,
) -> list[Contract]:
    """Grants for the approved metering points, each from its start (seed 000 / SPEC §4.5:
    the person's move-in date); a live grant of the party on a metering point is changed instead
    (``rules.plan_approval``). Set-based: one query, one INSERT, one UPDATE per distinct
    change, however many metering points."""
    live = store.live_grants(
        conn,
        party_id=party_id,
        end_user_id=end_user_id,
        metering_point_ids=[point.id for point in points],
        today=today,
    )
    ends = {point.id: point.end or end for point in points}
    extended = frozenset(point.id for point in points if point.extended_storage)
    plan = plan_approval([point.id for point in points], live, scope, ends, extended)
    by_id = {point.id: point for point in points}
    store.create_grants(
        conn,
        [
            store.NewGrant(
                party_id,
                metering_point_id,
                end_user_id,
                scope.value,
                by_id[metering_point_id].start,
                ends[metering_point_id],
                access_request_id,
                metering_point_id in extended,
            )
            for metering_point_id in plan.create
        ],
        actor=actor,
    )
    if plan.change:
        store.change_grants(conn, plan.change, access_request_id=access_request_id, actor=actor)
    kept = {change.metering_point_id: change.valid_to for change in plan.change}
    return [
        Contract(point.gsrn, point.start, kept.get(point.id, ends[point.id])) for point in points
    ]
