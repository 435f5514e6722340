"""Benchmark 4: CSV import of metering points and of meter values, through the real
``import_metering_points`` / ``import_meter_values``, each timed in its own process.

Every import is measured at two sizes; the growth exponent ``k`` (time ∝ size^k)
between them extrapolates to a size that is not run. The baseline is the bulk
load of the same tables without parsing or checks (the data benchmark's build).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import csvgen, databases, hub
from bench.loads import Context, HarnessError, log
from bench.plan import HOURS_PER_YEAR, NORWAY_METERING_POINTS
from bench.procs import SERVER_CPU, pinned
from bench.results import Figure, Findings, Section

METERING_POINT_GOAL_SECONDS = 300
VALUE_TARGET_POINTS = 10_000


@dataclass(frozen=True)
class Timed:
    what: str
    rows: int
    seconds: float
    peak_rss_mb: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def _exponent(small: Timed, large: Timed) -> float:
    return math.log(large.seconds / small.seconds) / math.log(large.rows / small.rows)


def _extrapolate(small: Timed, large: Timed, rows: int) -> float:
    return float(large.seconds * (rows / large.rows) ** max(1.0, _exponent(small, large)))


def _head(source: Path, target: Path, rows: int) -> Path:
    """The header and the first ``rows`` rows of a CSV file (rows are independent)."""
    with source.open("rb") as reader, target.open("wb") as writer:
        for _ in range(rows + 1):
            writer.write(reader.readline())
    return target


def _import(context: Context, kind: str, url: str, file: Path, what: str) -> Timed:
    argv = [sys.executable, "-m", "bench.importer", kind, url, str(file)]
    done = subprocess.run(pinned(argv, SERVER_CPU), cwd=context.root, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise HarnessError(f"import {kind} {file.name} failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    report = result["report"]
    rows = int(report["rows"])
    log(f"import: {what}: {rows:,} rows in {result['seconds']:.1f} s")
    return Timed(what, rows, float(result["seconds"]), float(result["peak_rss_mb"]))


def run(context: Context, findings: Findings, bulk_rates: dict[str, dict[str, float]]) -> None:
    plan = context.plan
    files = context.work / "csv"
    files.mkdir(exist_ok=True)
    largest = max(max(plan.import_sizes(k)) for k in ("sqlite", "postgresql"))
    log(f"import: writing {largest:,} metering-point rows and "
        f"{sum(plan.import_value_points)} metering points × a year of values as CSV")
    csvgen.metering_points(files / "metering-points-all.csv", largest)
    value_small, value_large = plan.import_value_points
    csvgen.meter_values(files / "values-small.csv",
                        [csvgen.row_gsrn(i) for i in range(value_small)])
    csvgen.meter_values(files / "values-large.csv",
                        [csvgen.row_gsrn(i) for i in range(value_small, value_small + value_large)])
    try:
        for kind in ("sqlite", "postgresql"):
            timings = []
            for size in plan.import_sizes(kind):
                backend = databases.fresh(kind, context.work, "import")
                hub.migrate(backend.url, hub.new_secret_key()).dispose()
                try:
                    source = _head(files / "metering-points-all.csv",
                                   files / f"metering-points-{size}.csv", size)
                    timings.append(_import(context, "metering-points", backend.url, source,
                                           f"{kind} metering points"))
                    if len(timings) == 1:  # the values go into the smaller database
                        for name in ("values-small.csv", "values-large.csv"):
                            timings.append(_import(context, "values", backend.url,
                                                   files / name, f"{kind} meter values"))
                finally:
                    databases.drop(backend)
            _report(findings, kind, timings[0], timings[3], timings[1], timings[2],
                    bulk_rates.get(kind, {}))
    finally:
        shutil.rmtree(files, ignore_errors=True)


def _report(findings: Findings, kind: str, mp_small: Timed, mp_large: Timed,
            values_small: Timed, values_large: Timed, bulk: dict[str, float]) -> None:
    if mp_large.rows >= NORWAY_METERING_POINTS:
        norway = mp_large.seconds * NORWAY_METERING_POINTS / mp_large.rows
        how = "measured"
    else:
        norway = _extrapolate(mp_small, mp_large, NORWAY_METERING_POINTS)
        how = (f"extrapolated from {mp_large.rows:,} rows with growth exponent "
               f"k = {max(1.0, _exponent(mp_small, mp_large)):.2f}")
    mp_bulk = bulk.get("metering_points_per_s")
    value_rows = VALUE_TARGET_POINTS * HOURS_PER_YEAR
    value_time = _extrapolate(values_small, values_large, value_rows)
    value_bulk = bulk.get("values_per_s")
    findings.figures += [
        Figure("Import metering points", f"{kind}: 3.2 M rows ({how})",
               f"{norway:.0f} s ({mp_large.rows_per_s:,.0f} rows/s at {mp_large.rows:,})",
               f"bulk load of the same tables: {mp_bulk:,.0f} metering points/s" if mp_bulk
               else "", f"{mp_large.rows_per_s / mp_bulk:.2f}" if mp_bulk else "",
               f"< {METERING_POINT_GOAL_SECONDS} s", norway < METERING_POINT_GOAL_SECONDS),
        Figure("Import meter values", f"{kind}: a year hourly for {values_large.rows // 8760} "
               "metering points",
               f"{values_large.seconds:.1f} s ({values_large.rows_per_s:,.0f} rows/s); "
               f"10 k metering points (87.6 M rows) ≈ {value_time / 60:.0f} min",
               f"bulk load of values: {value_bulk:,.0f} rows/s" if value_bulk else "",
               f"{values_large.rows_per_s / value_bulk:.2f}" if value_bulk else "",
               "rows/s (no goal set)", None,
               f"growth exponent k = {_exponent(values_small, values_large):.2f}"),
    ]
    section = Section(f"Import on {kind}")
    section.lines += [
        "| import | rows | seconds | rows/s | peak RSS MB |",
        "|---|---:|---:|---:|---:|",
        *(f"| {t.what} | {t.rows:,} | {t.seconds:.1f} | {t.rows_per_s:,.0f} | "
          f"{t.peak_rss_mb:.0f} |" for t in (mp_small, mp_large, values_small, values_large)),
        "",
        f"Growth exponent k (time ∝ rows^k): metering points "
        f"{_exponent(mp_small, mp_large):.2f}, meter values "
        f"{_exponent(values_small, values_large):.2f}. A year of hourly values for "
        f"{VALUE_TARGET_POINTS:,} metering points ({value_rows / 1e6:.1f} M rows) "
        f"extrapolates to {value_time / 60:.1f} min (k taken as at least 1).",
    ]
    section.data = {t.what + f" {t.rows}": t.__dict__ for t in
                    (mp_small, mp_large, values_small, values_large)}
    findings.sections.append(section)
