"""The rules of DH-831, each broken alone."""

from __future__ import annotations

import datetime as dt

from consenthub.authorization_requests import rules
from consenthub.domain.errors import Code

TODAY = dt.date(2026, 3, 2)
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def test_valid_from_neither_past_nor_more_than_90_days_ahead() -> None:
    assert rules.valid_from_in_range(TODAY, TODAY) is None
    assert rules.valid_from_in_range(TODAY + dt.timedelta(days=90), TODAY) is None
    for day in (TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=91)):
        problem = rules.valid_from_in_range(day, TODAY)
        assert problem is not None
        assert (problem.code, problem.field) == (Code.VALID_FROM_OUT_OF_RANGE, "validFrom")


def test_valid_to_comes_after_valid_from() -> None:
    assert rules.valid_to_after_from(TODAY, None) is None
    assert rules.valid_to_after_from(TODAY, TODAY + dt.timedelta(days=1)) is None
    problem = rules.valid_to_after_from(TODAY, TODAY)
    assert problem is not None
    assert problem.code is Code.VALID_TO_NOT_AFTER_FROM


def test_the_request_ends_after_30_days_unless_asked_within_90() -> None:
    assert rules.request_end(None, TODAY) == (TODAY + dt.timedelta(days=30), None)
    asked = TODAY + dt.timedelta(days=90)
    assert rules.request_end(asked, TODAY) == (asked, None)
    for day in (TODAY, TODAY + dt.timedelta(days=91)):
        _, problem = rules.request_end(day, TODAY)
        assert problem is not None
        assert problem.code is Code.REQUEST_END_INVALID


def test_a_reminder_needs_a_recipient_and_a_time_while_the_request_is_open() -> None:
    deadline = NOW + dt.timedelta(days=30)
    fine = NOW + dt.timedelta(days=3)
    assert rules.reminder_fits(None, has_recipient=False, now=NOW, deadline=deadline) is None
    assert rules.reminder_fits(fine, has_recipient=True, now=NOW, deadline=deadline) is None
    for at, recipient in ((fine, False), (NOW, True), (deadline, True)):
        problem = rules.reminder_fits(at, has_recipient=recipient, now=NOW, deadline=deadline)
        assert problem is not None
        assert problem.code is Code.REMINDER_INVALID


def test_every_accounting_point_must_be_the_customers() -> None:
    assert rules.points_belong(["a", "b"], {"a", "b", "c"}) == []
    problems = rules.points_belong(["a", "x", "b", "y"], {"a", "b"})
    assert [(p.code, p.field) for p in problems] == [
        (Code.ACCOUNTING_POINT_NOT_CUSTOMERS, "accountingPoints[1]"),
        (Code.ACCOUNTING_POINT_NOT_CUSTOMERS, "accountingPoints[3]"),
    ]
