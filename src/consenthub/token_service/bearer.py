"""Resource-server side of the token service: checks ``Authorization: Bearer`` (RFC 6750).

A token passes when its signature verifies against the hub's keys, its
type, issuer and audience are this environment's, it has not expired, and
its ``ref_token`` record exists, is not revoked and belongs to an active party.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from consenthub.domain.parties import ApiScope
from consenthub.services import Services, services
from consenthub.token_service import tokens
from consenthub.web.errors import ApiError

REALM = 'Bearer realm="consenthub"'


@dataclass(frozen=True)
class Caller:
    party_id: int
    client_id: str
    scopes: frozenset[str]
    claims: dict[str, Any]


def _challenge(error: str, description: str, scope: str | None = None) -> dict[str, str]:
    value = f'{REALM}, error="{error}", error_description="{description}"'
    if scope:
        value += f', scope="{scope}"'
    return {"WWW-Authenticate": value}


def _token_from(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise ApiError("CH1101", headers={"WWW-Authenticate": REALM})
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError("CH1101", "use the Bearer scheme", headers={"WWW-Authenticate": REALM})
    return value.strip()


def check_token(hub: Services, token_value: str) -> Caller:
    try:
        claims = tokens.decode_access_token(token_value, hub.settings, hub.keys)
    except tokens.InvalidToken as exc:
        raise ApiError("CH1102", headers=_challenge("invalid_token", str(exc)[:100])) from None
    with hub.database.read() as conn:
        party_id = tokens.live_token_party(conn, str(claims["ref_token"]))
    if party_id is None:
        raise ApiError("CH1102", headers=_challenge("invalid_token", "token revoked"))
    return Caller(
        party_id, str(claims["client_id"]), frozenset(str(claims.get("scope", "")).split()), claims
    )


def require(scope: ApiScope) -> Any:
    """FastAPI dependency: a live token from this environment carrying ``scope``."""

    async def dependency(request: Request) -> Caller:
        caller = await run_in_threadpool(check_token, services(request), _token_from(request))
        if scope not in caller.scopes:
            raise ApiError(
                "CH1103",
                headers=_challenge("insufficient_scope", f"requires {scope.value}", scope.value),
            )
        return caller

    return dependency
