"""The pure rules of the one access-request lifecycle, each on its own."""

from __future__ import annotations

import datetime as dt

import pytest

from consenthub.access_requests import rules
from consenthub.domain.access import Scope, Status
from consenthub.domain.errors import Code

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def test_a_pending_request_past_its_deadline_is_expired() -> None:
    assert rules.effective_status(Status.PENDING, NOW, NOW) is Status.EXPIRED
    assert rules.effective_status(Status.PENDING, NOW - dt.timedelta(days=1), NOW) is (
        Status.EXPIRED
    )


def test_a_pending_request_before_its_deadline_stays_pending() -> None:
    deadline = NOW + dt.timedelta(seconds=1)
    assert rules.effective_status(Status.PENDING, deadline, NOW) is Status.PENDING
    assert rules.effective_status(Status.PENDING, None, NOW) is Status.PENDING


@pytest.mark.parametrize(
    "status", [Status.APPROVED, Status.REJECTED, Status.CANCELLED, Status.CLOSED]
)
def test_a_decided_request_keeps_its_status_past_the_deadline(status: Status) -> None:
    assert rules.effective_status(status, NOW - dt.timedelta(days=1), NOW) is status


def test_only_a_pending_request_may_be_decided() -> None:
    assert rules.may_be_decided(Status.PENDING)
    for status in set(Status) - {Status.PENDING}:
        assert not rules.may_be_decided(status)


def test_full_may_be_lowered_to_limited_but_limited_never_raised() -> None:
    assert rules.lowered_scope(Scope.FULL, "Limited") is Scope.LIMITED
    assert rules.lowered_scope(Scope.FULL, None) is Scope.FULL
    assert rules.lowered_scope(Scope.FULL, "Full") is Scope.FULL
    assert rules.lowered_scope(Scope.LIMITED, "Full") is Scope.LIMITED


def test_chosen_metering_points_are_a_nonempty_subset_once_each() -> None:
    offered = {"a", "b", "c"}
    assert rules.chosen_metering_points(["b", "a", "b"], offered) == (["b", "a"], None)
    chosen, problem = rules.chosen_metering_points([], offered)
    assert chosen == []
    assert problem is not None
    assert problem.field == rules.CHOSEN_FIELD
    chosen, problem = rules.chosen_metering_points(["a", "z"], offered)
    assert chosen == []
    assert problem is not None
    assert "own metering points" in problem.rule


def test_end_date_is_optional_and_after_today() -> None:
    today = dt.date(2026, 3, 2)
    assert rules.chosen_end_date("", today) == (None, None)
    assert rules.chosen_end_date(None, today) == (None, None)
    assert rules.chosen_end_date(" 2026-03-03 ", today) == (dt.date(2026, 3, 3), None)
    for text in ("2026-03-02", "2026-01-01"):
        end, problem = rules.chosen_end_date(text, today)
        assert end is None
        assert problem is not None
        assert problem.field == rules.END_DATE_FIELD
        assert "after today" in problem.rule
    end, problem = rules.chosen_end_date("03/04/2026", today)
    assert end is None
    assert problem is not None
    assert "YYYY-MM-DD" in problem.rule


def test_turning_back_is_a_rejection_for_eh088_and_closes_for_eh111() -> None:
    """Seed 000: EH088 the end user did not approve; EH111 an internal error, not theirs."""
    assert rules.turned_back_status(Code.EH088) is Status.REJECTED
    assert rules.turned_back_status(Code.EH111) is Status.CLOSED
    assert rules.turned_back_status(Code.EH106) is None
    assert rules.turned_back_status(Code.EH098) is None
