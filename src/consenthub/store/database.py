"""Engine and transactions for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=NORMAL``; write transactions start
with ``BEGIN IMMEDIATE`` so two writers queue on the lock instead of one
failing half-way with ``SQLITE_BUSY`` after it read stale data.

``transact`` and ``reads_and_one_write`` are the way in from the event loop for the data
API: on SQLite they run the work on this process's one writer thread, so that concurrent requests
queue in order instead of waking a pool of threads that fight over the write lock and
the GIL; on PostgreSQL on a pool of threads as large as the connection pool. On SQLite the
writer thread keeps one connection for them instead of taking one from the pool each time.
``quick_read`` is the way in for a hot path's single read (a fresh consent token): on SQLite
on the event loop itself, on the connection the loop's thread keeps.

A database that cannot be reached (connection refused or dropped, no pooled connection to
be had) is ``DomainError(STORE_UNAVAILABLE)``, answered 503 with ``Retry-After``; the pool
replaces the broken connections, so the hub recovers by itself when the database returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from consenthub.domain.errors import Code, DomainError
from consenthub.store import wal

_IMMEDIATE = "consenthub_immediate"
SQLITE_CACHE_KIB = 16 * 1024
POSTGRESQL_POOL_SIZE = 10
# What a client is told to wait when the database cannot be reached.
STORE_RETRY_AFTER_SECONDS = 5
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database file", "disk i/o error")
Result = TypeVar("Result")


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached now, rather than that a
    statement is wrong: a connection refused, dropped or closed under the hub (the driver's
    ``OperationalError`` / ``InterfaceError``, or any error that invalidated its
    connection), or no pooled connection to be had in time."""
    if isinstance(error, sa_exc.TimeoutError):
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if isinstance(error.orig, sqlite3.Error):
        # SQLite says OperationalError for a missing table too: that is a fault, not this.
        return any(sign in str(error.orig).lower() for sign in _SQLITE_UNAVAILABLE)
    return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)


def unavailable() -> DomainError:
    return DomainError(Code.STORE_UNAVAILABLE, retry_after=STORE_RETRY_AFTER_SECONDS)


