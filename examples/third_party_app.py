"""A third party's app that asks an end user for their meter data through consenthub.

This is the whole integration of URL-initiated access (Elhub BRS-NO-624) in one
file, meant to be copied:

1. "/" shows a "Connect your meter data" button. Pressing it makes a new
   ``request_id`` (UUID), remembers it, and sends the browser to the hub's
   ``/third-party-access/authorize`` page.
2. The end user logs in at the hub, picks metering points and approves (or not).
3. The hub sends the browser back to ``APP_URL/callback?response=<JWS>``. The app
   verifies the signature with the hub's published keys, checks that the answer is
   for us and for the request this browser started, and then reads yesterday's
   hourly values through the data API with its own client credentials.

Configuration (environment variables):

    HUB_URL          the hub, default http://127.0.0.1:8000
    THIRD_PARTY_GLN  our GLN as registered at the hub, default 7080000000425 (the demo party)
    CLIENT_ID        our client id at the hub's token service (printed by `make demo`)
    CLIENT_SECRET    its secret (printed by `make demo`)
    APP_URL          where this app is reached, default http://127.0.0.1:8001;
                     APP_URL/callback must be registered at the hub as a return address
    HUB_TIMEZONE     the hub's time zone, which "yesterday" is counted in, default Europe/Oslo
    PORT             port to listen on, default the port of APP_URL (8001)

Run it with ``python examples/third_party_app.py``. Needs only starlette,
uvicorn, httpx and joserfc.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import httpx
import uvicorn
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

# The cookie that ties a callback to the browser that started the request. Its
# name is our own: cookies ignore ports, so on 127.0.0.1 the hub's cookies and
# ours share one jar.
REQUEST_COOKIE = "third_party_app_request"
# How long a started request may take before we forget it (the hub's own deadline is longer).
PENDING_SECONDS = 3600
# What the hub's error codes mean for our user (the hub's message is shown too).
ERRORS = {
    "EH088": "You declined the request, so we have not got access to your meter data.",
    "EH106": "The hub has no metering point registered on you, so there is nothing to connect.",
    "EH098": "This request was already used. Please start again.",
    "EH111": "The hub had an internal error. Please try again later.",
}


@dataclass(frozen=True)
class Config:
    hub_url: str = "http://127.0.0.1:8000"
    gln: str = "7080000000425"
    client_id: str = ""
    client_secret: str = ""
    app_url: str = "http://127.0.0.1:8001"
    hub_timezone: str = "Europe/Oslo"

    @classmethod
    def from_env(cls) -> Config:
        env = os.environ
        return cls(
            hub_url=env.get("HUB_URL", cls.hub_url).rstrip("/"),
            gln=env.get("THIRD_PARTY_GLN", cls.gln),
            client_id=env.get("CLIENT_ID", ""),
            client_secret=env.get("CLIENT_SECRET", ""),
            app_url=env.get("APP_URL", cls.app_url).rstrip("/"),
            hub_timezone=env.get("HUB_TIMEZONE", cls.hub_timezone),
        )


class AnswerRejected(Exception):
    """The hub's answer cannot be trusted or is not ours; the text says why."""


def esc(value: object) -> str:
    """Everything from outside (hub answers, query strings) is escaped before it is shown."""
    return html.escape(str(value), quote=True)


STYLE = """
body { font: 1.0625rem/1.5 system-ui, sans-serif; color: #1a1a1a; margin: 0; }
main { max-width: 42rem; margin: 0 auto; padding: 1rem; }
header { background: #14532d; color: #fff; padding: .75rem 1rem; font-weight: 700; }
button, .button { font: inherit; padding: .7rem 1.3rem; border-radius: .4rem; border: 0;
  background: #15803d; color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
.ok, .problem { padding: .75rem; border-radius: .4rem; }
.ok { color: #14532d; background: #f0fdf4; border: 1px solid #86efac; }
.problem { color: #7f1d1d; background: #fef2f2; border: 1px solid #fca5a5; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #ddd; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tfoot th, tfoot td { font-weight: 700; border-top: 2px solid #1a1a1a; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dd { margin: 0; }
code { overflow-wrap: anywhere; }
"""


