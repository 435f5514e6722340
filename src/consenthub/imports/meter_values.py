"""``consenthub import values``: hourly or quarter-hourly meter values from CSV.

A value is stored as (metering point, start in UTC epoch seconds, watt-hours);
importing a different value for a stored one replaces it (an equal one is left
alone), and within a file a later row for the same metering point and start
wins. Rows are written in batches inside one transaction: batched upserts on
SQLite, COPY into a temporary table and one ``INSERT ... SELECT`` on
PostgreSQL. The report counts values inserted or changed; on SQLite a value
given twice in one file with different kWh counts twice.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TextIO, TypeVar

from sqlalchemy import BigInteger, Column, Connection, Integer, MetaData, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from consenthub.domain.identifiers import validate_gsrn
from consenthub.imports import BATCH_SIZE, CsvRows, Problems, Progress, bulk_append, source_name
from consenthub.store import audit
from consenthub.store.database import Database
from consenthub.store.tables import MeteringPoint, MeterValue

HEADER = ("metering_point_id", "start", "kwh")
QUARTER_HOUR = 900
MAX_WH = 2**63 - 1
_KWH = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")

_ROWCOUNT = {"preserve_rowcount": True}

_staging = Table(
    "import_meter_values",
    MetaData(),
    Column("metering_point_id", Integer, nullable=False),
    Column("start_ts", BigInteger, nullable=False),
    Column("wh", BigInteger, nullable=False),
    Column("line", Integer, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)

# (line, GSRN, start as epoch seconds, watt-hours)
_Parsed = tuple[int, str, int, int]
_T = TypeVar("_T")
_Insert = TypeVar("_Insert", sqlite.Insert, postgresql.Insert)


@dataclass(frozen=True)
class MeterValueReport:
    """Data rows read, values inserted or changed, and metering points named."""

    file: str
    rows: int
    values: int
    metering_points: int


def import_meter_values(
    database: Database,
    source: Path | TextIO,
    *,
    progress: Progress | None = None,
    actor: str = "cli",
) -> MeterValueReport:
    """Import a meter value CSV file, all or nothing.

    Raises :class:`~consenthub.imports.ImportFileError` (and writes nothing)
    when the header or any row is bad, or names an unknown metering point.
    """
    name = source_name(source)
    problems = Problems()
    with database.write() as conn:
        writer = _PostgresWriter(conn) if conn.dialect.name == "postgresql" else _SqliteWriter(conn)
        resolver = _Resolver(conn, problems)
        rows = 0
        batch: list[_Parsed] = []
        for line, fields in CsvRows(source, HEADER, problems, progress):
            rows += 1
            parsed = _parse_row(line, fields, problems)
            if parsed is not None:
                batch.append(parsed)
            if len(batch) >= BATCH_SIZE:
                _flush(resolver, writer, batch, problems)
        _flush(resolver, writer, batch, problems)
        problems.raise_if_any()
        values = writer.finish()
        report = MeterValueReport(
            file=name, rows=rows, values=values, metering_points=len(resolver.ids)
        )
        audit.append(
            conn,
            actor=actor,
            action="import.meter_values",
            subject=name,
            details={key: value for key, value in asdict(report).items() if key != "file"},
        )
    return report


def _parse_row(line: int, fields: list[str], problems: Problems) -> _Parsed | None:
    """The row as (line, GSRN, epoch seconds, Wh), or None with its problems recorded."""
    gsrn_text, start_text, kwh_text = fields
    gsrn = _field(line, "metering_point_id", _gsrn, gsrn_text, problems)
    start_ts = _field(line, "start", _epoch_seconds, start_text, problems)
    wh = _field(line, "kwh", _watt_hours, kwh_text, problems)
    if gsrn is None or start_ts is None or wh is None:
        return None
    return line, gsrn, start_ts, wh


def _field(
    line: int, field: str, parse: Callable[[str], _T], text: str, problems: Problems
) -> _T | None:
    try:
        return parse(text)
    except ValueError as exc:
        problems.add(line, field, str(exc))
        return None


# A file repeats each GSRN, start and common kWh values many times: parse each once.
_gsrn = lru_cache(maxsize=65_536)(validate_gsrn)


@lru_cache(maxsize=65_536)
def _epoch_seconds(text: str) -> int:
    """An ISO 8601 instant with UTC offset on a whole quarter hour, as epoch seconds."""
    try:
        start = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            "must be an ISO 8601 date and time such as 2024-01-01T00:00:00+01:00"
        ) from None
    if start.tzinfo is None:
        raise ValueError("must include a UTC offset such as +01:00 or Z")
    seconds = start.timestamp()
    if seconds % QUARTER_HOUR:
        raise ValueError("must be on a whole quarter hour (hourly or 15-minute values)")
    return int(seconds)


@lru_cache(maxsize=65_536)
def _watt_hours(text: str) -> int:
    """kWh with at most three decimals as exact watt-hours."""
    if not _KWH.fullmatch(text):
        raise ValueError("must be a decimal number such as 1.234")
    kwh = Decimal(text)
    if kwh < 0:
        raise ValueError("must not be negative")
    wh = kwh.scaleb(3)
    if wh != wh.to_integral_value():
        raise ValueError("must have at most 3 decimals")
    if wh > MAX_WH:
        raise ValueError("is too large")
    return int(wh)


class _Resolver:
    """GSRN → metering point id, one query per batch for GSRNs not seen before."""

    def __init__(self, conn: Connection, problems: Problems) -> None:
        self.conn = conn
        self.problems = problems
        self.ids: dict[str, int] = {}
        self.unknown: set[str] = set()

    def resolve(self, batch: list[_Parsed]) -> list[tuple[int, int, int, int]]:
        """(metering point id, start_ts, wh, line) of the batch's rows; unknown GSRNs recorded."""
        new = {gsrn for _, gsrn, _, _ in batch} - self.ids.keys() - self.unknown
        if new:
            found = self.conn.execute(
                select(MeteringPoint.gsrn, MeteringPoint.id).where(MeteringPoint.gsrn.in_(new))
            ).all()
            self.ids.update(found)
        resolved = []
        for line, gsrn, start_ts, wh in batch:
            metering_point_id = self.ids.get(gsrn)
            if metering_point_id is not None:
                resolved.append((metering_point_id, start_ts, wh, line))
            elif gsrn not in self.unknown:
                self.unknown.add(gsrn)
                self.problems.add(
                    line,
                    "metering_point_id",
                    f"no metering point {gsrn}; import metering points first",
                )
        return resolved


