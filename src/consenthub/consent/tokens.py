"""The consent token (seed 002, SPEC §7): a JWT signed with the hub's key through the one
signer, ``typ: consent+jwt``, carrying Altinn's claims — ``Services``,
``AuthorizationCode``, ``OfferedBy``, ``CoveredBy``, ``DelegatedDate``, ``ValidToDate`` —
and ``iss``, ``aud``, ``iat``, ``nbf``, ``exp``, ``jti``, ``consent_id``, ``client_id``,
``authorization_details`` (RFC 9396).

``OfferedBy`` is the person's national identity number, as Altinn puts it there: the data
source needs it to find the person's data. The token goes only to the consumer (over the
token endpoint's TLS answer) and from it to the data source; consenthub never logs it,
and introspection answers it only to the consumer and to data sources
(docs/decisions.md).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from consenthub import signing
from consenthub.config import Settings
from consenthub.domain.consent import AUTHORIZATION_DETAILS_TYPE
from consenthub.domain.identifiers import uuid4_text
from consenthub.signing import CLOCK_LEEWAY_SECONDS, KeyRing

CONSENT_TOKEN_TYPE = "consent+jwt"  # noqa: S105 - a JWT "typ" value, not a secret
# Short-lived: a fresh one is fetched while the consent lives (SPEC §7).
CONSENT_TOKEN_TTL_SECONDS = 300
# Altinn's date-time form of DelegatedDate and ValidToDate.
_ALTINN_TIME = "%Y-%m-%dT%H:%M:%S"


class InvalidConsentToken(Exception):
    """Bad signature, another type, issuer or audience, or expired."""


def services_claim(resources: dict[str, dict[str, str]]) -> list[str]:
    """Altinn's ``Services``: each resource code, then its metadata as
    ``<code>_<name>=<value>`` (``["5252_1", "5252_1_fraOgMed=01.01.2026", …]``)."""
    claim: list[str] = []
    for code, values in resources.items():
        claim.append(code)
        claim.extend(f"{code}_{name}={value}" for name, value in values.items())
    return claim


def authorization_details(consent_id: str) -> list[dict[str, str]]:
    """RFC 9396 ``authorization_details`` naming the consent."""
    return [{"type": AUTHORIZATION_DETAILS_TYPE, "id": consent_id}]


def issue(
    settings: Settings,
    keys: KeyRing,
    *,
    consent_id: str,
    client_id: str,
    covered_by: str | None,
    offered_by: str,
    resources: dict[str, dict[str, str]],
    delegated_at: dt.datetime,
    valid_to: dt.datetime,
    now: dt.datetime,
) -> tuple[str, int]:
    """The signed token and its lifetime in seconds; it never outlives the consent."""
    issued_at = int(now.timestamp())
    expires = min(issued_at + CONSENT_TOKEN_TTL_SECONDS, int(valid_to.timestamp()))
    zone = settings.zone
    claims: dict[str, Any] = {
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": expires,
        "jti": uuid4_text(secrets.randbits(128)),
        "consent_id": consent_id,
        "client_id": client_id,
        "env": settings.environment,
        # RFC 9396 §9.1: the token carries what it authorizes.
        "authorization_details": authorization_details(consent_id),
        "Services": services_claim(resources),
        # In Altinn the authorization code names the consent; here the code is a
        # single-use secret kept only as its hash, so the claim names the consent.
        "AuthorizationCode": consent_id,
        "OfferedBy": offered_by,
        "CoveredBy": covered_by,
        "DelegatedDate": delegated_at.astimezone(zone).strftime(_ALTINN_TIME),
        "ValidToDate": valid_to.astimezone(zone).strftime(_ALTINN_TIME),
    }
    return signing.sign(keys.signing_key(), claims, CONSENT_TOKEN_TYPE), expires - issued_at


def decode(token: str, settings: Settings, keys: KeyRing, now: dt.datetime) -> dict[str, Any]:
    """The claims of a consent token of this environment, live at ``now``."""
    try:
        claims = signing.decode(token, keys, CONSENT_TOKEN_TYPE)
    except signing.InvalidSignature as exc:
        raise InvalidConsentToken(str(exc)) from exc
    registry = jwt.JWTClaimsRegistry(
        now=int(now.timestamp()),
        leeway=CLOCK_LEEWAY_SECONDS,
        iss={"essential": True, "value": settings.token_issuer},
        aud={"essential": True, "value": settings.token_audience},
        exp={"essential": True},
        consent_id={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise InvalidConsentToken(str(exc)) from exc
    return claims
