"""The hot paths' ways into the database (``Database.quick_read``, ``transact``): what they
save must not change what a request sees or does."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest
from sqlalchemy import Connection, select, text

from consenthub.domain.errors import Code, DomainError
from consenthub.store.database import Database
from consenthub.store.prepared import Prepared
from consenthub.store.tables import SigningKey
from tests.consent.parties import run_async

_KEYS = Prepared(select(SigningKey.kid))
_REQUEST = contextvars.ContextVar("request", default="none")


def _kids(conn: Connection) -> list[str]:
    return [kid for (kid,) in _KEYS.rows(conn)]


def test_a_quick_read_sees_every_commit_before_it(db: Database) -> None:
    """A fresh consent token must see a withdrawal committed a moment before: the loop's
    kept connection holds no snapshot from one read to the next."""

    async def reads() -> tuple[list[str], list[str], list[str]]:
        before = await db.quick_read(_kids)
        await db.transact(
            lambda conn: conn.execute(
                SigningKey.__table__.update().values(kid=SigningKey.kid + "-rotated")
            )
        )
        after = await db.quick_read(_kids)
        with db.write() as conn:
            conn.execute(SigningKey.__table__.update().values(kid=SigningKey.kid + "-again"))
        again = await db.quick_read(_kids)
        return before, after, again

    before, after, again = run_async(reads())
    assert after == [kid + "-rotated" for kid in before]
    assert again == [kid + "-again" for kid in after]


def test_a_quick_read_that_began_a_transaction_leaves_none_open(db: Database) -> None:
    """Work that reads through SQLAlchemy begins a transaction; it is rolled back after, so
    the kept connection never pins an old snapshot (nor, on SQLite, the WAL)."""

    async def read_twice() -> tuple[int, bool]:
        def counted(conn: Connection) -> tuple[int, bool]:
            return int(conn.execute(text("SELECT count(*) FROM signing_keys")).scalar_one()), (
                conn.in_transaction()
            )

        first, began = await db.quick_read(counted)
        with db.write() as conn:
            conn.execute(SigningKey.__table__.delete())
        second, _ = await db.quick_read(counted)
        assert began
        return first - second, await db.quick_read(lambda conn: conn.in_transaction())

    removed, still_open = run_async(read_twice())
    assert removed == 1
    assert not still_open


def test_transact_carries_the_context_and_hands_back_errors(db: Database) -> None:
    """The database threads run work in the caller's context (its correlation id) and raise
    its error in the caller; a transaction that failed is rolled back."""

    async def work() -> tuple[str, str]:
        _REQUEST.set("request-1")
        seen = await db.transact(lambda _conn: _REQUEST.get())

        def fails(conn: Connection) -> None:
            conn.execute(SigningKey.__table__.delete())
            raise LookupError("nothing here")

        with pytest.raises(LookupError, match="nothing here"):
            await db.transact(fails)
        kids = await db.quick_read(_kids)
        return seen, str(len(kids))

    seen, kids = run_async(work())
    assert seen == "request-1"
    assert kids == "1"


def test_the_writer_thread_replaces_a_connection_that_failed(db: Database) -> None:
    """A database error in a transaction drops the kept connection, so the next
    transaction starts on a sound one."""

    async def work() -> list[str]:
        def breaks(conn: Connection) -> None:
            conn.connection.driver_connection.close()  # type: ignore[union-attr]
            conn.execute(text("SELECT 1"))

        # A connection closed under the hub is "unavailable" (503), not a fault.
        with pytest.raises(DomainError) as raised:
            await db.transact(breaks)
        assert raised.value.code is Code.STORE_UNAVAILABLE
        return await db.transact(_kids)

    assert len(run_async(work())) == 1


def test_work_given_up_before_it_starts_is_not_run(db: Database) -> None:
    """As with ``run_in_executor``: a request that went away before its turn changes
    nothing."""
    if not db.is_sqlite:
        pytest.skip("one database thread on SQLite only: there the second waits its turn")
    gate = threading.Event()
    ran: list[str] = []

    async def work() -> None:
        blocker = asyncio.ensure_future(db.transact(lambda _conn: gate.wait(10)))
        queued = asyncio.ensure_future(db.transact(lambda _conn: ran.append("ran")))
        await asyncio.sleep(0.05)
        queued.cancel()
        gate.set()
        await blocker
        await db.transact(lambda _conn: None)

    run_async(work())
    assert ran == []
