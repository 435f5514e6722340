"""Access tokens: a signed JWT (RFC 9068 profile, ``typ: at+jwt``) that references a
server-side record through its ``ref_token`` claim, as Helsenorge's STS does
(seed 004: "Generert referanse JWT ... med claims for klient id og
referanse token"). The record lets a token be revoked before it expires.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact
from sqlalchemy import Connection, bindparam, insert, select, update

from consenthub.config import Settings
from consenthub.registry.store import PartyRecord
from consenthub.store.tables import Party, Token
from consenthub.token_service.keys import ALGORITHM, KeyRing

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a JWT "typ" value, not a secret
CLOCK_LEEWAY_SECONDS = 30

# Built once: constructing the statement would cost more than running it.
_LIVE_TOKEN = (
    select(Token.party_id, Token.revoked_at, Party.active)
    .join(Party, Party.id == Token.party_id)
    .where(Token.ref_token == bindparam("ref_token"))
)
_INSERT_TOKEN = insert(Token)


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


def issue_access_token(
    conn: Connection, settings: Settings, keys: KeyRing, party: PartyRecord, scopes: list[str]
) -> IssuedToken:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    ttl = settings.access_token_ttl_seconds
    ref_token = secrets.token_urlsafe(32)
    jti = str(uuid.uuid4())
    scope = " ".join(scopes)
    conn.execute(
        _INSERT_TOKEN,
        {
            "ref_token": ref_token,
            "jti": jti,
            "party_id": party.id,
            "scope": scope,
            "issued_at": dt.datetime.fromtimestamp(now, dt.UTC),
            "expires_at": dt.datetime.fromtimestamp(now + ttl, dt.UTC),
            "revoked_at": None,
        },
    )
    claims: dict[str, Any] = {
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "sub": party.client_id,
        "client_id": party.client_id,
        "client_name": party.name,
        "ref_token": ref_token,
        "jti": jti,
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
    key = keys.signing_key()
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": ACCESS_TOKEN_TYPE}
    token = jwt.encode(header, claims, key, algorithms=[ALGORITHM])
    return IssuedToken(token, ttl, scope)


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


def live_token_party(conn: Connection, ref_token: str) -> int | None:
    """The party id of a token record that exists, is not revoked and whose party is active."""
    row = conn.execute(_LIVE_TOKEN, {"ref_token": ref_token}).first()
    if row is None or row.revoked_at is not None or not row.active:
        return None
    return int(row.party_id)


def revoke(conn: Connection, ref_token: str, party_id: int) -> bool:
    result = conn.execute(
        update(Token)
        .where(Token.ref_token == ref_token, Token.party_id == party_id, Token.revoked_at.is_(None))
        .values(revoked_at=dt.datetime.now(dt.UTC))
    )
    return bool(result.rowcount)
