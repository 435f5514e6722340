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
import secrets
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from consenthub import signing
from consenthub.config import Settings
from consenthub.domain.identifiers import uuid4_text
from consenthub.registry import PartyRecord
from consenthub.signing import CLOCK_LEEWAY_SECONDS, KeyRing, VerifiedTokens

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a JWT "typ" value, not a secret


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
        "jti": uuid4_text(int.from_bytes(random_bytes[32:])),
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
    return IssuedToken(signing.sign(keys.signing_key(), claims, ACCESS_TOKEN_TYPE), ttl, scope)


class InvalidToken(Exception):
    """Bad signature, wrong type, issuer or audience, expired, or revoked."""


def decode_access_token(
    token: str, settings: Settings, keys: KeyRing, *, check_expiry: bool = True
) -> dict[str, Any]:
    """Verify signature and claims of a token from this environment; no database access."""
    try:
        claims = signing.decode(token, keys, ACCESS_TOKEN_TYPE)
    except signing.InvalidSignature as exc:
        raise InvalidToken(str(exc)) from exc
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


def verify_access_token(
    token: str, settings: Settings, keys: KeyRing, verified: VerifiedTokens
) -> dict[str, Any]:
    """``decode_access_token``, remembered in ``verified`` until the token expires."""
    claims = verified.cached(token)
    if claims is not None:
        return claims
    return verified.remember(token, decode_access_token(token, settings, keys))
