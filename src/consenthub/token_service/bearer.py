"""Resource-server side of the token service: checks ``Authorization: Bearer`` (RFC 6750).

A token passes when its signature verifies against the hub's keys, its type,
issuer and audience are this environment's, it has not expired (all of which a
process remembers per token, see ``signing.VerifiedTokens``), its party is active
and its ``ref_token`` is not revoked (asked of the database on every use).

Two steps, so that a handler can ask the second inside its own transaction:
``signed(request, scope)`` checks the token without I/O and yields a ``SignedToken``;
``live(conn, signed)`` turns it into a ``Caller``, the only thing that carries the
party id the stores need (``caller_of`` does, for a handler whose own statement asked
the database about the token's liveness). ``require(scope)`` does both for handlers
that want one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from consenthub.domain.errors import AuthScheme, Code, DomainError
from consenthub.domain.parties import ApiScope
from consenthub.services import Services
from consenthub.token_service import store, tokens


@dataclass(frozen=True)
class SignedToken:
    """A token whose signature and claims verify; not yet checked against revocation."""

    client_id: str
    scopes: frozenset[str]
    claims: dict[str, Any]


@dataclass(frozen=True)
class Caller:
    party_id: int
    client_id: str
    scopes: frozenset[str]
    claims: dict[str, Any]


def _token_from(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise DomainError(Code.BEARER_TOKEN_MISSING, challenge=AuthScheme.BEARER)
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise DomainError(
            Code.BEARER_TOKEN_MISSING, "use the Bearer scheme", challenge=AuthScheme.BEARER
        )
    return value.strip()


def live(conn: Connection, token: SignedToken) -> Caller:
    """The caller behind a verified token, if its party is active and it is not revoked."""
    return caller_of(token, store.live_party(conn, token.claims))


def caller_of(token: SignedToken, live_party_id: int | None) -> Caller:
    """The caller, given the answer of ``store.live_party`` (or a statement that asked the
    same, ``store.party_if_live``): ``None`` means revoked or deactivated."""
    if live_party_id is None:
        raise DomainError(Code.ACCESS_TOKEN_INVALID, "token revoked", challenge=AuthScheme.BEARER)
    return Caller(live_party_id, token.client_id, token.scopes, token.claims)


async def signed(request: Request, scope: ApiScope) -> SignedToken:
    """The request's token, if it is from this environment, verifies and carries ``scope``."""
    hub: Services = request.app.state.services
    value = _token_from(request)
    try:
        # A token seen before is answered from memory; a new one is verified in a
        # worker thread, because the key set may have to be reloaded for it.
        claims = hub.verified_tokens.cached(value)
        if claims is None:
            claims = await run_in_threadpool(
                tokens.verify_access_token, value, hub.settings, hub.keys, hub.verified_tokens
            )
    except tokens.InvalidToken as exc:
        raise DomainError(
            Code.ACCESS_TOKEN_INVALID, str(exc), challenge=AuthScheme.BEARER
        ) from None
    scopes = frozenset(str(claims.get("scope", "")).split())
    if scope not in scopes:
        raise DomainError(
            Code.SCOPE_INSUFFICIENT,
            f"requires {scope.value}",
            challenge=AuthScheme.BEARER,
            scope=scope.value,
        )
    return SignedToken(str(claims["client_id"]), scopes, claims)


def require(scope: ApiScope) -> Any:
    """FastAPI dependency: a live token from this environment carrying ``scope``."""

    async def dependency(request: Request) -> Caller:
        token = await signed(request, scope)
        database = request.app.state.services.database

        def check() -> Caller:
            with database.read() as conn:
                return live(conn, token)

        return await run_in_threadpool(check)

    return dependency
