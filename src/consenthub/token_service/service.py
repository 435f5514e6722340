"""Use cases of the token service (seed 004, RFC 6749 §4.4, RFC 7009, RFC 7662)."""

from __future__ import annotations

from typing import Any

from consenthub.domain.errors import Code, DomainError
from consenthub.domain.parties import ApiScope, ScopeNotAllowed, allowed_scopes, grant_scopes
from consenthub.registry import PartyRecord
from consenthub.services import Services
from consenthub.token_service import store, tokens


def issue(hub: Services, party: PartyRecord, scope: str | None) -> tokens.IssuedToken:
    """An access token for the authenticated client, with the scopes its roles allow
    (RFC 6749 §3.3: none asked means all of them)."""
    try:
        scopes = grant_scopes(scope, party.roles)
    except ScopeNotAllowed as exc:
        raise DomainError(Code.SCOPE_INVALID, f"not allowed: {exc}") from None
    return tokens.issue_access_token(hub.settings, hub.keys, party, scopes)


def _claims_or_none(
    hub: Services, token_value: str, *, check_expiry: bool
) -> dict[str, Any] | None:
    try:
        return tokens.decode_access_token(
            token_value, hub.settings, hub.keys, check_expiry=check_expiry
        )
    except tokens.InvalidToken:
        return None


def revoke(hub: Services, party: PartyRecord, token_value: str) -> None:
    """Put the client's own token on the deny-list (RFC 7009 §2.1); an unknown, invalid
    or foreign token changes nothing (and is answered alike, §2.2)."""
    claims = _claims_or_none(hub, token_value, check_expiry=False)
    if claims is None or claims.get("client_id") != party.client_id:
        return
    with hub.database.write() as conn:
        store.revoke(conn, claims, party.id, now=hub.now())


def introspect(hub: Services, party: PartyRecord, token_value: str) -> dict[str, Any] | None:
    """The claims of a live token the client may see (its own; any for a ``data_source``),
    without ``ref_token``; None for an inactive one (RFC 7662 §2.2)."""
    claims = _claims_or_none(hub, token_value, check_expiry=True)
    if claims is None:
        return None
    may_see = claims.get("client_id") == party.client_id or ApiScope.INTROSPECT in allowed_scopes(
        party.roles
    )
    if not may_see:
        return None
    with hub.database.read() as conn:
        if store.live_party(conn, claims) is None:
            return None
    return {key: value for key, value in claims.items() if key != "ref_token"}
