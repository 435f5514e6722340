"""Grant windows: which data a grant lets a party read (SPEC §2, §5, §8).

A grant covers ``[start, end)`` in local calendar dates of the hub's time
zone; the data it opens is that window clipped to the end user's supply
period(s) on the metering point, so a party never sees a previous or a later
occupant's consumption. An ended contract keeps giving read access to data
valid up to its end date (Elhub BRS-NO-622: "beholder tredjepart mulighet for
å spørre på data som er gyldig frem til utflyttingsdato/avsluttingsdato").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class DateWindow:
    """Half-open ``[start, end)``; ``end`` None means open-ended.

    Windows order by start, then end, an open end sorting after every date.
    (A generated ``order=True`` would compare ``None`` with a date and raise
    ``TypeError`` for two windows with the same start, one of them open.)
    """

    start: dt.date
    end: dt.date | None = None

    def __post_init__(self) -> None:
        if self.end is not None and self.end < self.start:
            raise ValueError("window end lies before its start")

    def _key(self) -> tuple[dt.date, bool, dt.date]:
        return (self.start, self.end is None, self.start if self.end is None else self.end)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, DateWindow):
            return NotImplemented
        return self._key() < other._key()

    def __le__(self, other: object) -> bool:
        if not isinstance(other, DateWindow):
            return NotImplemented
        return self._key() <= other._key()

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, DateWindow):
            return NotImplemented
        return self._key() > other._key()

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, DateWindow):
            return NotImplemented
        return self._key() >= other._key()

    def is_empty(self) -> bool:
        return self.end is not None and self.end <= self.start

    def contains(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)

    def intersect(self, other: DateWindow) -> DateWindow | None:
        start = max(self.start, other.start)
        ends = [end for end in (self.end, other.end) if end is not None]
        end = min(ends) if ends else None
        if end is not None and end <= start:
            return None
        return DateWindow(start, end)


def merge(windows: Iterable[DateWindow]) -> list[DateWindow]:
    """Union of windows as a sorted list of disjoint windows."""
    merged: list[DateWindow] = []
    for window in sorted(w for w in windows if not w.is_empty()):
        if merged:
            last = merged[-1]
            if last.end is None or window.start <= last.end:
                end = None if last.end is None or window.end is None else max(last.end, window.end)
                merged[-1] = DateWindow(last.start, end)
                continue
        merged.append(window)
    return merged


def readable_windows(grant: DateWindow, supply_periods: Iterable[DateWindow]) -> list[DateWindow]:
    """The grant window clipped to the end user's supply periods."""
    clipped = (grant.intersect(period) for period in supply_periods)
    return merge(window for window in clipped if window is not None)


@dataclass(frozen=True, order=True)
class Interval:
    """Half-open ``[start, end)`` in UTC epoch seconds."""

    start: int
    end: int


def local_midnight_epoch(day: dt.date, zone: ZoneInfo) -> int:
    return int(dt.datetime.combine(day, dt.time(), tzinfo=zone).timestamp())


def to_intervals(
    windows: Iterable[DateWindow], zone: ZoneInfo, requested: Interval
) -> list[Interval]:
    """Cut the requested instant range down to the windows (local dates → UTC).

    The windows are merged first, so the result is sorted and disjoint even
    when the caller passes overlapping windows.
    """
    result: list[Interval] = []
    for window in merge(windows):
        start = local_midnight_epoch(window.start, zone)
        end = requested.end if window.end is None else local_midnight_epoch(window.end, zone)
        lo, hi = max(start, requested.start), min(end, requested.end)
        if lo < hi:
            result.append(Interval(lo, hi))
    return result
