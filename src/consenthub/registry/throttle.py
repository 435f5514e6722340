"""Throttling of repeated failed client authentications (SPEC §3; probe defects 3 and 4).

A failure counts against two keys: the pair (normalised client id, remote address)
and the remote address alone, each with its own limit in a sliding window. A key past
its limit is refused with 429 before the secret is checked, so guessing stops; a
stranger's failures, keyed by the stranger's address, never lock the real client out
at its own address. The failures live in the shared database
(``client_auth_failures``), so one budget holds for every server process, and are
written and read on the failure path only: the success path (a correct secret from
the cache) asks this process's memory of the blocks it has seen, with no I/O. See
docs/decisions.md, "Client authentication throttle".
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from consenthub.domain.clock import Clock
from consenthub.registry.store import add_failure, failures_since
from consenthub.store.database import Database

# Bounds this process's memory of blocks under a flood of addresses; forgetting a block
# only costs one database read on that key's next failure.
_MAX_REMEMBERED = 100_000


@dataclass(frozen=True)
class ThrottleKey:
    key: str
    limit: int


class FailureThrottle:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        client_limit: int,
        address_limit: int,
        window_seconds: float,
    ) -> None:
        self._database = database
        self._clock = clock
        self.client_limit = client_limit
        self.address_limit = address_limit
        self._window = dt.timedelta(seconds=window_seconds)
        self._blocked_until: dict[str, dt.datetime] = {}
        self._lock = threading.Lock()

    def keys(self, client_id: str | None, remote_addr: str) -> tuple[ThrottleKey, ...]:
        """The keys a request counts against: ``client_id`` is the normalised id, or None
        when it is no valid id (then there is no client to protect, only the address)."""
        address = ThrottleKey(f"addr:{remote_addr[:100]}", self.address_limit)
        if client_id is None:
            return (address,)
        return (ThrottleKey(f"client:{client_id}@{remote_addr[:70]}", self.client_limit), address)

    def known_block(self, client_id: str | None, remote_addr: str) -> bool:
        """Whether this process has seen a key of this client and address blocked and the
        block still runs; from memory, without I/O (the success path)."""
        if not self._blocked_until:  # the usual case: no key is built
            return False
        now = self._clock()
        return any(
            self._blocked_until.get(key.key, now) > now for key in self.keys(client_id, remote_addr)
        )

    def retry_after(self, keys: Sequence[ThrottleKey]) -> int | None:
        """Seconds until the last blocked key of ``keys`` may try again, or None when none
        is blocked; from the shared database."""
        now = self._clock()
        with self._database.read() as conn:
            failures = failures_since(conn, [key.key for key in keys], now - self._window)
        return self._blocks(keys, failures, now)

    def record_failure(self, keys: Sequence[ThrottleKey]) -> None:
        """One failure under each of ``keys``; a key it takes to its limit is remembered
        as blocked at once, so this process's success path refuses it too."""
        now = self._clock()
        with self._database.write() as conn:
            add_failure(conn, [key.key for key in keys], now, now - self._window)
            failures = failures_since(conn, [key.key for key in keys], now - self._window)
        self._blocks(keys, failures, now)

    def _blocks(
        self,
        keys: Sequence[ThrottleKey],
        failures: dict[str, list[dt.datetime]],
        now: dt.datetime,
    ) -> int | None:
        waits = []
        for key in keys:
            times = failures[key.key]
            if len(times) >= key.limit:
                # Free again once fewer than ``limit`` failures are inside the window.
                until = times[len(times) - key.limit] + self._window
                waits.append(until)
                self._remember(key.key, until, now)
        if not waits:
            return None
        return max(1, math.ceil((max(waits) - now).total_seconds()))

    def _remember(self, key: str, until: dt.datetime, now: dt.datetime) -> None:
        with self._lock:
            if len(self._blocked_until) >= _MAX_REMEMBERED:
                self._blocked_until = {
                    known: ends for known, ends in self._blocked_until.items() if ends > now
                }
                if len(self._blocked_until) >= _MAX_REMEMBERED:
                    self._blocked_until.clear()
            self._blocked_until[key] = until
