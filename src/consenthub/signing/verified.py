"""Claims of tokens this process has verified, remembered until they expire."""

from __future__ import annotations

import threading
import time
from typing import Any

CLOCK_LEEWAY_SECONDS = 30
DEFAULT_SIZE = 4096


class VerifiedTokens:
    """A hit skips only the signature and claim checks, which cannot change for the same
    token string before its ``exp``; whatever can change (revocation, a party's state)
    the caller still asks per use. Bounded: the oldest entry goes first."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._claims: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> dict[str, Any] | None:
        claims = self._claims.get(token)
        if claims is None or claims["exp"] + CLOCK_LEEWAY_SECONDS <= time.time():
            return None
        return claims

    def remember(self, token: str, claims: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if len(self._claims) >= self._size:
                self._claims.pop(next(iter(self._claims)))
            self._claims[token] = claims
        return claims
