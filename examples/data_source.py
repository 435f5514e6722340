"""A data source (NAV, seed 002) that answers a consumer holding a consent token.

The consumer sends ``Authorization: Bearer <consent token>`` to
``GET /uforeopplysninger``. This app:

1. verifies the token offline with the hub's published keys
   (``/.well-known/jwks.json``): ES256, header ``typ: consent+jwt``, the hub's issuer
   and this environment's audience, not expired;
2. asks the hub whether the consent still lives (``POST /sts/introspect`` with its
   own client credentials as a ``data_source`` party), since the person may have
   withdrawn it since the token was issued;
3. reads the consented period from ``Services`` (``5252_1_fraOgMed=dd.mm.yyyy``,
   ``5252_1_tilOgMed=dd.mm.yyyy``) and answers for ``OfferedBy`` (the person) only.

Configuration (environment variables):

    HUB_URL        the hub, default http://127.0.0.1:8000
    CLIENT_ID      our client id at the hub (a party with role data_source)
    CLIENT_SECRET  its secret
    HUB_AUDIENCE   the hub environment's token audience, default consenthub:test
                   (``consenthub config`` shows it as token_audience)
    RESOURCE       the consent resource we serve, default 5252_1
    PORT           port to listen on, default 8002

Run it with ``python examples/data_source.py``. Needs only starlette, uvicorn, httpx
and joserfc. The person's identity number is used to find their data and never
logged.
"""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
import uvicorn
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

HUB_URL = os.environ.get("HUB_URL", "http://127.0.0.1:8000")
HUB_AUDIENCE = os.environ.get("HUB_AUDIENCE", "consenthub:test")
RESOURCE = os.environ.get("RESOURCE", "5252_1")
KEYS_TTL_SECONDS = 300


class Refused(Exception):
    """The token does not let the caller read this resource."""


class HubKeys:
    """The hub's public keys, fetched again after ``KEYS_TTL_SECONDS`` or for an unknown
    ``kid`` (the hub publishes a new key before it signs with it)."""

    def __init__(self) -> None:
        self.keys: KeySet | None = None
        self.fetched = 0.0

    def get(self, refresh: bool = False) -> KeySet:
        if refresh or self.keys is None or time.monotonic() - self.fetched > KEYS_TTL_SECONDS:
            answer = httpx.get(f"{HUB_URL}/.well-known/jwks.json", timeout=5)
            answer.raise_for_status()
            self.keys = KeySet.import_key_set(answer.json())
            self.fetched = time.monotonic()
        return self.keys


def verify(token: str, keys: KeySet, issuer: str, audience: str) -> dict[str, Any]:
    """The claims of a live consent token of the hub, for our resource."""
    try:
        decoded = jwt.decode(token, keys, algorithms=["ES256"])
    except (JoseError, ValueError) as exc:
        raise Refused("the token does not verify") from exc
    if decoded.header.get("typ") != "consent+jwt":
        raise Refused("not a consent token")
    claims = dict(decoded.claims)
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise Refused("the token is expired or for another hub") from exc
    if RESOURCE not in claims.get("Services", []):
        raise Refused(f"the consent does not cover {RESOURCE}")
    return claims


def period(claims: dict[str, Any]) -> dict[str, str]:
    """``fraOgMed`` and ``tilOgMed`` of our resource, from ``Services``."""
    prefix = f"{RESOURCE}_"
    values = {}
    for item in claims["Services"]:
        name, equals, value = item.partition("=")
        if equals and name.startswith(prefix):
            values[name[len(prefix) :]] = value
    return values


def still_live(token: str) -> bool:
    answer = httpx.post(
        f"{HUB_URL}/sts/introspect",
        data={
            "token": token,
            "client_id": os.environ["CLIENT_ID"],
            "client_secret": os.environ["CLIENT_SECRET"],
        },
        timeout=5,
    )
    answer.raise_for_status()
    return bool(answer.json().get("active"))


hub_keys = HubKeys()


async def disability_data(request: Request) -> JSONResponse:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return JSONResponse({"error": "a consent token is required"}, status_code=401)
    metadata = httpx.get(f"{HUB_URL}/.well-known/oauth-authorization-server", timeout=5).json()
    try:
        claims = verify(token, hub_keys.get(), metadata["issuer"], HUB_AUDIENCE)
    except Refused as refused:
        return JSONResponse({"error": str(refused)}, status_code=403)
    if not still_live(token):
        return JSONResponse({"error": "the consent is withdrawn or ended"}, status_code=403)
    # Here NAV would look up OfferedBy's data for the period; this example answers
    # with the period only.
    return JSONResponse({"consent": claims["consent_id"], "period": period(claims), "data": []})


app = Starlette(routes=[Route("/uforeopplysninger", disability_data)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8002")))