class _SqliteWriter:
    """Batched ``INSERT ... ON CONFLICT DO UPDATE`` (executemany)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.statement = str(_upsert(sqlite.insert(MeterValue)).compile(dialect=conn.dialect))
        self.values = 0

    def write(self, rows: list[tuple[int, int, int, int]]) -> None:
        if rows:
            result = self.conn.exec_driver_sql(
                self.statement, [row[:3] for row in rows], execution_options=_ROWCOUNT
            )
            self.values += result.rowcount

    def finish(self) -> int:
        return self.values


class _PostgresWriter:
    """COPY into a temporary table, then one ``INSERT ... SELECT ... ON CONFLICT``."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        _staging.create(conn)

    def write(self, rows: list[tuple[int, int, int, int]]) -> None:
        bulk_append(self.conn, _staging, rows)

    def finish(self) -> int:
        key = (_staging.c.metering_point_id, _staging.c.start_ts)
        latest = (
            select(*key, _staging.c.wh)
            .ext(postgresql.distinct_on(*key))
            .order_by(*key, _staging.c.line.desc())
        )
        upsert = _upsert(
            postgresql.insert(MeterValue).from_select(
                ["metering_point_id", "start_ts", "wh"], latest
            )
        )
        return self.conn.execute(upsert, execution_options=_ROWCOUNT).rowcount


def _upsert(insert: _Insert) -> _Insert:
    """Insert, or update a stored value that differs (an equal one is left alone)."""
    return insert.on_conflict_do_update(
        index_elements=[MeterValue.metering_point_id, MeterValue.start_ts],
        set_={"wh": insert.excluded.wh},
        where=MeterValue.wh != insert.excluded.wh,
    )


def _flush(
    resolver: _Resolver,
    writer: _SqliteWriter | _PostgresWriter,
    batch: list[_Parsed],
    problems: Problems,
) -> None:
    """Resolve and write a batch (nothing is written once there are problems), then empty it."""
    resolved = resolver.resolve(batch)
    if not problems:
        writer.write(resolved)
    batch.clear()
