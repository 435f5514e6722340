"""The pure rules of grants, each on its own."""

from __future__ import annotations

import datetime as dt

from consenthub.domain.access import EndReason, Scope
from consenthub.grants import GrantStatus, rules

TODAY = dt.date(2026, 3, 2)


def test_a_grant_is_live_until_its_end_date_unless_withdrawn() -> None:
    assert rules.is_live(None, False, TODAY)
    assert rules.is_live(TODAY + dt.timedelta(days=1), False, TODAY)
    assert not rules.is_live(TODAY, False, TODAY)
    assert not rules.is_live(TODAY - dt.timedelta(days=1), False, TODAY)
    assert not rules.is_live(None, True, TODAY)


def test_an_approval_keeps_the_later_end_and_an_open_end_is_latest() -> None:
    early, late = dt.date(2026, 6, 1), dt.date(2027, 6, 1)
    assert rules.kept_end(None, late) is None
    assert rules.kept_end(late, None) is None
    assert rules.kept_end(None, None) is None
    assert rules.kept_end(late, early) == late
    assert rules.kept_end(early, late) == late


def test_an_approval_changes_the_live_grant_and_creates_the_others() -> None:
    live = {
        7: rules.LiveGrant(70, 7, Scope.LIMITED, dt.date(2024, 1, 1), None),
        8: rules.LiveGrant(80, 8, Scope.FULL, dt.date(2024, 1, 1), dt.date(2026, 4, 1)),
    }
    end = dt.date(2026, 12, 1)
    plan = rules.plan_approval([7, 8, 9], live, Scope.FULL, {7: end, 8: end, 9: end})
    assert plan.create == [9]
    assert plan.change == [
        rules.GrantChange(70, 7, Scope.FULL, None),
        rules.GrantChange(80, 8, Scope.FULL, end),
    ]


def test_extended_storage_once_asked_stays() -> None:
    live = {
        7: rules.LiveGrant(70, 7, Scope.FULL, dt.date(2024, 1, 1), None, extended_storage=True),
        8: rules.LiveGrant(80, 8, Scope.FULL, dt.date(2024, 1, 1), None),
    }
    plan = rules.plan_approval([7, 8], live, Scope.FULL, {}, extended=frozenset({8}))
    assert [change.extended_storage for change in plan.change] == [True, True]
    plan = rules.plan_approval([7, 8], live, Scope.FULL, {})
    assert [change.extended_storage for change in plan.change] == [True, False]


def test_ending_a_grant_ends_it_today_never_before_its_start() -> None:
    assert rules.end_today(dt.date(2024, 1, 1), TODAY) == TODAY
    later_start = TODAY + dt.timedelta(days=10)
    assert rules.end_today(later_start, TODAY) == later_start


def standing(
    valid_from: dt.date,
    valid_to: dt.date | None,
    reason: EndReason | None = None,
    revoked: bool = False,
) -> tuple[GrantStatus, EndReason | None]:
    found = rules.grant_standing(valid_from, valid_to, reason, revoked, TODAY)
    return found.status, found.ended_reason


def test_a_grant_is_active_while_it_gives_access_and_says_nothing_of_an_end() -> None:
    past, future = TODAY - dt.timedelta(days=30), TODAY + dt.timedelta(days=5)
    assert standing(past, None) == (GrantStatus.ACTIVE, None)
    assert standing(past, TODAY + dt.timedelta(days=1)) == (GrantStatus.ACTIVE, None)
    # Not started yet, but it will give access: active, as ``is_live`` says.
    assert standing(future, None) == (GrantStatus.ACTIVE, None)
    # An ending recorded for a later date leaves it active until then.
    assert standing(past, future, EndReason.MOVED_OUT) == (GrantStatus.ACTIVE, None)


def test_a_grant_that_ran_to_its_end_date_has_expired() -> None:
    past = TODAY - dt.timedelta(days=30)
    for reason in (None, EndReason.EXPIRED):
        assert standing(past, TODAY, reason) == (GrantStatus.EXPIRED, EndReason.EXPIRED)
        assert standing(past, past, reason) == (GrantStatus.EXPIRED, EndReason.EXPIRED)


def test_a_grant_ended_for_another_reason_has_ended_with_that_reason() -> None:
    past = TODAY - dt.timedelta(days=30)
    for reason in (EndReason.END_USER, EndReason.MOVED_OUT, EndReason.PARTY_REMOVED):
        assert standing(past, TODAY, reason) == (GrantStatus.ENDED, reason)


def test_a_grant_ended_before_it_started_is_never_active() -> None:
    start = TODAY + dt.timedelta(days=5)
    ended_early = rules.end_today(start, TODAY)
    assert standing(start, ended_early, EndReason.END_USER) == (
        GrantStatus.ENDED,
        EndReason.END_USER,
    )


def test_a_withdrawn_grant_has_ended_as_revoked_whatever_else_it_records() -> None:
    past = TODAY - dt.timedelta(days=30)
    for valid_to, reason in [(None, None), (TODAY, EndReason.END_USER), (TODAY, None)]:
        assert standing(past, valid_to, reason, revoked=True) == (
            GrantStatus.ENDED,
            EndReason.REVOKED,
        )
