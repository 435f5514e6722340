"""Party roles and the OAuth scopes each role may be given (SPEC §2, §3)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    THIRD_PARTY = "third_party"
    SELLER = "seller"
    CONSENT_CONSUMER = "consent_consumer"
    DATA_SOURCE = "data_source"


class ApiScope(StrEnum):
    """What a token lets its holder call. Which data it reads is up to its grants."""

    DATA_READ = "data:read"
    THIRD_PARTY_ACCESS = "third-party-access"
    AUTHORIZATION_REQUESTS = "authorization-requests"
    CONSENT = "consent"
    INTROSPECT = "introspect"


ROLE_SCOPES: dict[Role, frozenset[ApiScope]] = {
    Role.THIRD_PARTY: frozenset({ApiScope.DATA_READ, ApiScope.THIRD_PARTY_ACCESS}),
    Role.SELLER: frozenset({ApiScope.DATA_READ, ApiScope.AUTHORIZATION_REQUESTS}),
    Role.CONSENT_CONSUMER: frozenset({ApiScope.CONSENT}),
    Role.DATA_SOURCE: frozenset({ApiScope.INTROSPECT}),
}


def allowed_scopes(roles: Iterable[str]) -> frozenset[str]:
    return _allowed_scopes(tuple(roles))


@functools.lru_cache(maxsize=64)
def _allowed_scopes(roles: tuple[str, ...]) -> frozenset[str]:
    """Remembered per role combination: asked on every token request."""
    allowed: set[str] = set()
    for role in roles:
        allowed |= {scope.value for scope in ROLE_SCOPES.get(Role(role), frozenset())}
    return frozenset(allowed)


class ScopeNotAllowed(ValueError):
    pass


def grant_scopes(requested: str | None, roles: Iterable[str]) -> list[str]:
    """RFC 6749 §3.3: no ``scope`` means every scope the client may have."""
    allowed = allowed_scopes(roles)
    if requested is None or not requested.strip():
        return sorted(allowed)
    wanted = requested.split()
    unknown = [scope for scope in dict.fromkeys(wanted) if scope not in allowed]
    if unknown:
        raise ScopeNotAllowed(" ".join(unknown))
    return sorted(set(wanted))
