"""Data for the data API benchmark, written set-based straight into the tables.

``metering_points`` metering points, each with one end user and one open supply
period; ``grants`` grants spread evenly over the metering points and over
``parties`` parties. The first party is the reader. Meter values: ``read_days``
days of hourly values for ``read_set`` of its metering points (spread over the
whole id range) — the rows the load reads — plus one earlier day for every
metering point it holds a grant for, so the value table grows with the scale too.

SQLite gets ``executemany`` in one transaction; PostgreSQL gets ``COPY`` with
foreign-key triggers off for the load session (the rows are consistent by
construction), then ``VACUUM (ANALYZE)``, as autovacuum would do soon after a bulk
load; measuring while it does would measure the vacuum (p99s of hundreds of ms).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, cast
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from sqlalchemy import Connection

from bench import hub, ids
from bench.plan import VALUE_START
from consenthub.registry.store import NewCredentials

ZONE = ZoneInfo("Europe/Oslo")
CHUNK = 50_000
MOVE_IN = "2020-01-01"
GRANTED_FROM = "2024-01-01"

Row = tuple[object, ...]


@dataclass(frozen=True)
class Dataset:
    """What was loaded, and what the load reads."""

    metering_points: int
    grants: int
    values: int
    reader: NewCredentials
    read_gsrns: list[str]
    read_days: list[dt.date]
    seconds: float
    # Time to write end users, metering points and supply periods; and the meter values.
    master_seconds: float
    values_seconds: float

    @property
    def rows(self) -> int:
        return 3 * self.metering_points + self.grants + self.values

    def summary(self) -> dict[str, object]:
        return {"metering_points": self.metering_points, "grants": self.grants,
                "values": self.values, "rows": self.rows, "seconds": self.seconds,
                "master_seconds": self.master_seconds, "values_seconds": self.values_seconds,
                "read_metering_points": len(self.read_gsrns), "read_days": len(self.read_days)}


def _chunks(rows: Iterable[Row]) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK)):
        yield chunk


def write_rows(conn: Connection, table: str, columns: Sequence[str],
               rows: Iterable[Row]) -> int:
    """Rows into ``table``: COPY on PostgreSQL, executemany in chunks on SQLite; how many."""
    count = 0
    if conn.dialect.name == "postgresql":
        driver = cast("psycopg.Connection[Any]", conn.connection.driver_connection)
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    for chunk in _chunks(rows):
        conn.exec_driver_sql(insert, chunk)
        count += len(chunk)
    return count


def _hours(day: dt.date, days: int) -> range:
    first = int(dt.datetime.combine(day, dt.time(), tzinfo=ZONE).timestamp())
    return range(first, first + days * 86400, 3600)


def build(url: str, secret_key: str, *, metering_points: int, grants: int, parties: int,
          read_set: int, read_days: int) -> Dataset:
    """Migrate a fresh database at ``url`` and fill it; returns what the load needs."""
    started = time.perf_counter()
    database = hub.migrate(url, secret_key)
    credentials = hub.add_parties(database, secret_key, parties)
    party_ids = [c.party.id for c in credentials]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    granted = [1 + j * metering_points // grants for j in range(grants)]
    mine = granted[::parties]  # grant j belongs to party j % parties; party 0 reads
    read_ids = [mine[k * len(mine) // read_set] for k in range(min(read_set, len(mine)))]
    values = 0
    with database.write() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET session_replication_role = replica")
        else:  # the unique index on national_id_hash takes rows out of order: keep it in memory
            conn.exec_driver_sql("PRAGMA cache_size = -1000000")
        master_started = time.perf_counter()
        people = ids.synthetic_fodselsnummer()
        cipher = hub.id_cipher(secret_key)
        write_rows(conn, "end_users", ("id", *hub.SEALED_ID_COLUMNS, "kind"),
               ((i, *hub.sealed_id(cipher, next(people)), "person-no")
                for i in range(1, metering_points + 1)))
        write_rows(conn, "metering_points",
               ("id", "gsrn", "settlement_point", "address", "postcode", "city", "grid_area",
                "extended_storage"),
               ((i, ids.gsrn(i), True, f"Storgata {i % 997 + 1}", f"{i % 9000 + 1000}", "Oslo",
                 f"NO{i % 5 + 1}", False) for i in range(1, metering_points + 1)))
        write_rows(conn, "supply_periods", ("id", "metering_point_id", "end_user_id", "move_in"),
               ((i, i, i, MOVE_IN) for i in range(1, metering_points + 1)))
        master_seconds = time.perf_counter() - master_started
        write_rows(conn, "grants",
               ("id", "party_id", "metering_point_id", "end_user_id", "scope", "valid_from",
                "created_at"),
               ((j + 1, party_ids[j % parties], mp, mp,
                 "Full" if (j // parties) % 2 else "Limited", GRANTED_FROM, now)
                for j, mp in enumerate(granted)))
        values_started = time.perf_counter()
        background = _hours(VALUE_START - dt.timedelta(days=1), 1)
        values += write_rows(conn, "meter_values", ("metering_point_id", "start_ts", "wh"),
                         ((mp, ts, 1000 + ts % 997) for mp in mine for ts in background))
        read_hours = _hours(VALUE_START, read_days)
        values += write_rows(conn, "meter_values", ("metering_point_id", "start_ts", "wh"),
                         ((mp, ts, 1000 + ts % 991) for mp in read_ids for ts in read_hours))
        values_seconds = time.perf_counter() - values_started
        if conn.dialect.name == "postgresql":
            for table in ("end_users", "metering_points", "supply_periods", "grants"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))")
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)" if conn.dialect.name == "postgresql"
                             else "PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return Dataset(
        metering_points=metering_points,
        grants=grants,
        values=values,
        reader=credentials[0],
        read_gsrns=[ids.gsrn(mp) for mp in read_ids],
        read_days=[VALUE_START + dt.timedelta(days=d) for d in range(read_days)],
        seconds=round(time.perf_counter() - started, 1),
        master_seconds=round(master_seconds, 2),
        values_seconds=round(values_seconds, 2),
    )
