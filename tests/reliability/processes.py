"""What the fault sections run: the hub as a ``consenthub serve`` process that can be killed
and started again on the same port, and a loopback TCP proxy to cut the database with."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from consenthub.signing import keys
from consenthub.store.database import Database
from consenthub.store.migrate import upgrade
from tests.conftest import TEST_SECRET_KEY
from tests.harness import EventLoopThread, ServerProcess, free_port


def prepared(database_url: str) -> Database:
    """The section's fresh database, migrated, with one signing key."""
    database = Database(database_url)
    upgrade(database)
    with database.write() as conn:
        keys.ensure_key(conn, TEST_SECRET_KEY.encode())
    return database


START_SECONDS = 90


class Hub:
    """``consenthub serve`` on one loopback port for its whole life: started, killed with
    SIGKILL, started again. Its output goes to ``log_path``."""

    def __init__(self, database_url: str, log_path: Path, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = os.environ | {
            "CONSENTHUB_DATABASE_URL": database_url,
            "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY,
            "CONSENTHUB_BASE_URL": self.url,
            "CONSENTHUB_LOG_LEVEL": "WARNING",
            **settings,
        }
        self.log_path = log_path
        self.server: ServerProcess | None = None
        self.starts = 0

    def start(self) -> Hub:
        with self.log_path.open("a") as log:
            self.server = ServerProcess(
                [sys.executable, "-m", "consenthub.cli.main", "serve", "--port", str(self.port)],
                ready_url=f"{self.url}/healthz",
                env=self.env,
                output=log,
                # A busy shared machine takes its time to import the hub.
                start_seconds=START_SECONDS,
            )
        self.starts += 1
        try:
            self.server.wait_ready()
        except RuntimeError:
            self.kill()
            output = f"exit {self.server.process.poll()}: {self.log_path.read_text()[-2000:]}"
            raise RuntimeError(f"the hub did not start: {output}") from None
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, transactions cut wherever they are."""
        if self.server is not None and self.server.process.poll() is None:
            os.kill(self.server.process.pid, signal.SIGKILL)
            self.server.process.wait(timeout=10)

    def stop(self) -> None:
        if self.server is not None and self.server.process.poll() is None:
            self.server.stop()


class TcpProxy:
    """A loopback TCP proxy to ``host:port`` in a thread of its own. ``cut`` closes every
    connection through it and makes it close new ones at once (the database is gone as
    far as the client can tell); ``restore`` lets connections through again."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.loop = EventLoopThread()
        self.open = True
        self.writers: set[asyncio.StreamWriter] = set()
        self.server = self.loop.run(
            asyncio.start_server(self._connection, "127.0.0.1", 0, reuse_address=True)
        )
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer, upstream}
        self.writers |= pair
        try:
            await asyncio.gather(_pipe(reader, upstream), _pipe(upstream_reader, writer))
        finally:
            self.writers -= pair
            for end in pair:
                end.transport.abort()

    def cut(self) -> None:
        async def cut() -> None:
            self.open = False
            for end in list(self.writers):
                end.transport.abort()

        self.loop.run(cut())

    def restore(self) -> None:
        async def restore() -> None:
            self.open = True

        self.loop.run(restore())

    def close(self) -> None:
        async def close() -> None:
            self.server.close()
            for end in list(self.writers):
                end.transport.abort()

        self.loop.run(close())
        self.loop.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
