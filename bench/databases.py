"""Fresh databases for a run: SQLite files in the work directory, PostgreSQL databases
named ``consenthub_bench_<pid>_*`` on the local server (created and dropped by the run)."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PREFIX = "consenthub_bench_"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Backend:
    """One fresh database: ``kind`` is sqlite or postgresql."""

    kind: str
    url: str
    name: str


def postgres_server() -> URL:
    """The local PostgreSQL server: ``CONSENTHUB_BENCH_POSTGRES_URL``, else the test suite's
    ``CONSENTHUB_TEST_POSTGRES_URL``, else 127.0.0.1:5432 as user postgres."""
    url = make_url(os.environ.get("CONSENTHUB_BENCH_POSTGRES_URL")
                   or os.environ.get("CONSENTHUB_TEST_POSTGRES_URL") or DEFAULT_POSTGRES)
    if url.host not in _LOOPBACK:
        raise ValueError(f"the benchmark only uses a PostgreSQL server on loopback, not {url.host}")
    return url


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    server = postgres_server()
    return psycopg.connect(
        host=server.host, port=server.port or 5432, user=server.username or "postgres",
        password=server.password, dbname="postgres", autocommit=True,
    )


def backend_pids(backend: Backend, *, excluding_application: str | None = None) -> list[int]:
    """PostgreSQL server processes serving connections to the backend's database, but for
    those of clients connected with ``application_name`` ``excluding_application``."""
    if backend.kind != "postgresql":
        return []
    with _admin() as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s "
                            "AND application_name IS DISTINCT FROM %s",
                            (backend.name, excluding_application)).fetchall()
    return [row[0] for row in rows if isinstance(row[0], int)]


def postgres_version() -> str:
    with _admin() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def sqlite_version() -> str:
    return sqlite3.sqlite_version


def _drop_left_over(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Drop the databases of runs whose process is gone (killed before they cleaned up)."""
    rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                        (f"{PREFIX}%",)).fetchall()
    for (name,) in rows:
        pid = str(name).removeprefix(PREFIX).split("_", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(str(name))))


def fresh_postgres(name: str) -> Backend:
    """Create ``consenthub_bench_<pid>_<name>``: the process id keeps runs that share the
    server (CI and a developer, say) out of each other's databases."""
    database = f"{PREFIX}{os.getpid()}_{name}"
    with _admin() as conn:
        _drop_left_over(conn)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    url = postgres_server().set(drivername="postgresql+psycopg", database=database)
    return Backend("postgresql", url.render_as_string(hide_password=False), database)


def fresh_sqlite(directory: Path, name: str) -> Backend:
    path = directory / f"{name}.db"
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    return Backend("sqlite", f"sqlite:///{path}", str(path))


def drop(backend: Backend) -> None:
    """Remove the database: drop it on PostgreSQL, delete the files on SQLite."""
    if backend.kind == "postgresql":
        with _admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(backend.name)))
        return
    path = Path(backend.name)
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)


def fresh(kind: str, directory: Path, name: str) -> Backend:
    return fresh_postgres(name) if kind == "postgresql" else fresh_sqlite(directory, name)