@contextmanager
def _reachable() -> Iterator[None]:
    """Database errors that mean "unreachable" as ``STORE_UNAVAILABLE``; others unchanged."""
    try:
        yield
    except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
        if is_unavailable(exc):
            raise unavailable() from exc
        raise


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine = self._create_engine(echo)
        # SQLite has one writer at a time. Threads of this process queue here, where the
        # hand-over is immediate, instead of in SQLite's busy handler, which sleeps in
        # steps of up to 100 ms. Other processes still meet the busy timeout.
        self._write_lock = threading.Lock() if self.is_sqlite else None
        # The threads that run ``transact`` and ``reads_and_one_write``: SQLite's one writer;
        # on PostgreSQL as many as the pool has connections, so none waits for a connection
        # while holding a thread.
        self._transactors = Transactors(1 if self.is_sqlite else POSTGRESQL_POOL_SIZE)
        # SQLite: the connection each thread that runs hot work keeps (the writer thread, the
        # event loop's thread), so that a transaction of a few statements does not pay the
        # pool's checkout and check-in, which cost more than its statements (~30 µs against
        # ~10 µs, docs/performance.md). ``dispose`` closes them all.
        self._kept = threading.local()
        self._kept_connections: list[tuple[threading.Thread, Connection]] = []
        self._kept_guard = threading.Lock()
        self._generation = 0
        # SQLite: the WAL checkpointed off the writer's path (``store/wal.py``).
        self._checkpointer: wal.Checkpointer | None = None
        if self.is_sqlite:
            self._checkpointer = wal.Checkpointer(str(self.url.database))
            event.listen(self.engine, "commit", self._committed)

    def _committed(self, _conn: Connection) -> None:
        assert self._checkpointer is not None
        self._checkpointer.written()

    @property
    def checkpointer(self) -> wal.Checkpointer | None:
        return self._checkpointer

    def _create_engine(self, echo: bool) -> Engine:
        if self.is_sqlite:
            # LIFO: the connection just returned is the one whose page cache is warm.
            engine = create_engine(
                self.url,
                echo=echo,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_use_lifo=True,
            )
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
            return engine
        engine = create_engine(
            self.url,
            echo=echo,
            pool_size=POSTGRESQL_POOL_SIZE,
            max_overflow=20,
            pool_use_lifo=True,
        )
        event.listen(engine.pool, "checkin", _note_idle_since)
        event.listen(engine.pool, "checkout", _ping_if_idle)
        return engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction that changes state: all or nothing."""
        if self._write_lock is None:
            with _reachable(), self.engine.connect() as conn, conn.begin():
                yield conn
            return
        with _reachable(), self._write_lock, self.engine.connect() as conn:
            conn = conn.execution_options(**{_IMMEDIATE: True})
            with conn.begin():
                yield conn

    async def transact(self, work: Callable[[Connection], Result]) -> Result:
        """``work`` in one write transaction, off the event loop."""

        def run() -> Result:
            if self._write_lock is not None:
                return self._write_kept(work)
            with self.write() as conn:
                return work(conn)

        return await self._off_the_loop(run)

    async def reads_and_one_write(self, work: Callable[[Connection], Result]) -> Result:
        """``work`` off the event loop: reads, then at most one statement that writes.

        On SQLite in one write transaction on the writer thread. On PostgreSQL in
        autocommit mode: each statement is its own transaction, which saves the BEGIN
        and COMMIT round trips (two of five for a data API read), and the one writing
        statement is all or nothing by itself. ``work`` must keep to that shape.
        """

        def run() -> Result:
            if self._write_lock is not None:
                return self._write_kept(work)
            return self._autocommit(work)

        return await self._off_the_loop(run)

    async def quick_read(self, work: Callable[[Connection], Result]) -> Result:
        """``work``: reads that need no common snapshot, each statement on the driver's
        cursor (``store.prepared``) and so atomic by itself; for a hot path's one read.

        On SQLite on the event loop, on the connection its thread keeps, in the driver's
        autocommit mode: in WAL mode a reader does not wait for writers (it sees the last
        commit), and the hop to the writer thread and back, with a write transaction there,
        cost more CPU than the read itself (docs/performance.md). Whatever began a
        transaction is rolled back at the end, so the connection never holds a snapshot
        that would keep the WAL from being checkpointed. On PostgreSQL, where a read is a
        round trip, off the loop in autocommit mode, as ``reads_and_one_write``.
        """
        if self._write_lock is None:
            return await self._off_the_loop(lambda: self._autocommit(work))
        conn = self._kept_connection(writer=False)
        with _reachable():
            try:
                try:
                    return work(conn)
                finally:
                    if conn.in_transaction():
                        conn.rollback()
            except (sa_exc.DBAPIError, sqlite3.Error):
                self._drop_kept(conn)
                raise

    def _autocommit(self, work: Callable[[Connection], Result]) -> Result:
        with _reachable(), self.engine.connect() as conn:
            return work(conn.execution_options(isolation_level="AUTOCOMMIT"))

    def _write_kept(self, work: Callable[[Connection], Result]) -> Result:
        """SQLite: ``work`` in one ``BEGIN IMMEDIATE`` transaction on this thread's kept
        connection, queued with every other writer of this process (``write``)."""
        assert self._write_lock is not None
        conn = self._kept_connection(writer=True)
        with _reachable():
            try:
                with self._write_lock, conn.begin():
                    return work(conn)
            except (sa_exc.DBAPIError, sqlite3.Error):
                # A connection that failed is not trusted again: the next one is fresh.
                self._drop_kept(conn)
                raise

    def _kept_connection(self, *, writer: bool) -> Connection:
        """This thread's kept connection: the writer's begins ``BEGIN IMMEDIATE``, the
        reader's plain ``BEGIN`` (should anything begin on it), so that a read on the
        event loop never waits for the write lock."""
        slot = "writer" if writer else "reader"
        kept: tuple[int, Connection] | None = getattr(self._kept, slot, None)
        if kept is not None and kept[0] == self._generation:
            return kept[1]
        with _reachable():
            conn = self.engine.connect()
        if writer:
            conn = conn.execution_options(**{_IMMEDIATE: True})
        with self._kept_guard:
            # Those of threads that ended (a test's loops come and go) are closed here.
            ended = [kept for kept in self._kept_connections if not kept[0].is_alive()]
            self._kept_connections = [kept for kept in self._kept_connections if kept[0].is_alive()]
            self._kept_connections.append((threading.current_thread(), conn))
            setattr(self._kept, slot, (self._generation, conn))
        for _, old in ended:
            old.close()
        return conn

    def _drop_kept(self, conn: Connection) -> None:
        with self._kept_guard:
            self._kept_connections = [
                kept for kept in self._kept_connections if kept[1] is not conn
            ]
        for slot in ("writer", "reader"):
            kept = getattr(self._kept, slot, None)
            if kept is not None and kept[1] is conn:
                setattr(self._kept, slot, None)
        conn.invalidate()
        conn.close()

    async def _off_the_loop(self, run: Callable[[], Result]) -> Result:
        return await self._transactors.run(run)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with _reachable(), self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        with self._kept_guard:
            kept, self._kept_connections = self._kept_connections, []
            self._generation += 1
        for _, conn in kept:
            conn.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()


# What the loop hands a transactor: its loop, the future it awaits, its context, the work.
_Handed = tuple[
    asyncio.AbstractEventLoop, "asyncio.Future[Any]", contextvars.Context, Callable[[], Any]
]


class Transactors:
    """The threads that run ``Database.transact`` and its kin: work handed over from the
    event loop on one queue, each outcome handed back with one ``call_soon_threadsafe``.

    What ``loop.run_in_executor`` does, without its second future: the executor's future
    (a ``Condition`` with its lock, made per call) chained to the loop's. On the token
    endpoint's code exchange that hand-over cost more CPU than the transaction it carried
    (docs/performance.md, "Consent tokens (issue 13), sixth session"). Work the awaiting
    task gave up on before it started is skipped, as the executor skips it. The threads
    are started as work arrives, up to ``threads``, and are daemons: a server stops only
    after its requests are answered.
    """

    def __init__(self, threads: int) -> None:
        self._threads = threads
        self._started = 0
        self._queue: queue.SimpleQueue[_Handed] = queue.SimpleQueue()
        self._guard = threading.Lock()

    def run(self, work: Callable[[], Result]) -> asyncio.Future[Result]:
        """``work`` on one of the threads, in the caller's context (its correlation id)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        if self._started < self._threads:
            self._start_one()
        self._queue.put((loop, future, contextvars.copy_context(), work))
        return future

    def _start_one(self) -> None:
        with self._guard:
            if self._started >= self._threads:
                return
            self._started += 1
            name = f"transact_{self._started}"
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _serve(self) -> None:
        while True:
            loop, future, context, work = self._queue.get()
            if future.cancelled():
                continue
            outcome: tuple[Any, BaseException | None]
            try:
                outcome = (context.run(work), None)
            except BaseException as error:  # handed to the awaiting task, as the executor does
                outcome = (None, error)
            # A loop that closed meanwhile (RuntimeError) has nobody awaiting the outcome.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, *outcome)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


# A connection that sat idle may have been closed by the server, a restart or a firewall:
# it is pinged before use. One in constant use is not, which saves a round trip per
# transaction (``pool_pre_ping`` would ping every checkout).
PING_AFTER_IDLE_SECONDS = 10.0


def _note_idle_since(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
    except Exception as exc:  # any driver error: the pool replaces the connection
        raise DisconnectionError() from exc


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from pysqlite so BEGIN is ours to emit.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # SQLite's default page cache is 2 MiB per connection; at Norway scale the indexes'
    # upper levels and a day's values of the metering points being read no longer fit.
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    # The checkpointer's thread checkpoints; a commit does only past the backstop.
    cursor.execute(f"PRAGMA wal_autocheckpoint={wal.BACKSTOP_PAGES}")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_IMMEDIATE, False)
    # Straight to the driver: as a SQLAlchemy statement, BEGIN cost more than a query.
    conn.connection.driver_connection.execute(  # type: ignore[union-attr]
        "BEGIN IMMEDIATE" if immediate else "BEGIN"
    )
