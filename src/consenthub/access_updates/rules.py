"""Rules of message-initiated access updates (seed 001, Elhub BRS-NO-622). Pure: imports
only ``domain``. The seed's validation table is judged per item, in its order; the first
rule an item breaks is its answer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from consenthub.domain.errors import Code

# Seed 001, "Tidsfrister": the end user's approval, 30 calendar days.
APPROVAL_DEADLINE = dt.timedelta(days=30)


class Action(StrEnum):
    """Elhub's UpdateIndicator: Add, Delete, Update."""

    ADD = "add"
    REMOVE = "remove"
    UPDATE = "update"


@dataclass(frozen=True)
class Contract:
    """The party's active contract (live grant) on a metering point."""

    grant_id: int
    valid_from: dt.date
    valid_to: dt.date | None


@dataclass(frozen=True)
class PointFacts:
    """What the hub knows of one metering point, for one party, on the initiation date."""

    registered: bool
    settlement_point: bool
    end_user_id: int | None
    move_in: dt.date | None
    contract: Contract | None
    pending: bool


@dataclass(frozen=True)
class ItemAsked:
    action: Action
    start: dt.date | None
    end: dt.date | None
    extended_storage: bool | None


def registered(facts: PointFacts) -> Code | None:
    """Seed 001 rule 1: "Målepunktet må være registrert i Elhub" — E10."""
    return None if facts.registered else Code.E10


def settlement_point(facts: PointFacts) -> Code | None:
    """Seed 001 rule 2: "Målepunkt må være et avregningspunkt" — EH010."""
    return None if facts.settlement_point else Code.EH010


def has_end_user(facts: PointFacts) -> Code | None:
    """Seed 001 rule 3: "Målepunktet må ha en sluttbruker på initieringsdato for prosessen"
    — EH016. Judged for add and update: a removal ends what the party has, lived in or
    not (rule 6)."""
    return None if facts.end_user_id is not None else Code.EH016


def no_active_contract(facts: PointFacts) -> Code | None:
    """Seed 001 rule 5: "Tredjepart skal ikke ha en aktiv tredjepartskontrakt i målepunktet
    hvis tilgang etterspørres" — EH017, on add."""
    return None if facts.contract is None else Code.EH017


def active_contract(facts: PointFacts) -> Code | None:
    """Seed 001 rule 6: "Tredjepart må ha en aktiv tredjepartskontrakt i målepunktet hvis
    tilgang fjernes" — EH016, on remove (and on update, which changes that contract)."""
    return None if facts.contract is not None else Code.EH016


def nothing_pending(facts: PointFacts) -> Code | None:
    """Seed 001 rule 7: "Forespørsel fra tredjepart foreligger allerede" — EH098, on add."""
    return Code.EH098 if facts.pending else None


def extended_storage_only_true(asked: ItemAsked) -> Code | None:
    """Seed 001 ("utvide lagring av måleverdier") via SPEC §5: ``extendedStorage`` may only
    be set to true — consenthub's CH4101."""
    return Code.EXTENDED_STORAGE_ONLY_TRUE if asked.extended_storage is False else None


def dates_fit(asked: ItemAsked, facts: PointFacts) -> Code | None:
    """Seed 001: "Tilgang for tredjepart blir gitt tilbake til sluttbrukerens
    innflyttingsdato", so an add takes no ``start``; an update changes the contract's
    start or end, so it needs one; an end comes after the start — consenthub's CH4102."""
    if asked.action is Action.ADD:
        if asked.start is not None:
            return Code.CONTRACT_DATES_INVALID
        return _end_after(facts.move_in, asked.end)
    if asked.action is Action.UPDATE:
        if asked.start is None and asked.end is None:
            return Code.CONTRACT_DATES_INVALID
        start = asked.start or (facts.contract.valid_from if facts.contract else None)
        return _end_after(start, asked.end)
    if asked.start is not None or asked.end is not None:
        return Code.CONTRACT_DATES_INVALID
    return None


def _end_after(start: dt.date | None, end: dt.date | None) -> Code | None:
    if start is not None and end is not None and end <= start:
        return Code.CONTRACT_DATES_INVALID
    return None


_CHECKS = {
    Action.ADD: (registered, settlement_point, has_end_user, no_active_contract, nothing_pending),
    Action.REMOVE: (registered, settlement_point, active_contract),
    Action.UPDATE: (registered, settlement_point, has_end_user, active_contract),
}


def judge(asked: ItemAsked, facts: PointFacts) -> Code | None:
    """The first rule the item breaks, in the seed's order, then consenthub's own; None
    when it is accepted. (Rule 4, EH088, is the outcome of an add the end user rejects
    or lets expire, not a check of the message.)"""
    for check in _CHECKS[asked.action]:
        code = check(facts)
        if code is not None:
            return code
    return extended_storage_only_true(asked) or dates_fit(asked, facts)
