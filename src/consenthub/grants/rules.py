"""Rules of grants (SPEC §2): party × metering point × scope × ``[valid_from, valid_to)``.
Pure: imports only ``domain``. Each rule cites the clause it comes from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from consenthub.domain.access import EndReason, Scope


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


class GrantStatus(StrEnum):
    """A grant as its party sees it in the grants API (SPEC §8), spelt as SPEC writes it."""

    ACTIVE = "Active"
    ENDED = "Ended"
    EXPIRED = "Expired"


@dataclass(frozen=True)
class GrantStanding:
    """A grant's status and how it ended (``None`` while it is active)."""

    status: GrantStatus
    ended_reason: EndReason | None


def grant_standing(
    valid_from: dt.date,
    valid_to: dt.date | None,
    ended_reason: EndReason | None,
    revoked: bool,
    today: dt.date,
) -> GrantStanding:
    """SPEC §8: status ``Active``, ``Ended`` or ``Expired``, and how each ended.

    - ``Active`` while the grant is live (``is_live``: not withdrawn, its end after
      today) and its window is not empty. A grant ended before it started keeps
      ``valid_to == valid_from`` (``end_today``), a window no day fits in: it never
      gives access, so it is not shown as active until its start comes.
    - ``Ended`` with ``revoked`` when it was withdrawn (``revoked_at``), whatever else
      it records: the party may read nothing more, not even inside its window.
    - ``Expired`` when it ran to its end date (no reason recorded, or ``expired``).
    - ``Ended`` with the recorded reason otherwise (the end user, a move-out, the
      party's removal).

    An ending recorded for a date still to come leaves the grant ``Active`` until
    then: the party keeps access up to its end (seed 001, BRS-NO-622), which
    ``validTo`` shows.
    """
    if revoked:
        return GrantStanding(GrantStatus.ENDED, EndReason.REVOKED)
    if is_live(valid_to, revoked, today) and (valid_to is None or valid_to > valid_from):
        return GrantStanding(GrantStatus.ACTIVE, None)
    if ended_reason is None or ended_reason is EndReason.EXPIRED:
        return GrantStanding(GrantStatus.EXPIRED, EndReason.EXPIRED)
    return GrantStanding(GrantStatus.ENDED, ended_reason)
