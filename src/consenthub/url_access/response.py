"""The return message of BRS-NO-624: a compact JWS (RFC 7515) signed with the hub's key.

Payload: the seed's ``elhubGln``, ``receiverGln``, ``request_id`` and ``contracts``
(``meteringPointId``, ``start`` = move-in date, ``end`` = the end user's chosen date
or null), or ``error`` ``{code, message}``; plus ``iss``, ``aud`` (the receiver's
GLN), ``iat`` and ``exp``. Verify it with the keys at ``/.well-known/jwks.json``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from consenthub import signing
from consenthub.config import Settings
from consenthub.signing import KeyRing

RESPONSE_TYPE = "JWT"


def sign_response(
    settings: Settings,
    keys: KeyRing,
    *,
    receiver_gln: str,
    request_id: str,
    result: dict[str, Any],
    now: dt.datetime,
) -> str:
    """``result`` holds either ``contracts`` (and ``scope``) or ``error``."""
    issued_at = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": settings.token_issuer,
        "aud": receiver_gln,
        "iat": issued_at,
        "exp": issued_at + settings.third_party_response_ttl_seconds,
        "elhubGln": settings.hub_gln,
        "receiverGln": receiver_gln,
        "request_id": request_id,
        **result,
    }
    return signing.sign(keys.signing_key(), claims, RESPONSE_TYPE)
