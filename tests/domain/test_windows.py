"""Grant windows (SPEC §2, §5, §8): which days, and which instants, a grant opens.

Expectations are computed day by day over a bounded range of dates, and
instants with an independent model of Norway's clock (CET, CEST from the last
Sunday of March to the last Sunday of October, switching at 01:00 UTC).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from consenthub.domain.windows import (
    DateWindow,
    Interval,
    local_midnight_epoch,
    merge,
    readable_windows,
    to_intervals,
)

FAST = settings(max_examples=60, deadline=None)
OSLO = ZoneInfo("Europe/Oslo")
DAY = dt.timedelta(days=1)

# Dates are drawn as offsets from BASE; membership is checked on every day of
# [FIRST, LAST), which reaches past every drawn bound on both sides.
BASE = dt.date(2026, 1, 1)
SPAN = 60
FIRST = BASE - 5 * DAY
LAST = BASE + (SPAN + 10) * DAY


def days(first: dt.date = FIRST, last: dt.date = LAST) -> list[dt.date]:
    return [first + i * DAY for i in range((last - first).days)]


@st.composite
def windows(draw: st.DrawFn, *, open_ended: bool = True) -> DateWindow:
    start = draw(st.integers(0, SPAN))
    ends = st.integers(start, SPAN)
    end = draw(st.none() | ends if open_ended else ends)
    return DateWindow(BASE + start * DAY, None if end is None else BASE + end * DAY)


window_lists = st.lists(windows(), max_size=6)


def in_any(day: dt.date, windows: Iterable[DateWindow]) -> bool:
    return any(window.contains(day) for window in windows)


def inside(inner: DateWindow, outer: DateWindow) -> bool:
    if inner.start < outer.start:
        return False
    if outer.end is None:
        return True
    return inner.end is not None and inner.end <= outer.end


def assert_normalised(result: Sequence[DateWindow]) -> None:
    """Sorted, non-empty, disjoint and not even touching (else they would be one)."""
    for window in result:
        assert not window.is_empty()
    for before, after in itertools.pairwise(result):
        assert before.end is not None, "only the last window may be open-ended"
        assert before.end < after.start


# --------------------------------------------------------------------------
# DateWindow.
# --------------------------------------------------------------------------


def test_window_rejects_end_before_start() -> None:
    with pytest.raises(ValueError, match="before its start"):
        DateWindow(BASE, BASE - DAY)


def test_window_is_half_open() -> None:
    window = DateWindow(BASE, BASE + 2 * DAY)
    assert [day for day in days() if window.contains(day)] == [BASE, BASE + DAY]
    assert DateWindow(BASE, BASE).is_empty()
    assert not DateWindow(BASE).is_empty()
    assert DateWindow(BASE).contains(dt.date(9999, 12, 31))
    assert not DateWindow(BASE).contains(BASE - DAY)


@FAST
@given(windows(), windows())
def test_intersect_is_exactly_the_common_days(a: DateWindow, b: DateWindow) -> None:
    both = a.intersect(b)
    assert both == b.intersect(a)
    common = [day for day in days() if a.contains(day) and b.contains(day)]
    if both is None:
        assert common == []
    else:
        assert not both.is_empty()
        assert [day for day in days() if both.contains(day)] == common
        assert inside(both, a)
        assert inside(both, b)
        assert (both.end is None) == (a.end is None and b.end is None)


def test_intersect_examples() -> None:
    jan = DateWindow(dt.date(2026, 1, 1), dt.date(2026, 2, 1))
    assert jan.intersect(DateWindow(dt.date(2026, 1, 15))) == DateWindow(
        dt.date(2026, 1, 15), dt.date(2026, 2, 1)
    )
    # Touching half-open windows share no day.
    assert jan.intersect(DateWindow(dt.date(2026, 2, 1))) is None
    assert DateWindow(BASE).intersect(DateWindow(BASE + DAY)) == DateWindow(BASE + DAY)


@FAST
@given(st.lists(windows(), min_size=2, max_size=8))
def test_windows_sort_with_open_ends_last(items: list[DateWindow]) -> None:
    ordered = sorted(items)
    for before, after in itertools.pairwise(ordered):
        assert before <= after
        assert not after < before
        assert before.start <= after.start
        if before.start == after.start and before.end is None:
            assert after.end is None


def test_window_ordering_with_an_open_end_and_the_same_start() -> None:
    # Regression: the generated order=True compared None with a date.
    closed, open_ended = DateWindow(BASE, BASE + DAY), DateWindow(BASE)
    assert closed < open_ended
    assert open_ended > closed
    assert closed <= open_ended
    assert open_ended >= closed
    assert not open_ended < open_ended
    assert open_ended <= open_ended
    assert sorted([open_ended, closed]) == [closed, open_ended]


# --------------------------------------------------------------------------
# merge.
# --------------------------------------------------------------------------


@FAST
@given(window_lists)
@example([DateWindow(BASE), DateWindow(BASE, BASE + DAY)])
@example([DateWindow(BASE, BASE), DateWindow(BASE, BASE + DAY)])
def test_merge_is_the_exact_union(items: list[DateWindow]) -> None:
    result = merge(items)
    assert_normalised(result)
    for day in days():
        assert in_any(day, result) == in_any(day, items), day
    assert (bool(result) and result[-1].end is None) == any(w.end is None for w in items)
    assert merge(result) == result
    assert merge(reversed(items)) == result


def test_merge_examples() -> None:
    d = [BASE + i * DAY for i in range(10)]
    assert merge([]) == []
    assert merge([DateWindow(d[3], d[3])]) == []
    # Touching windows become one; a gap keeps them apart.
    assert merge([DateWindow(d[2], d[4]), DateWindow(d[0], d[2]), DateWindow(d[5], d[6])]) == [
        DateWindow(d[0], d[4]),
        DateWindow(d[5], d[6]),
    ]
    assert merge([DateWindow(d[1], d[3]), DateWindow(d[2]), DateWindow(d[0], d[9])]) == [
        DateWindow(d[0])
    ]
    # The case that raised TypeError: same start, one window open-ended.
    assert merge([DateWindow(d[1]), DateWindow(d[1], d[2])]) == [DateWindow(d[1])]
    assert merge([DateWindow(d[1], d[2]), DateWindow(d[1])]) == [DateWindow(d[1])]


# --------------------------------------------------------------------------
# readable_windows.
# --------------------------------------------------------------------------


@FAST
@given(windows(), window_lists)
@example(DateWindow(BASE), [DateWindow(BASE), DateWindow(BASE, BASE + DAY)])
def test_readable_days_are_granted_and_supplied(
    grant: DateWindow, supply: list[DateWindow]
) -> None:
    readable = readable_windows(grant, supply)
    assert_normalised(readable)
    for window in readable:
        assert inside(window, grant)
    for day in days():
        expected = grant.contains(day) and in_any(day, supply)
        assert in_any(day, readable) == expected, day


@st.composite
def separate_periods(draw: st.DrawFn) -> list[DateWindow]:
    """Supply periods of one end user: apart by at least one day, the last maybe open."""
    periods: list[DateWindow] = []
    cursor = draw(st.integers(0, 10))
    for _ in range(draw(st.integers(0, 4))):
        length = draw(st.integers(1, 12))
        periods.append(DateWindow(BASE + cursor * DAY, BASE + (cursor + length) * DAY))
        cursor += length + draw(st.integers(1, 6))
    if draw(st.booleans()):
        periods.append(DateWindow(BASE + cursor * DAY))
    return draw(st.permutations(periods))


@FAST
@given(windows(), separate_periods())
def test_each_readable_window_lies_inside_the_grant_and_one_supply_period(
    grant: DateWindow, supply: list[DateWindow]
) -> None:
    readable = readable_windows(grant, supply)
    for window in readable:
        assert inside(window, grant)
        assert sum(inside(window, period) for period in supply) == 1
    assert len(readable) == sum(grant.intersect(period) is not None for period in supply)


def test_readable_windows_examples() -> None:
    move_in, move_out = dt.date(2026, 1, 10), dt.date(2026, 2, 1)
    grant = DateWindow(dt.date(2026, 1, 1), dt.date(2026, 3, 1))
    # A later occupant's period is not the end user's: only their own is read.
    assert readable_windows(grant, [DateWindow(move_in, move_out)]) == [
        DateWindow(move_in, move_out)
    ]
    # An open-ended grant still stops at the move-out date.
    assert readable_windows(DateWindow(dt.date(2026, 1, 1)), [DateWindow(move_in, move_out)]) == [
        DateWindow(move_in, move_out)
    ]
    # An ended contract keeps reading up to its end.
    assert readable_windows(DateWindow(move_in, dt.date(2026, 1, 20)), [DateWindow(move_in)]) == [
        DateWindow(move_in, dt.date(2026, 1, 20))
    ]
    assert readable_windows(grant, []) == []
    assert readable_windows(grant, [DateWindow(dt.date(2026, 3, 1))]) == []


# --------------------------------------------------------------------------
# to_intervals: local dates to UTC instants.
# --------------------------------------------------------------------------


def last_sunday(year: int, month: int) -> dt.date:
    day = dt.date(year, month + 1, 1) - DAY
    return day - dt.timedelta(days=(day.weekday() - 6) % 7)


def oslo_midnight(day: dt.date) -> int:
    """Epoch seconds of 00:00 in Norway, from the EU summer-time rule (1996-)."""
    summer = last_sunday(day.year, 3) < day <= last_sunday(day.year, 10)
    offset = dt.timedelta(hours=2 if summer else 1)
    utc = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) - offset
    return int(utc.timestamp())


def utc(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp())


SPRING, FALL = dt.date(2026, 3, 29), dt.date(2026, 10, 25)


def test_reference_clock_matches_the_known_switch_dates() -> None:
    assert last_sunday(2026, 3) == SPRING
    assert last_sunday(2026, 10) == FALL
    assert oslo_midnight(SPRING) == utc("2026-03-28T23:00:00")
    assert oslo_midnight(SPRING + DAY) == utc("2026-03-29T22:00:00")
    assert oslo_midnight(FALL) == utc("2026-10-24T22:00:00")
    assert oslo_midnight(FALL + DAY) == utc("2026-10-25T23:00:00")


# Windows for to_intervals are drawn around both 2026 switch days.
T_FIRST, T_LAST = dt.date(2026, 3, 15), dt.date(2026, 11, 10)
SWITCH_DAYS = [day + i * DAY for day in (SPRING, FALL) for i in (-1, 0, 1, 2)]
interval_dates = st.sampled_from(SWITCH_DAYS) | st.dates(T_FIRST, T_LAST - 5 * DAY)


@st.composite
def dst_windows(draw: st.DrawFn) -> DateWindow:
    start = draw(interval_dates)
    if draw(st.booleans()):
        return DateWindow(start)
    end = draw(st.sampled_from(SWITCH_DAYS) | st.dates(start, T_LAST))
    return DateWindow(start, max(start, end))


instants = st.integers(oslo_midnight(T_FIRST) - 86_400, oslo_midnight(T_LAST))


@st.composite
def requested_intervals(draw: st.DrawFn) -> Interval:
    edges = (
        st.sampled_from(
            [oslo_midnight(day) + shift for day in SWITCH_DAYS for shift in (-3600, -1, 0, 1, 3600)]
        )
        | instants
    )
    start, end = draw(edges), draw(edges)
    return Interval(start, end)


def expected_intervals(items: Iterable[DateWindow], requested: Interval) -> list[Interval]:
    """Day by day: each granted local day's instants, clipped, touching days joined."""
    result: list[Interval] = []
    for day in days(T_FIRST - 5 * DAY, T_LAST + 5 * DAY):
        if not in_any(day, items):
            continue
        lo = max(oslo_midnight(day), requested.start)
        hi = min(oslo_midnight(day + DAY), requested.end)
        if lo >= hi:
            continue
        if result and result[-1].end == lo:
            result[-1] = Interval(result[-1].start, hi)
        else:
            result.append(Interval(lo, hi))
    return result


