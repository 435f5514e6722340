"""Confidential-client authentication (RFC 6749 §2.3.1): HTTP Basic or body parameters.

Party records and secret hashes are cached per process for a short time; a
miss on a cached entry re-reads the database before failing, so a freshly
rotated secret works at once. ``from_cache`` answers without I/O when it can,
so the token endpoint stays on the event loop for a known client.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote

from consenthub.domain.errors import AuthScheme, Code, DomainError
from consenthub.domain.identifiers import InvalidIdentifier, validate_uuid
from consenthub.registry.secrets import matches
from consenthub.registry.store import PartyRecord, find_by_client_id, secret_validity
from consenthub.registry.throttle import FailureThrottle
from consenthub.store.database import Database


@dataclass(frozen=True)
class _CachedClient:
    party: PartyRecord
    secrets: tuple[tuple[str, dt.datetime | None], ...]
    loaded_at: float


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    via_basic: bool


def credentials_from(params: dict[str, str], authorization: str | None) -> ClientCredentials:
    """Exactly one authentication method per request (RFC 6749 §2.3)."""
    basic = authorization is not None and authorization[:6].lower() == "basic "
    if basic and ("client_secret" in params):
        raise DomainError(
            Code.TOKEN_REQUEST_INVALID, "use one client authentication method, not two"
        )
    if basic:
        assert authorization is not None
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            raw_id, sep, raw_secret = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise DomainError(
                Code.CLIENT_AUTHENTICATION_FAILED,
                "malformed Basic credentials",
                challenge=AuthScheme.BASIC,
            ) from None
        if not sep:
            raise DomainError(
                Code.CLIENT_AUTHENTICATION_FAILED,
                "malformed Basic credentials",
                challenge=AuthScheme.BASIC,
            )
        # RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
        client_id, client_secret = (
            unquote(raw_id.replace("+", " ")),
            unquote(raw_secret.replace("+", " ")),
        )
        if params.get("client_id") not in (None, client_id):
            raise DomainError(
                Code.TOKEN_REQUEST_INVALID,
                "client_id in the body differs from the Basic credentials",
            )
        return ClientCredentials(client_id, client_secret, True)
    body_id = params.get("client_id")
    body_secret = params.get("client_secret")
    if not body_id:
        raise DomainError(Code.CLIENT_AUTHENTICATION_FAILED, "client_id is required")
    if not body_secret:
        raise DomainError(Code.CLIENT_AUTHENTICATION_FAILED, "client_secret is required")
    return ClientCredentials(body_id, body_secret, False)


class ClientAuthenticator:
    def __init__(
        self, database: Database, secret_key: bytes, throttle: FailureThrottle, cache_ttl: float
    ) -> None:
        self._database = database
        self._secret_key = secret_key
        self._throttle = throttle
        self._cache_ttl = cache_ttl
        self._cache: dict[str, _CachedClient] = {}
        self._lock = threading.Lock()

    def _load(self, client_id: str) -> _CachedClient | None:
        with self._database.read() as conn:
            party = find_by_client_id(conn, client_id)
            if party is None:
                return None
            secrets = secret_validity(conn, party.id)
        entry = _CachedClient(party, tuple(secrets), time.monotonic())
        with self._lock:
            self._cache[client_id] = entry
        return entry

    def _verify(self, entry: _CachedClient, secret: str) -> bool:
        now = dt.datetime.now(dt.UTC)
        valid = [h for h, expires_at in entry.secrets if expires_at is None or expires_at > now]
        return entry.party.active and matches(self._secret_key, secret, valid)

    def from_cache(self, credentials: ClientCredentials, remote_addr: str) -> PartyRecord | None:
        """The party, if a fresh cache entry accepts these credentials; None means: call
        ``authenticate``, which may read the database and raises the right error. No I/O:
        the throttle is asked only for the blocks this process has seen."""
        entry = self._cache.get(credentials.client_id)
        if (
            entry is None
            or time.monotonic() - entry.loaded_at > self._cache_ttl
            or not self._verify(entry, credentials.client_secret)
        ):
            return None
        if self._throttle.known_block(credentials.client_id, remote_addr):
            return None
        return entry.party

    def authenticate(self, credentials: ClientCredentials, remote_addr: str) -> PartyRecord:
        challenge = AuthScheme.BASIC if credentials.via_basic else None
        try:
            client_id: str | None = validate_uuid(credentials.client_id)
        except InvalidIdentifier:
            client_id = None
        # The normalised id: the case variants of one id share one budget.
        keys = self._throttle.keys(client_id, remote_addr)
        wait = self._throttle.retry_after(keys)
        if wait is not None:
            raise DomainError(Code.TOO_MANY_FAILURES, retry_after=wait)
        if client_id is None:
            self._throttle.record_failure(keys)
            raise DomainError(
                Code.CLIENT_AUTHENTICATION_FAILED, "client_id must be a UUID", challenge=challenge
            )
        entry = self._cache.get(client_id)
        if (
            entry is None
            or time.monotonic() - entry.loaded_at > self._cache_ttl
            or not self._verify(entry, credentials.client_secret)
        ):
            entry = self._load(client_id)
        if entry is None or not self._verify(entry, credentials.client_secret):
            self._throttle.record_failure(keys)
            raise DomainError(Code.CLIENT_AUTHENTICATION_FAILED, challenge=challenge)
        return entry.party
