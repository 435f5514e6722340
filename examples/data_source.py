"""A data source (NAV, seed 002) that answers a consumer holding a consent token.

The consumer sends the consent token to ``GET /uforeopplysninger``, in NAV's own
header ``NAV-Samtykke-Token: <consent token>`` (where ``Authorization`` then carries the
consumer's own access token) or as ``Authorization: Bearer <consent token>``; the
first one given of those two is the one judged. This app:

1. verifies the token offline with the hub's published keys
   (``/.well-known/jwks.json``): ES256, header ``typ: consent+jwt``, the hub's issuer
   and this environment's audience, not expired;
2. asks the hub whether the consent still lives (``POST /sts/introspect`` with its
   own client credentials as a ``data_source`` party), since the person may have
   withdrawn it since the token was issued;
3. reads the consented period from ``Services`` (``5252_1_fraOgMed=dd.mm.yyyy``,
   ``5252_1_tilOgMed=dd.mm.yyyy``) and answers for ``OfferedBy`` (the person) only,
   with the payments dated inside that period. The query may narrow it
   (``?fraOgMed=dd.mm.yyyy&tilOgMed=dd.mm.yyyy``); asking beyond it is refused (403).

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

import datetime as dt
import hashlib
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
CONSENT_HEADER = "NAV-Samtykke-Token"
# The example's register: a payment on the 20th of every month of these years.
PAYMENT_YEARS = range(2024, 2029)


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


def day(text: str) -> dt.date:
    """A date in the seed's ``dd.mm.yyyy``."""
    return dt.datetime.strptime(text, "%d.%m.%Y").date()


def payments(national_id: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """The person's disability payments dated from ``start`` to ``end`` (inclusive): a
    made-up register, the same for the same person each time."""
    base = 18_000 + int(hashlib.sha256(national_id.encode()).hexdigest()[:4], 16) % 5_000
    dates = (dt.date(year, month, 20) for year in PAYMENT_YEARS for month in range(1, 13))
    return [
        {"utbetalingsdato": paid.strftime("%d.%m.%Y"), "belop": base + paid.month * 10}
        for paid in dates
        if start <= paid <= end
    ]


def consent_token(request: Request) -> str | None:
    """NAV's ``NAV-Samtykke-Token`` header, else ``Authorization: Bearer``."""
    if token := request.headers.get(CONSENT_HEADER, "").strip():
        return token
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def asked_period(request: Request, consented: dict[str, str]) -> tuple[dt.date, dt.date]:
    """The period asked for, which must lie inside the consented one."""
    start, end = day(consented["fraOgMed"]), day(consented["tilOgMed"])
    try:
        asked_start = day(request.query_params.get("fraOgMed") or consented["fraOgMed"])
        asked_end = day(request.query_params.get("tilOgMed") or consented["tilOgMed"])
    except ValueError:
        raise Refused("fraOgMed and tilOgMed are dates as dd.mm.yyyy") from None
    if asked_start < start or asked_end > end:
        raise Refused("the period asked for lies outside the consented period")
    return asked_start, asked_end


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
    token = consent_token(request)
    if token is None:
        return JSONResponse(
            {"error": f"a consent token is required ({CONSENT_HEADER} or Bearer)"},
            status_code=401,
        )
    metadata = httpx.get(f"{HUB_URL}/.well-known/oauth-authorization-server", timeout=5).json()
    try:
        claims = verify(token, hub_keys.get(), metadata["issuer"], HUB_AUDIENCE)
        start, end = asked_period(request, period(claims))
    except Refused as refused:
        return JSONResponse({"error": str(refused)}, status_code=403)
    if not still_live(token):
        return JSONResponse({"error": "the consent is withdrawn or ended"}, status_code=403)
    return JSONResponse(
        {
            "consent": claims["consent_id"],
            "period": {
                "fraOgMed": start.strftime("%d.%m.%Y"),
                "tilOgMed": end.strftime("%d.%m.%Y"),
            },
            "utbetalinger": payments(claims["OfferedBy"], start, end),
        }
    )


async def health(_: Request) -> JSONResponse:
    return JSONResponse({"service": "NAV (example data source)", "resource": RESOURCE})


app = Starlette(routes=[Route("/", health), Route("/uforeopplysninger", disability_data)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8002")))
