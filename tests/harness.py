"""The one live-server harness: real servers on loopback ports, in a thread or as a process.

- ``ThreadedServer``: any ASGI app under uvicorn in a thread (the example third-party
  app, the hub).
- ``LiveServer``: the hub itself (``create_app``) as a ``ThreadedServer``, with the test's
  settings, database and clock.
- ``ServerProcess``: a command as its own process (``consenthub serve``, ``consenthub
  demo``), ready once a URL answers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import uvicorn

from consenthub.app import create_app
from consenthub.config import Settings
from consenthub.domain.clock import system_clock
from consenthub.store.database import Database

START_SECONDS = 10
Result = TypeVar("Result")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EventLoopThread:
    """One event loop in a thread of its own for a test's async objects (an HTTP client
    keeps its connections on the loop it was first used on). In a thread because the
    browser tests' Playwright keeps an event loop running in the main thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, work: Coroutine[Any, Any, Result]) -> Result:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=START_SECONDS)
        self.loop.close()


class MovableClock:
    """Real time plus an offset that tests move: deadlines, reminders and retries are
    tested by moving this clock, never by sleeping."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += dt.timedelta(**delta)


class ThreadedServer:
    """An ASGI app under uvicorn on a loopback port, in a thread."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_config=None,
                access_log=False,
                lifespan="off",
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + START_SECONDS
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=START_SECONDS)


class LiveServer(ThreadedServer):
    """The hub on a loopback port, in a thread."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        clock: Callable[[], dt.datetime] = system_clock,
    ) -> None:
        port = free_port()
        self.settings = settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"})
        self.app = create_app(self.settings, database, clock=clock)
        super().__init__(self.app, port)

    def __enter__(self) -> LiveServer:
        super().__enter__()
        return self


class ServerProcess:
    """``argv`` as its own process, ready once ``ready_url`` answers 200."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        ready_url: str,
        env: dict[str, str],
        cwd: Path | None = None,
        output: IO[Any] | int = subprocess.DEVNULL,
        start_seconds: float = 30,
    ) -> None:
        self.process = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT if output is not subprocess.PIPE else subprocess.DEVNULL,
            text=True,
        )
        self.ready_url = ready_url
        self.start_seconds = start_seconds

    def wait_ready(self) -> ServerProcess:
        deadline = time.monotonic() + self.start_seconds
        while True:
            try:
                if httpx.get(self.ready_url).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.ready_url} did not answer")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def bearer(server: ThreadedServer, client_id: str, client_secret: str) -> dict[str, str]:
    """The ``Authorization`` header of a fresh client-credentials token from ``server``."""
    token = httpx.post(
        f"{server.url}/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        },
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}
