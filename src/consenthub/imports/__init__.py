"""CSV imports (SPEC: ``consenthub import``): reading, row errors, bulk loading.

An import runs in one transaction: every row is checked and, if any is bad,
nothing is written and :class:`ImportFileError` lists the problems by line,
field and rule. Messages never repeat a national identity number (personal
data); they name the field and the rule instead.

The importers live in :mod:`consenthub.imports.metering_points` and
:mod:`consenthub.imports.meter_values`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast

import psycopg
from psycopg import sql
from sqlalchemy import Connection, Table

MAX_ERRORS = 20
BATCH_SIZE = 10_000

Progress = Callable[[int], None]
"""Told how much input has been read: bytes for a path, characters for a stream."""


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    rule: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.rule}"


class ImportFileError(Exception):
    """The file was not imported and nothing was written; ``errors`` says why."""

    def __init__(self, errors: Sequence[RowError], *, truncated: bool = False) -> None:
        super().__init__(errors)
        self.errors = list(errors)
        self.truncated = truncated

    def __str__(self) -> str:
        shown = f"the first {len(self.errors)}" if self.truncated else str(len(self.errors))
        noun = "problem" if len(self.errors) == 1 and not self.truncated else "problems"
        listing = "".join(f"\n  {error}" for error in self.errors)
        return f"nothing imported; {shown} {noun}:{listing}"


class Problems:
    """Row errors found so far, up to :data:`MAX_ERRORS`."""

    def __init__(self) -> None:
        self.errors: list[RowError] = []
        self.truncated = False

    def add(self, line: int, field: str, rule: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(RowError(line, field, rule))
        else:
            self.truncated = True

    @property
    def room(self) -> int:
        """How many more errors are listed (ask for one more to learn of truncation)."""
        return MAX_ERRORS - len(self.errors)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ImportFileError(
                sorted(self.errors, key=lambda error: error.line), truncated=self.truncated
            )


def source_name(source: Path | TextIO) -> str:
    if isinstance(source, Path):
        return source.name
    return Path(str(getattr(source, "name", "-"))).name


class CsvRows:
    """The data rows of a CSV file whose header must be exactly ``header``.

    Yields ``(line, fields)`` with fields stripped of surrounding blanks;
    blank lines are skipped, and rows of the wrong width, undecodable bytes
    and malformed CSV are recorded in ``problems``. Reading stops once
    ``problems`` is full. A path is read as UTF-8 (a byte-order mark is
    allowed); ``progress`` hears how far reading has come every batch.
    """

    def __init__(
        self,
        source: Path | TextIO,
        header: Sequence[str],
        problems: Problems,
        progress: Progress | None = None,
    ) -> None:
        self.source = source
        self.header = list(header)
        self.problems = problems
        self.progress = progress
        self.consumed = 0

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(self._lines())
        width = len(self.header)
        try:
            if not self._header_ok(next(reader, None)):
                return
            for row in reader:
                if self.problems.truncated:
                    return
                if reader.line_num % BATCH_SIZE == 0:
                    self._report()
                if not row:
                    continue
                if len(row) != width:
                    self.problems.add(
                        reader.line_num, "row", f"has {len(row)} fields, expected {width}"
                    )
                    continue
                yield reader.line_num, list(map(str.strip, row))
        except csv.Error as exc:
            self.problems.add(reader.line_num, "row", f"is not valid CSV ({exc})")
        self._report()

    def _header_ok(self, first: list[str] | None) -> bool:
        if first is None:
            if not self.problems:
                self.problems.add(1, "header", "the file is empty")
            return False
        names = [name.strip() for name in first]
        if names == self.header:
            return True
        if len(names) == 1 and names[0].count(";") >= len(self.header) - 1:
            self.problems.add(
                1,
                "header",
                "the file looks semicolon-separated; separate the fields with commas "
                f"({','.join(self.header)})",
            )
            return False
        missing = [name for name in self.header if name not in names]
        detail = f" (missing: {', '.join(missing)})" if missing else ""
        # The bad header is not echoed: without one, line 1 holds personal data.
        self.problems.add(1, "header", f"must be exactly {','.join(self.header)}{detail}")
        return False

    def _lines(self) -> Iterator[str]:
        if not isinstance(self.source, Path):
            for text in self.source:
                self.consumed += len(text)
                yield text
            return
        with self.source.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                self.consumed += len(raw)
                try:
                    text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError:
                    self.problems.add(number, "row", "is not UTF-8 text")
                    return
                yield text

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.consumed)


def bulk_append(conn: Connection, table: Table, rows: Sequence[tuple[object, ...]]) -> None:
    """Append rows (in column order) to a staging table: COPY on PostgreSQL, else executemany."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(c.name) for c in table.c)
        )
        driver = cast("psycopg.Connection[Any]", conn.connection.driver_connection)
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return
    conn.exec_driver_sql(str(table.insert().compile(dialect=conn.dialect)), list(rows))
