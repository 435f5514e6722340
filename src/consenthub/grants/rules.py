"""Rules of grants (SPEC §2): party × metering point × scope × ``[valid_from, valid_to)``.
Pure: imports only ``domain``. Each rule cites the clause it comes from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from consenthub.domain.access import Scope


@dataclass(frozen=True)
class LiveGrant:
    """A grant that still gives access today."""

    id: int
    metering_point_id: int
    scope: Scope
    valid_from: dt.date
    valid_to: dt.date | None
    extended_storage: bool = False


@dataclass(frozen=True)
class GrantChange:
    grant_id: int
    metering_point_id: int
    scope: Scope
    valid_to: dt.date | None
    extended_storage: bool = False


@dataclass(frozen=True)
class ApprovalPlan:
    """Which metering points get a new grant, and which live grants change."""

    create: list[int]
    change: list[GrantChange]


def is_live(valid_to: dt.date | None, revoked: bool, today: dt.date) -> bool:
    """A grant gives access until its end date (exclusive) unless it was withdrawn.

    SPEC §2: validity ``[start, end)``; seed 001 (BRS-NO-622): the party keeps access to
    data valid up to the end date.
    """
    return not revoked and (valid_to is None or valid_to > today)


def kept_end(existing_end: dt.date | None, chosen_end: dt.date | None) -> dt.date | None:
    """The end of a live grant that a new approval covers: the later of the two, an open
    end being the latest. An approval never silently shortens access the party has.

    consenthub's rule (docs/decisions.md, "Approving again never shortens access"): seed
    000 lets the end user choose an end for the new contract; it says nothing of cutting
    an existing one short, which the person does with "End" in Min side (SPEC §4.7).
    """
    if existing_end is None or chosen_end is None:
        return None
    return max(existing_end, chosen_end)


def plan_approval(
    chosen: Sequence[int],
    live: Mapping[int, LiveGrant],
    scope: Scope,
    ends: Mapping[int, dt.date | None],
    extended: frozenset[int] = frozenset(),
) -> ApprovalPlan:
    """An approval updates the party's live grant on a metering point and creates a grant
    on each of the others; ``ends`` and ``extended`` are what the request asks per
    metering point. Extended storage once asked stays (SPEC §5: it "may only be set to
    true").

    Seed 001 (BRS-NO-622) rule 5: a party has at most one active contract on a metering
    point (``EH017``); so approving again changes the contract rather than adding one.
    """
    create: list[int] = []
    change: list[GrantChange] = []
    for metering_point_id in chosen:
        grant = live.get(metering_point_id)
        if grant is None:
            create.append(metering_point_id)
        else:
            change.append(
                GrantChange(
                    grant.id,
                    metering_point_id,
                    scope,
                    kept_end(grant.valid_to, ends.get(metering_point_id)),
                    grant.extended_storage or metering_point_id in extended,
                )
            )
    return ApprovalPlan(create, change)


def end_today(valid_from: dt.date, today: dt.date) -> dt.date:
    """Ending a grant ends it today (never before it started); the party keeps read access
    to data valid up to that date.

    Seed 001 (BRS-NO-622): "remove ends the contract immediately (end = today)"; SPEC §5.
    """
    return max(today, valid_from)