def page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} – Strømappen</title><style>{STYLE}</style></head>"
        f"<body><header>Strømappen (example third party)</header>"
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>",
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def start_again() -> str:
    return '<p><a class="button" href="/">Start again</a></p>'


def create_app(config: Config) -> Starlette:
    # request_id -> when it was started. In memory, so one process only; a real app
    # would keep this with its user's session in its database.
    pending: dict[str, float] = {}
    zone = ZoneInfo(config.hub_timezone)

    async def home(request: Request) -> Response:
        return page(
            "Your electricity, explained",
            "<p>Strømappen shows how much electricity you used yesterday, hour by hour.</p>"
            "<p>To do that we ask the data hub for access to your meter data. You log in "
            "at the hub, choose the metering points we may read, and can end the access "
            "there at any time.</p>"
            '<form method="post" action="/connect">'
            '<button type="submit">Connect your meter data</button></form>',
        )

    async def connect(request: Request) -> Response:
        # A fresh request_id per attempt: the hub refuses a request_id it has seen (EH098).
        request_id = str(uuid.uuid4())
        now = time.time()
        for old in [rid for rid, started in pending.items() if now - started > PENDING_SECONDS]:
            del pending[old]
        pending[request_id] = now
        query = urlencode({
            "client_id": config.gln,
            "request_id": request_id,
            "scope": "Full",
            "redirect_uri": f"{config.app_url}/callback",
        })
        response = RedirectResponse(f"{config.hub_url}/third-party-access/authorize?{query}",
                                    status_code=303)
        response.set_cookie(REQUEST_COOKIE, request_id, max_age=PENDING_SECONDS, path="/callback",
                            httponly=True, samesite="lax",
                            secure=config.app_url.startswith("https:"))
        return response

    async def verify(token: str, expected_request_id: str | None) -> dict[str, Any]:
        """The answer's claims, once its signature and its fields say it is ours."""
        async with httpx.AsyncClient(timeout=10) as client:
            # Fetched per answer: callbacks are rare, and a rotated hub key is then never missed.
            keys = KeySet.import_key_set(
                (await client.get(f"{config.hub_url}/.well-known/jwks.json")).raise_for_status()
                .json())
        try:
            claims = dict(jwt.decode(token, keys, algorithms=["ES256"]).claims)
            jwt.JWTClaimsRegistry(leeway=60, exp={"essential": True}).validate(claims)
        except (JoseError, ValueError) as exc:
            raise AnswerRejected(f"The signature or validity of the answer is wrong ({exc}).") \
                from None
        if claims.get("receiverGln") != config.gln:
            raise AnswerRejected("The answer was meant for another third party.")
        request_id = claims.get("request_id")
        # Only the browser that started this request may finish it, and only once.
        if not expected_request_id or request_id != expected_request_id:
            raise AnswerRejected("The answer is not for the request started in this browser.")
        if pending.pop(request_id, None) is None:
            raise AnswerRejected("This answer was already used (or is too old).")
        return claims

    async def read_values(contracts: list[dict[str, Any]]) -> dict[str, Any]:
        """Token by client credentials, then yesterday's values per metering point."""
        today = dt.datetime.now(zone).date()
        span = {"from": (today - dt.timedelta(days=1)).isoformat(), "to": today.isoformat()}
        async with httpx.AsyncClient(base_url=config.hub_url, timeout=20) as client:
            token = await client.post("/sts/Token", data={
                "grant_type": "client_credentials", "client_id": config.client_id,
                "client_secret": config.client_secret, "scope": "data:read"})
            if token.status_code != 200:
                raise AnswerRejected(f"The hub refused our credentials: {token.text[:300]}")
            bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
            read: dict[str, Any] = {}
            for contract in contracts:
                gsrn = contract["meteringPointId"]
                answer = await client.get(f"/api/v1/metering-points/{gsrn}/values",
                                          params=span, headers=bearer)
                read[gsrn] = answer.json() if answer.status_code == 200 else \
                    f"{answer.status_code}: {answer.text[:300]}"
            return read

    def values_table(gsrn: str, body: Any) -> str:
        if isinstance(body, str):
            return f'<p class="problem">Could not read the values: {esc(body)}</p>'
        rows, total = [], 0.0
        for value in body["values"]:
            total += value["kwh"]
            hour = dt.datetime.fromisoformat(value["start"]).astimezone(zone).strftime("%H:%M")
            rows.append(f'<tr><td>{esc(hour)}</td><td class="num">{value["kwh"]:.3f}</td></tr>')
        if not rows:
            return "<p>No values for yesterday yet.</p>"
        return (f'<table><caption>Yesterday, hour by hour</caption><thead><tr><th scope="col">'
                f'Hour</th><th scope="col" class="num">kWh</th></tr></thead><tbody>'
                f'{"".join(rows)}</tbody><tfoot><tr><th scope="row">Total</th>'
                f'<td class="num total">{total:.3f}</td></tr></tfoot></table>')

    async def callback(request: Request) -> Response:
        token = request.query_params.get("response")
        if not token:
            return page("No answer", "<p>The hub did not send an answer.</p>" + start_again(), 400)
        try:
            claims = await verify(token, request.cookies.get(REQUEST_COOKIE))
        except AnswerRejected as exc:
            return page("The answer could not be accepted",
                        f'<p class="problem">{esc(exc)}</p>' + start_again(), 400)
        except httpx.HTTPError:
            return page("The hub cannot be reached", "<p>Please try again later.</p>", 502)

        if "error" in claims:
            error = claims["error"] or {}
            code = str(error.get("code", "?"))
            # The hub's wire message is Norwegian (as in Elhub's own answers): our page is
            # English, so a known code is explained in English and the message is left out.
            explained = ERRORS.get(code)
            wire = "" if explained else (
                f': <span lang="nb">{esc(error.get("message", ""))}</span>')
            return page("Not connected",
                        f'<p class="problem">'
                        f'{esc(explained or "The hub could not complete the request.")}</p>'
                        f"<p>Code <code>{esc(code)}</code>{wire}</p>"
                        + start_again())

        contracts = list(claims.get("contracts") or [])
        try:
            values = await read_values(contracts)
        except (AnswerRejected, httpx.HTTPError) as exc:
            return page("Connected, but the data could not be read",
                        f'<p class="problem">{esc(exc)}</p>', 502)
        sections = []
        for contract in contracts:
            gsrn = contract["meteringPointId"]
            sections.append(
                f'<section id="mp-{esc(gsrn)}" aria-labelledby="h-{esc(gsrn)}">'
                f'<h2 id="h-{esc(gsrn)}">Metering point {esc(gsrn)}</h2>'
                f'<dl><dt>Access from</dt><dd class="start">{esc(contract["start"])}</dd>'
                f'<dt>Access until</dt><dd class="end">'
                f'{esc(contract.get("end") or "until you end it")}</dd></dl>'
                f"{values_table(gsrn, values[gsrn])}</section>")
        return page(
            "Your meter data is connected",
            f'<p class="ok" role="status">✓ Verified: this answer is signed by the hub '
            f"(GLN {esc(claims.get('elhubGln'))}) for us (GLN {esc(claims['receiverGln'])}), "
            f"request <code>{esc(claims['request_id'])}</code>, scope "
            f"{esc(claims.get('scope', ''))}.</p>"
            + ("".join(sections) or "<p>No metering point was shared.</p>")
            + start_again(),
        )

    return Starlette(routes=[
        Route("/", home),
        Route("/connect", connect, methods=["POST"]),
        Route("/callback", callback),
    ])


def main() -> None:
    config = Config.from_env()
    if not config.client_id or not config.client_secret:
        sys.exit("Set CLIENT_ID and CLIENT_SECRET (printed by `make demo`).")
    port = int(os.environ.get("PORT") or urlsplit(config.app_url).port or 8001)
    uvicorn.run(create_app(config), host="127.0.0.1", port=port)


if __name__ == "__main__":
    main()
