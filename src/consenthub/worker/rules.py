"""Rules of the worker's housekeeping (SPEC §10): when a record has outlived its use.
Pure: imports only the standard library. Each rule cites the clause it comes from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass


def revocation_purge_before(now: dt.datetime, leeway_seconds: int) -> dt.datetime:
    """A revocation whose token expired before this instant may be forgotten.

    docs/decisions.md ("Issued tokens are not stored; revocations are"): a revocation is
    kept "until the token expires". RFC 7519 §4.1.4 lets a verifier accept a token a
    small leeway past ``exp`` (``signing.CLOCK_LEEWAY_SECONDS``), so the entry stays that
    much longer: a token still accepted with the leeway must still be denied.
    """
    return now - dt.timedelta(seconds=leeway_seconds)


def retention_cutoff(today: dt.date, zone: dt.tzinfo, years: int) -> int:
    """The first instant (UTC epoch seconds) still inside a retention of ``years``:
    00:00 in the hub's zone of the same calendar date ``years`` before today (29 February
    falls back to 28 February, keeping a day more). A value whose start lies before it is
    past retention.

    SPEC §5 (BRS-NO-622): meter values are kept 3 years as standard, 10 with extended
    storage. Counting in whole local days keeps a day's values together (the data API's
    windows are local dates) and gives one cutoff for a whole day: a value is kept for
    ``years`` years and at most one day more.
    """
    try:
        first_day = today.replace(year=today.year - years)
    except ValueError:
        first_day = today.replace(year=today.year - years, day=28)
    return int(dt.datetime.combine(first_day, dt.time(), tzinfo=zone).timestamp())


@dataclass(frozen=True)
class RetentionCutoffs:
    """Values starting before ``standard`` are past retention; on a metering point kept
    longer, those starting before ``extended``."""

    standard: int
    extended: int


def retention_cutoffs(
    today: dt.date, zone: dt.tzinfo, *, standard_years: int, extended_years: int
) -> RetentionCutoffs:
    """SPEC §5: "Elhub: 10 years instead of the standard 3"; the years are settings
    (``retention_years``, ``extended_retention_years``). Extended storage asks to keep
    values longer, so it never keeps them less long, however the two are set."""
    standard = retention_cutoff(today, zone, standard_years)
    return RetentionCutoffs(
        standard=standard,
        extended=min(standard, retention_cutoff(today, zone, extended_years)),
    )


def purge_values_before(
    oldest_start: int, kept_longer: bool, cutoffs: RetentionCutoffs
) -> int | None:
    """The cutoff to purge a metering point's values before, or None when none of them
    is past retention (``oldest_start`` is its oldest value's start).

    SPEC §5: "extendedStorage … asks the hub to keep that metering point's meter values
    for the extended period … while the contract lasts": ``kept_longer`` when a live grant
    on the metering point asks for extended storage; once none does, the standard
    retention applies again.
    """
    cutoff = cutoffs.extended if kept_longer else cutoffs.standard
    return cutoff if oldest_start < cutoff else None


# Meter values start on whole quarter hours (SPEC §2: "hourly or 15-minute"; the import
# refuses any other start), so a metering point has at most one value per 900 seconds.
QUARTER_HOUR_SECONDS = 900


@dataclass(frozen=True)
class ValuesToPurge:
    """The values of these metering points that start before ``before``: one delete, by
    ranges of the (metering point, start) key."""

    metering_point_ids: tuple[int, ...]
    before: int


def values_to_purge(
    oldest_starts: Sequence[tuple[int, int]], cutoff: int, max_values: int
) -> list[ValuesToPurge]:
    """Deletes of at most ``max_values`` values each that together remove every value
    before ``cutoff`` of the metering points given as (id, oldest value's start).

    A metering point holds at most one value per quarter hour (SPEC §2), so the values
    between its oldest and the cutoff are counted from the time between them, without
    reading them. A metering point with more due is taken oldest first, ``max_values``
    quarter hours at a time; what is left of it shares a delete with the next metering
    points, as long as together they fit (a daily run finds a day due on each).
    SPEC §10: due work runs beside the servers, so no delete holds the database long.
    """
    slice_seconds = max_values * QUARTER_HOUR_SECONDS
    deletes: list[ValuesToPurge] = []
    shared: list[int] = []
    shared_values = 0
    for metering_point_id, oldest_start in oldest_starts:
        at_most = -(-(cutoff - oldest_start) // QUARTER_HOUR_SECONDS)
        while at_most > max_values:
            oldest_start += slice_seconds
            deletes.append(ValuesToPurge((metering_point_id,), oldest_start))
            at_most -= max_values
        if shared_values + at_most > max_values:
            deletes.append(ValuesToPurge(tuple(shared), cutoff))
            shared, shared_values = [], 0
        shared.append(metering_point_id)
        shared_values += at_most
    if shared:
        deletes.append(ValuesToPurge(tuple(shared), cutoff))
    return deletes
