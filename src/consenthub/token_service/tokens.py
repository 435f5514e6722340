"""Access tokens: a signed JWT (RFC 9068 profile, ``typ: at+jwt``) with a ``ref_token``
claim, as Helsenorge's STS issues them (seed 004: "Generert referanse JWT ... med
claims for klient id og referanse token").

Issuing a token writes nothing: the JWT carries everything a resource server needs.
Revocation (RFC 7009) records the ``ref_token`` in a deny-list that is kept until the
token expires, and a token is live while it verifies, its party is active and its
``ref_token`` is not on that list. Verified tokens are remembered per process, so a
client that reuses its token (as it should, for 30 minutes) is not verified again.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jws import extract_compact
from sqlalchemy import Connection, bindparam, exists, insert, select
from sqlalchemy.exc import IntegrityError

from consenthub.config import Settings
from consenthub.registry.store import PartyRecord
from consenthub.store.prepared import Prepared
from consenthub.store.tables import Party, TokenRevocation
from consenthub.token_service.keys import ALGORITHM, KeyRing

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a JWT "typ" value, not a secret
CLOCK_LEEWAY_SECONDS = 30

# What decides whether a token is live, as columns of its party's row (bind parameters
# ``client_id`` and ``ref_token``): the party's id, whether it is active, whether the token
# is revoked. A statement selects them from ``Party`` where ``LIVE_PARTY_WHERE`` holds;
# ``party_if_live`` reads them. A data API read adds its own columns to the same statement.
LIVENESS_COLUMNS = (
    Party.id.label("live_party_id"),
    Party.active.label("live_party_active"),
    exists().where(TokenRevocation.ref_token == bindparam("ref_token")).label("token_revoked"),
)
LIVE_PARTY_WHERE = Party.client_id == bindparam("client_id")
# Built once: constructing the statement would cost more than running it.
_PREPARED_LIVE_PARTY = Prepared(select(*LIVENESS_COLUMNS).where(LIVE_PARTY_WHERE))
_INSERT_REVOCATION = insert(TokenRevocation)
_VERIFIED_CACHE_SIZE = 4096


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


def issue_access_token(
    settings: Settings, keys: KeyRing, party: PartyRecord, scopes: list[str]
) -> IssuedToken:
    now = int(time.time())
    ttl = settings.access_token_ttl_seconds
    scope = " ".join(scopes)
    # One draw from the OS's random source for both: 256 bits of reference, a v4 jti.
    random_bytes = secrets.token_bytes(48)
    claims: dict[str, Any] = {
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "sub": party.client_id,
        "client_id": party.client_id,
        "client_name": party.name,
        "ref_token": base64.urlsafe_b64encode(random_bytes[:32]).rstrip(b"=").decode(),
        "jti": str(uuid.UUID(bytes=random_bytes[32:], version=4)),
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "scope": scope,
        "env": settings.environment,
    }
    if party.gln:
        claims["gln"] = party.gln
    if party.orgnr:
        claims["orgnr"] = party.orgnr
    return IssuedToken(_sign_compact(keys.signing_key(), orjson.dumps(claims)), ttl, scope)


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_P256_BYTES = 32


@functools.lru_cache(maxsize=16)
def _protected_header(kid: str) -> bytes:
    """The encoded JWS protected header and its dot, the same for every token of a key."""
    header = {"alg": ALGORITHM, "kid": kid, "typ": ACCESS_TOKEN_TYPE}
    return _base64url(orjson.dumps(header)) + b"."


def _base64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _sign_compact(key: ECKey, payload: bytes) -> str:
    """RFC 7515 §7.1 compact serialization, signed ES256 by ``cryptography``.

    ``jws.serialize_compact`` validates and encodes the same header for every token
    and looks the key's operations up on each call, which together cost more than
    the signature; here the header is encoded once per key. Tokens are verified
    with joserfc (``decode_access_token``), so both ends stay tested against it.
    """
    signing_input = _protected_header(str(key.kid)) + _base64url(payload)
    private_key = key.private_key
    assert private_key is not None  # the key ring holds private keys only
    # RFC 7518 §3.4: R and S as fixed-size big-endian integers, not the DER of OpenSSL.
    r, s = decode_dss_signature(private_key.sign(signing_input, _ECDSA_SHA256))
    signature = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
    return (signing_input + b"." + _base64url(signature)).decode()


class InvalidToken(Exception):
    """Bad signature, wrong type, issuer or audience, expired, or revoked."""


def decode_access_token(
    token: str, settings: Settings, keys: KeyRing, *, check_expiry: bool = True
) -> dict[str, Any]:
    """Verify signature and claims of a token from this environment; no database access."""
    try:
        kid = extract_compact(token.encode()).headers().get("kid")
    except (JoseError, ValueError, UnicodeError) as exc:
        raise InvalidToken("malformed token") from exc
    try:
        decoded = jwt.decode(token, keys.verification_keys(kid), algorithms=[ALGORITHM])
    except (JoseError, ValueError) as exc:
        raise InvalidToken("signature does not verify") from exc
    if decoded.header.get("typ") != ACCESS_TOKEN_TYPE:
        raise InvalidToken("not an access token")
    claims = decoded.claims
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": settings.token_issuer},
        "aud": {"essential": True, "value": settings.token_audience},
        "ref_token": {"essential": True},
        "client_id": {"essential": True},
    }
    now = int(dt.datetime.now(dt.UTC).timestamp())
    # Revocation accepts expired tokens: judge time claims as of the token's own nbf.
    judged_at = now if check_expiry else int(claims.get("nbf", now))
    registry = jwt.JWTClaimsRegistry(now=judged_at, leeway=CLOCK_LEEWAY_SECONDS, **options)
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise InvalidToken(str(exc)) from exc
    if check_expiry and "exp" not in claims:
        raise InvalidToken("token has no expiry")
    return claims


class VerifiedTokens:
    """Claims of tokens this process has verified, until they expire.

    A hit skips only the signature and claim checks, which cannot change for the
    same token string before ``exp``; revocation is still checked per use.
    Bounded: the oldest entry goes first.
    """

    def __init__(self, settings: Settings, keys: KeyRing, size: int = _VERIFIED_CACHE_SIZE):
        self._settings = settings
        self._keys = keys
        self._size = size
        self._claims: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> dict[str, Any] | None:
        claims = self._claims.get(token)
        if claims is None or claims["exp"] + CLOCK_LEEWAY_SECONDS <= time.time():
            return None
        return claims

    def verify(self, token: str) -> dict[str, Any]:
        claims = self.cached(token)
        if claims is not None:
            return claims
        claims = decode_access_token(token, self._settings, self._keys)
        with self._lock:
            if len(self._claims) >= self._size:
                self._claims.pop(next(iter(self._claims)))
            self._claims[token] = claims
        return claims


def live_party(conn: Connection, claims: dict[str, Any]) -> int | None:
    """The id of the token's party, if it is active and the token is not revoked."""
    rows = _PREPARED_LIVE_PARTY.rows(conn, **liveness_parameters(claims))
    return party_if_live(rows[0]) if rows else None


def liveness_parameters(claims: dict[str, Any]) -> dict[str, Any]:
    return {"client_id": claims["client_id"], "ref_token": claims["ref_token"]}


def party_if_live(row: Sequence[Any]) -> int | None:
    """The party id from a row that starts with ``LIVENESS_COLUMNS``, if the token is live."""
    party_id, active, revoked = row[:3]
    if revoked or not active:
        return None
    return int(party_id)


def revoke(conn: Connection, claims: dict[str, Any], party_id: int) -> bool:
    """Put the token on the deny-list until it expires; False if it already was."""
    try:
        with conn.begin_nested():
            conn.execute(
                _INSERT_REVOCATION,
                {
                    "ref_token": claims["ref_token"],
                    "party_id": party_id,
                    "expires_at": dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC),
                    "revoked_at": dt.datetime.now(dt.UTC),
                },
            )
    except IntegrityError:
        return False
    return True
