"""Throttling of repeated failed client authentications (SPEC §3).

Failures are counted per client id and per remote address in a sliding
window; past the limit, requests are refused with 429 before the secret is
even checked, so guessing stops. Counts live in the process: with N server
processes an attacker gets at most N times the limit, which still makes
guessing a 256-bit secret hopeless; the point is to stop noise and lockout
storms cheaply without a database write on every failure.
"""

from __future__ import annotations

import threading
import time
from collections import deque

_MAX_KEYS = 100_000


class FailureThrottle:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self._limit = limit
        self._window = window_seconds
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures

    def retry_after(self, *keys: str) -> int | None:
        """Seconds until a blocked key may try again, or None when none is blocked."""
        if not self._failures:  # the usual case, answered without the lock
            return None
        now = time.monotonic()
        waits = []
        with self._lock:
            for key in keys:
                failures = self._prune(key, now)
                if failures is not None and len(failures) >= self._limit:
                    waits.append(int(failures[0] + self._window - now) + 1)
        return max(waits) if waits else None

    def record_failure(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) >= _MAX_KEYS:
                for key in list(self._failures)[: _MAX_KEYS // 10]:
                    self._prune(key, now + self._window)
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def reset(self, key: str) -> None:
        if key not in self._failures:  # the usual case, answered without the lock
            return
        with self._lock:
            self._failures.pop(key, None)
