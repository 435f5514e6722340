"""SQLite: the WAL checkpointed on a thread of its own, not inside a request's commit.

SQLite's automatic checkpoint runs in the commit that takes the WAL past its threshold:
that commit, and every request queued behind it on the writer, waits while the pages are
copied into the database file and both files are fsynced. Here a daemon thread, woken
by commits, runs ``PRAGMA wal_checkpoint(PASSIVE)`` on a connection of its own at most
every ``CHECKPOINT_EVERY_SECONDS``; a passive checkpoint takes no lock that a reader or
writer waits for, and the driver lets go of the GIL while it works. The connections'
own automatic checkpoint stays on, at ``BACKSTOP_PAGES``, for a process whose thread
falls behind (docs/decisions.md).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading

# Writers checkpoint in their commit only past this many WAL pages (16 MiB).
BACKSTOP_PAGES = 4000
# At most this often: each checkpoint fsyncs the WAL and the database file, and a page
# written again between two checkpoints is copied once.
CHECKPOINT_EVERY_SECONDS = 0.1


class Checkpointer:
    def __init__(self, path: str) -> None:
        self._path = path
        self._written = threading.Event()
        self._guard = threading.Lock()
        # The running thread and the event that stops it; a stopped checkpointer starts
        # again on the next commit (a database may be disposed of and used again).
        self._running: tuple[threading.Thread, threading.Event] | None = None
        # Checkpoints run so far, for the tests to wait on.
        self.rounds = 0
        self._round_done = threading.Condition()

    def written(self) -> None:
        """A transaction committed: checkpoint soon (the thread starts on first use)."""
        if self._running is None:
            self._start()
        self._written.set()

    def _start(self) -> None:
        with self._guard:
            if self._running is not None:
                return
            stop = threading.Event()
            thread = threading.Thread(
                target=self._run, args=(stop,), name="sqlite_checkpoint", daemon=True
            )
            self._running = (thread, stop)
            thread.start()

    def _run(self, stop: threading.Event) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._written.wait()
                if stop.is_set():
                    return
                self._written.clear()
                # Busy (another process checkpoints) or failing: the next commit wakes it
                # again, and the writers' backstop bounds the WAL meanwhile.
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                with self._round_done:
                    self.rounds += 1
                    self._round_done.notify_all()
                if stop.wait(CHECKPOINT_EVERY_SECONDS):
                    return
        finally:
            connection.close()

    def wait_for_round(self, after: int, timeout: float) -> bool:
        """Whether a checkpoint past round ``after`` ran within ``timeout`` seconds."""
        with self._round_done:
            return self._round_done.wait_for(lambda: self.rounds > after, timeout)

    def stop(self) -> None:
        with self._guard:
            running, self._running = self._running, None
        if running is None:
            return
        thread, stop = running
        stop.set()
        self._written.set()
        thread.join(timeout=5)