@FAST
@given(st.lists(dst_windows(), max_size=4), requested_intervals(), st.lists(instants, max_size=20))
@example([DateWindow(SPRING, SPRING + DAY)], Interval(0, oslo_midnight(T_LAST)), [])
@example([DateWindow(FALL)], Interval(oslo_midnight(FALL) - 1, oslo_midnight(FALL) + 3600), [])
def test_to_intervals_is_the_requested_range_cut_to_the_local_days(
    items: list[DateWindow], requested: Interval, probes: list[int]
) -> None:
    result = to_intervals(items, OSLO, requested)
    for interval in result:
        assert requested.start <= interval.start < interval.end <= requested.end
    for before, after in itertools.pairwise(result):
        assert before.end < after.start
    assert result == expected_intervals(items, requested)
    # Independently of the model: an instant is read iff its Oslo date is granted.
    edges = [
        edge + shift
        for interval in result
        for edge in (interval.start, interval.end)
        for shift in (-1, 0)
    ]
    for instant in [*probes, *edges, requested.start, requested.end - 1]:
        local_day = dt.datetime.fromtimestamp(instant, OSLO).date()
        expected = requested.start <= instant < requested.end and in_any(local_day, items)
        assert any(i.start <= instant < i.end for i in result) == expected, instant


def test_spring_forward_day_has_23_hours() -> None:
    result = to_intervals([DateWindow(SPRING, SPRING + DAY)], OSLO, Interval(0, 2**40))
    assert result == [Interval(utc("2026-03-28T23:00:00"), utc("2026-03-29T22:00:00"))]
    assert result[0].end - result[0].start == 23 * 3600


