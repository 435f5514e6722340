"""CSV files for the import benchmark, in the formats ``consenthub import`` reads."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from bench import ids

ZONE = ZoneInfo("Europe/Oslo")
METERING_POINT_HEADER = ("metering_point_id", "end_user_id", "move_in", "move_out",
                         "settlement_point", "address", "postcode", "city", "grid_area")


def row_gsrn(row: int) -> str:
    """The GSRN on data row ``row`` (from 0) of a :func:`metering_points` file."""
    return ids.gsrn(1 + row)


def metering_points(path: Path, count: int) -> None:
    """``count`` rows, one per metering point, each with an open supply period; two in three
    end users have one metering point, one in three has two."""
    people = ids.synthetic_fodselsnummer()
    person = ""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(METERING_POINT_HEADER)
        for i in range(count):
            if i % 3 != 2:
                person = next(people)
            writer.writerow((row_gsrn(i), person, "2021-03-01", "", "true",
                             f"Storgata {i % 997 + 1}", f"{i % 9000 + 1000}", "Oslo",
                             f"NO{i % 5 + 1}"))


def meter_values(path: Path, gsrns: Sequence[str], year: int = 2025) -> None:
    """A year of hourly values (local time with offset, kWh with 3 decimals) per GSRN."""
    first = dt.datetime(year, 1, 1, tzinfo=ZONE).astimezone(dt.UTC)
    last = dt.datetime(year + 1, 1, 1, tzinfo=ZONE).astimezone(dt.UTC)
    starts = []
    instant = first
    while instant < last:
        starts.append(instant.astimezone(ZONE).isoformat())
        instant += dt.timedelta(hours=1)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("metering_point_id", "start", "kwh"))
        for n, gsrn in enumerate(gsrns):
            writer.writerows((gsrn, start, f"{(n + h) % 3000 / 1000:.3f}")
                             for h, start in enumerate(starts))
