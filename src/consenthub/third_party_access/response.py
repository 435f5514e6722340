"""The return message of BRS-NO-624: a compact JWS (RFC 7515) signed with the hub's key.

Payload: the seed's ``elhubGln``, ``receiverGln``, ``request_id`` and ``contracts``
(``meteringPointId``, ``start`` = move-in date, ``end`` = the end user's chosen date
or null), or ``error`` ``{code, message}``; plus ``iss``, ``aud`` (the receiver's
GLN), ``iat`` and ``exp``. Verify it with the keys at ``/.well-known/jwks.json``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from joserfc import jwt

from consenthub.config import Settings
from consenthub.domain.errors import error
from consenthub.token_service.keys import ALGORITHM, KeyRing

RESPONSE_TYPE = "JWT"


def error_result(code: str) -> dict[str, str]:
    spec = error(code)
    return {"code": spec.code, "message": spec.message_nb}


def sign_response(
    settings: Settings, keys: KeyRing, *, receiver_gln: str, request_id: str, result: dict[str, Any]
) -> str:
    """``result`` holds either ``contracts`` (and ``scope``) or ``error``."""
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims: dict[str, Any] = {
        "iss": settings.token_issuer,
        "aud": receiver_gln,
        "iat": now,
        "exp": now + settings.third_party_response_ttl_seconds,
        "elhubGln": settings.hub_gln,
        "receiverGln": receiver_gln,
        "request_id": request_id,
        **result,
    }
    key = keys.signing_key()
    return jwt.encode(
        {"alg": ALGORITHM, "kid": key.kid, "typ": RESPONSE_TYPE},
        claims,
        key,
        algorithms=[ALGORITHM],
    )