def test_fall_back_day_has_25_hours() -> None:
    result = to_intervals([DateWindow(FALL, FALL + DAY)], OSLO, Interval(0, 2**40))
    assert result == [Interval(utc("2026-10-24T22:00:00"), utc("2026-10-25T23:00:00"))]
    assert result[0].end - result[0].start == 25 * 3600


def test_local_midnight_epoch_across_the_switches() -> None:
    for day in days(T_FIRST, T_LAST):
        assert local_midnight_epoch(day, OSLO) == oslo_midnight(day), day


def test_open_ended_window_runs_to_the_end_of_the_request() -> None:
    requested = Interval(utc("2026-03-01T00:00:00"), utc("2026-04-01T00:00:00"))
    assert to_intervals([DateWindow(SPRING)], OSLO, requested) == [
        Interval(utc("2026-03-28T23:00:00"), requested.end)
    ]
    # A request that ends before the window starts reads nothing.
    early = Interval(utc("2026-03-01T00:00:00"), utc("2026-03-28T23:00:00"))
    assert to_intervals([DateWindow(SPRING)], OSLO, early) == []
    # Started long ago and still open: the request itself.
    assert to_intervals([DateWindow(dt.date(2000, 1, 1))], OSLO, requested) == [requested]


def test_to_intervals_clips_to_the_request() -> None:
    window = DateWindow(FALL - DAY, FALL + 2 * DAY)
    requested = Interval(utc("2026-10-25T12:00:00"), utc("2026-10-30T00:00:00"))
    assert to_intervals([window], OSLO, requested) == [
        Interval(requested.start, utc("2026-10-26T23:00:00"))
    ]


@pytest.mark.parametrize("requested", [Interval(100, 100), Interval(200, 100)])
def test_empty_or_inverted_request_reads_nothing(requested: Interval) -> None:
    assert to_intervals([DateWindow(dt.date(1970, 1, 1))], OSLO, requested) == []


def test_empty_windows_and_overlaps() -> None:
    requested = Interval(0, 2**40)
    assert to_intervals([DateWindow(SPRING, SPRING)], OSLO, requested) == []
    assert to_intervals([], OSLO, requested) == []
    overlapping = [
        DateWindow(SPRING, SPRING + 3 * DAY),
        DateWindow(SPRING + DAY, SPRING + 2 * DAY),
        DateWindow(SPRING + 3 * DAY, SPRING + 4 * DAY),
    ]
    assert to_intervals(overlapping, OSLO, requested) == [
        Interval(oslo_midnight(SPRING), oslo_midnight(SPRING + 4 * DAY))
    ]
