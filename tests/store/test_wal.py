"""SQLite's WAL is checkpointed on a thread of its own, not in a request's commit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from consenthub.store import wal
from consenthub.store.database import Database

# Rows of ~1 KiB: 1,200 of them are some 300 pages, past SQLite's own checkpoint
# thresholds of old (200, and 1,000 by default: see the backstop test below).
ROW = "x" * 1000


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    with database.write() as conn:
        conn.execute(text("CREATE TABLE log (id INTEGER PRIMARY KEY, what TEXT)"))
    yield database
    database.dispose()


def _write(database: Database, rows: int) -> None:
    with database.write() as conn:
        conn.execute(text("INSERT INTO log (what) VALUES (:what)"), [{"what": ROW}] * rows)


def _database_file_pages(database: Database, path: Path) -> int:
    """Pages in the database file itself: what checkpoints have copied back from the WAL."""
    with database.read() as conn:
        page_size = int(conn.execute(text("PRAGMA page_size")).scalar_one())
    return path.stat().st_size // page_size


def test_a_commit_leaves_the_checkpoint_to_the_thread(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with database.read() as conn:
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == wal.BACKSTOP_PAGES
    checkpointer = database.checkpointer
    assert checkpointer is not None
    file = tmp_path / "wal.db"
    with monkeypatch.context() as asleep:
        asleep.setattr(checkpointer, "written", lambda: None)
        _write(database, 1200)
        # The commit copied nothing back itself: the ~300 new pages are in the WAL only.
        assert _database_file_pages(database, file) < 50
    before = checkpointer.rounds
    _write(database, 1)
    assert checkpointer.wait_for_round(before, timeout=10)
    assert _database_file_pages(database, file) > 300


def test_the_wal_stays_within_the_backstop_under_sustained_writes(
    database: Database, tmp_path: Path
) -> None:
    """Writes without a pause keep ahead of the thread's passive checkpoints, so the WAL
    would grow with them; the writers' own checkpoint past the backstop bounds it."""
    with database.read() as conn:
        page_size = conn.execute(text("PRAGMA page_size")).scalar_one()
    for _ in range(200):
        _write(database, 400)
    # 200 x ~100 pages written, five times the backstop; the WAL file keeps the largest
    # size it reached, a little past the backstop when a commit's own checkpoint found
    # the thread's under way and left it to the next commit.
    assert (tmp_path / "wal.db-wal").stat().st_size <= 2 * wal.BACKSTOP_PAGES * page_size


def test_dispose_stops_the_thread_and_a_new_commit_starts_it_again(database: Database) -> None:
    def running() -> int:
        return sum(thread.name == "sqlite_checkpoint" for thread in threading.enumerate())

    checkpointer = database.checkpointer
    assert checkpointer is not None
    _write(database, 1)
    assert running() >= 1
    others = running() - 1
    database.dispose()
    assert running() == others
    before = checkpointer.rounds
    _write(database, 1)
    assert checkpointer.wait_for_round(before, timeout=10)
