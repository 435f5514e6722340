"""The hub's signing keys: ES256, published at ``/.well-known/jwks.json``, rotated live.

A key's life is read from two timestamps (RFC 7517 key sets, RFC 7515 §4.1.4
``kid``): it is *published* from ``created_at``, *signs* from ``activates_at``
until the next key activates, and stays *published* for the longest lifetime
of anything it signed after that. A rotation made with a pre-publication delay
at least as long as every cache of the key set (ours and the resource
servers') therefore never produces a token that someone cannot verify.

Private keys are encrypted at rest with Fernet under a key derived (HKDF)
from the hub's secret key.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import threading
import time
from typing import Any

import orjson
from anyio import to_thread
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import Connection

from consenthub.signing import store
from consenthub.signing.store import KeyState
from consenthub.store.database import Database

ALGORITHM = "ES256"
CURVE = "P-256"
# Longest lifetime of anything signed beyond the access-token TTL (clock skew margin).
RETENTION_MARGIN = dt.timedelta(minutes=5)


def _fernet(secret_key: bytes) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"consenthub signing keys"
    ).derive(secret_key)
    return Fernet(base64.urlsafe_b64encode(derived))


def create_key(conn: Connection, secret_key: bytes, *, activates_at: dt.datetime) -> str:
    now = dt.datetime.now(dt.UTC)
    kid = now.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_urlsafe(6)
    key = ECKey.generate_key(CURVE, parameters={"kid": kid, "use": "sig", "alg": ALGORITHM})
    private = _fernet(secret_key).encrypt(orjson.dumps(key.as_dict(private=True))).decode()
    store.insert_key(
        conn,
        KeyState(kid, key.as_dict(private=False), private, now, activates_at),
        algorithm=ALGORITHM,
    )
    return kid


def ensure_key(conn: Connection, secret_key: bytes) -> str | None:
    """A fresh database gets its first key, active at once: its kid, or None when the
    database has keys already."""
    if store.any_key(conn):
        return None
    return create_key(conn, secret_key, activates_at=dt.datetime.now(dt.UTC))


def published(keys: list[KeyState], now: dt.datetime, retention: dt.timedelta) -> list[KeyState]:
    """Keys a verifier must know now: pre-published, signing, or recently superseded."""
    ordered = sorted(keys, key=lambda key: key.activates_at)
    shown = []
    for index, key in enumerate(ordered):
        if key.created_at > now:
            continue
        successor = next(
            (later for later in ordered[index + 1 :] if later.activates_at <= now), None
        )
        if successor is None or successor.activates_at + retention > now:
            shown.append(key)
    return shown


def signing(keys: list[KeyState], now: dt.datetime) -> KeyState | None:
    active = [key for key in keys if key.activates_at <= now]
    return max(active, key=lambda key: key.activates_at) if active else None


class KeyRing:
    """Per-process cache of the key table, refreshed every ``ttl`` seconds."""

    def __init__(
        self, database: Database, secret_key: bytes, *, token_ttl: int, cache_ttl: float
    ) -> None:
        self._database = database
        self._fernet = _fernet(secret_key)
        self._retention = dt.timedelta(seconds=token_ttl) + RETENTION_MARGIN
        self._cache_ttl = cache_ttl
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._states: list[KeyState] = []
        self._private: dict[str, ECKey] = {}
        self._verify_set = KeySet([])
        self._jwks: dict[str, Any] = {"keys": []}
        self._refreshed_for_unknown_kid_at = float("-inf")

    def _refresh_if_stale(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < self._cache_ttl:
            return
        with self._lock:
            if not force and time.monotonic() - self._loaded_at < self._cache_ttl:
                return
            with self._database.read() as conn:
                self._states = store.all_keys(conn)
            now = dt.datetime.now(dt.UTC)
            shown = published(self._states, now, self._retention)
            self._verify_set = KeySet([ECKey.import_key(key.public_jwk) for key in shown])
            self._jwks = {"keys": [key.public_jwk for key in shown]}
            self._loaded_at = time.monotonic()

    async def ready(self) -> None:
        """Reload a stale cache in a worker thread, so that a caller on the event loop
        can then sign without waiting for the database."""
        if time.monotonic() - self._loaded_at >= self._cache_ttl:
            await to_thread.run_sync(self._refresh_if_stale)

    def signing_key(self) -> ECKey:
        self._refresh_if_stale()
        state = signing(self._states, dt.datetime.now(dt.UTC))
        if state is None:
            raise RuntimeError(
                "no signing key: run `consenthub db upgrade` or `consenthub keys rotate`"
            )
        key = self._private.get(state.kid)
        if key is None:
            key = ECKey.import_key(orjson.loads(self._fernet.decrypt(state.private_jwk)))
            self._private[state.kid] = key
        return key

    def verification_keys(self, kid: str | None = None) -> KeySet:
        """Public keys; an unknown ``kid`` triggers at most one reload a second."""
        self._refresh_if_stale()
        if kid is not None and all(key.kid != kid for key in self._verify_set.keys):
            now = time.monotonic()
            if now - self._refreshed_for_unknown_kid_at > 1.0:
                self._refreshed_for_unknown_kid_at = now
                self._refresh_if_stale(force=True)
        return self._verify_set

    def jwks(self) -> dict[str, Any]:
        self._refresh_if_stale()
        return self._jwks
