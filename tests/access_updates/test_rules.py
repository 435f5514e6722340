"""The seed's validation table (seed 001, BRS-NO-622), each rule broken alone."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from consenthub.access_updates import rules
from consenthub.access_updates.rules import Action, Contract, ItemAsked, PointFacts
from consenthub.domain.errors import Code

MOVE_IN = dt.date(2022, 8, 1)
CONTRACT = Contract(70, MOVE_IN, None)
# A metering point on which every action but one is fine: a person lives there and the
# party has no contract and nothing pending.
FREE = PointFacts(
    registered=True,
    settlement_point=True,
    end_user_id=5,
    move_in=MOVE_IN,
    contract=None,
    pending=False,
)
HELD = replace(FREE, contract=CONTRACT)
ADD = ItemAsked(Action.ADD, None, None, None)
REMOVE = ItemAsked(Action.REMOVE, None, None, None)
UPDATE = ItemAsked(Action.UPDATE, None, dt.date(2030, 1, 1), None)


def test_items_that_break_no_rule_are_accepted() -> None:
    assert rules.judge(ADD, FREE) is None
    assert rules.judge(REMOVE, HELD) is None
    assert rules.judge(UPDATE, HELD) is None


@pytest.mark.parametrize("asked", [ADD, REMOVE, UPDATE], ids=["add", "remove", "update"])
def test_rule_1_the_metering_point_is_registered(asked: ItemAsked) -> None:
    unknown = PointFacts(False, False, None, None, None, False)
    assert rules.judge(asked, unknown) is Code.E10


@pytest.mark.parametrize(
    ("asked", "facts"),
    [(ADD, FREE), (REMOVE, HELD), (UPDATE, HELD)],
    ids=["add", "remove", "update"],
)
def test_rule_2_the_metering_point_is_a_settlement_point(
    asked: ItemAsked, facts: PointFacts
) -> None:
    assert rules.judge(asked, replace(facts, settlement_point=False)) is Code.EH010


def test_rule_3_an_add_needs_an_end_user_on_the_initiation_date() -> None:
    assert rules.judge(ADD, replace(FREE, end_user_id=None, move_in=None)) is Code.EH016
    assert rules.judge(UPDATE, replace(HELD, end_user_id=None)) is Code.EH016


def test_rule_5_an_add_while_the_party_has_an_active_contract_is_eh017() -> None:
    assert rules.judge(ADD, HELD) is Code.EH017


def test_rule_6_a_remove_or_update_without_an_active_contract_is_eh016() -> None:
    assert rules.judge(REMOVE, FREE) is Code.EH016
    assert rules.judge(UPDATE, FREE) is Code.EH016
    # A removal needs no end user: it ends what the party has.
    assert rules.judge(REMOVE, replace(HELD, end_user_id=None)) is None


def test_rule_7_an_add_with_a_request_already_pending_is_eh098() -> None:
    assert rules.judge(ADD, replace(FREE, pending=True)) is Code.EH098


def test_the_rules_are_judged_in_the_seeds_order() -> None:
    everything_wrong = PointFacts(True, False, None, None, CONTRACT, True)
    assert rules.judge(ADD, everything_wrong) is Code.EH010
    assert rules.judge(ADD, replace(everything_wrong, settlement_point=True)) is Code.EH016
    assert (
        rules.judge(ADD, replace(everything_wrong, settlement_point=True, end_user_id=5))
        is Code.EH017
    )


def test_extended_storage_may_only_be_set_to_true() -> None:
    assert (
        rules.judge(replace(ADD, extended_storage=False), FREE) is Code.EXTENDED_STORAGE_ONLY_TRUE
    )
    assert rules.judge(replace(ADD, extended_storage=True), FREE) is None


@pytest.mark.parametrize(
    ("asked", "facts"),
    [
        (replace(ADD, start=dt.date(2024, 1, 1)), FREE),
        (replace(ADD, end=MOVE_IN), FREE),
        (ItemAsked(Action.UPDATE, None, None, None), HELD),
        (replace(UPDATE, start=dt.date(2031, 1, 1)), HELD),
        (replace(REMOVE, end=dt.date(2030, 1, 1)), HELD),
    ],
    ids=[
        "add with start",
        "add ends at move-in",
        "update of nothing",
        "end before start",
        "remove with end",
    ],
)
def test_dates_must_fit_the_action(asked: ItemAsked, facts: PointFacts) -> None:
    assert rules.judge(asked, facts) is Code.CONTRACT_DATES_INVALID
