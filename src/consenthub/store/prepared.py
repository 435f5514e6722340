"""Statements for the hottest path, run on the DB-API cursor inside a SQLAlchemy transaction.

A data API read is four small indexed statements. Run through SQLAlchemy's
execution machinery each costs ~50 µs of Python before and after a query of a
few µs; on the driver's own cursor it costs ~5 µs (BENCHMARKS.md). ``Prepared``
keeps SQLAlchemy as the one place where a statement is written: the Core
statement is compiled once per dialect, and only execution skips the machinery.
The transaction stays SQLAlchemy's (``Database.write``), so locking, ``BEGIN
IMMEDIATE`` and commit are unchanged.

What is given up is type processing, so values cross as the driver has them:
callers pass plain ``int``/``str``/naive-UTC ``datetime`` parameters (``db_instant``)
and read dates with ``as_date`` and booleans with ``bool`` (SQLite has 0/1 and
ISO strings where PostgreSQL has ``bool`` and ``date``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.sql.expression import Executable


class Prepared:
    def __init__(self, statement: Executable) -> None:
        self._statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}

    def _for(self, conn: Connection) -> tuple[str, tuple[str, ...] | None]:
        dialect = conn.dialect
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self._statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            names = tuple(compiled.positiontup) if compiled.positional else None
            found = self._compiled[dialect.name] = (compiled.string, names)
        return found

    def _execute(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        sql, names = self._for(conn)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(sql, tuple(params[name] for name in names) if names else params)
        return cursor

    def rows(self, conn: Connection, **params: Any) -> list[tuple[Any, ...]]:
        cursor = self._execute(conn, params)
        try:
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def run(self, conn: Connection, **params: Any) -> None:
        self._execute(conn, params).close()


def as_date(value: dt.date | str | None) -> dt.date | None:
    """A DATE column as the driver returns it (SQLite: ISO text)."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


def as_instant(value: dt.datetime | str | None) -> dt.datetime | None:
    """A ``UTCDateTime`` column as the driver returns it (naive UTC; SQLite: text), aware."""
    if value is None:
        return None
    naive = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return naive.replace(tzinfo=dt.UTC)


def db_instant(value: dt.datetime | None, *, sqlite: bool) -> dt.datetime | str | None:
    """An instant as ``UTCDateTime`` stores it: naive UTC; on SQLite, SQLAlchemy's text form."""
    if value is None:
        return None
    naive = value.astimezone(dt.UTC).replace(tzinfo=None)
    return naive.isoformat(" ", "microseconds") if sqlite else naive
