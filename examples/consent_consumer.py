"""A consent consumer (an insurer, seed 002) that asks a person for consent through
consenthub and reads the consented data from the data source (``data_source.py``).

1. "/" builds the consumer's link (``GET /consent/request`` with ``Resources``,
   ``CoveredBy``, ``RedirectUrl``, ``ValidToDate``, ``LanguageCode``,
   ``DelegationContext``, ``ResponseType=code`` and the period ``5252_1_fraOgMed`` /
   ``5252_1_tilOgMed``) and offers it as a button.
2. The person logs in at the hub and gives (or declines) consent.
3. The hub sends the browser to ``APP_URL/consent-answer?AuthorizationCode=…&Status=OK``
   (or ``Status=Failed&ErrorMessage=…``). The app exchanges the code at
   ``POST /sts/Token`` (``grant_type=authorization_code`` with its client credentials)
   for a consent token and calls the data source with it in ``NAV-Samtykke-Token``;
   the page shows the consent and the payments the data source returned.

Configuration (environment variables):

    HUB_URL          the hub, default http://127.0.0.1:8000
    CONSUMER_ORGNR   our organisation number as registered at the hub (CoveredBy)
    CLIENT_ID        our client id at the hub (a party with role consent_consumer)
    CLIENT_SECRET    its secret
    APP_URL          where this app is reached, default http://127.0.0.1:8003; its host
                     must lie in our return domain at the hub
    DATA_SOURCE_URL  the data source, default http://127.0.0.1:8002
    LANGUAGE_CODE    en, nb-NO or nn-NO, default nb-NO
    HUB_TIMEZONE     the hub's time zone (ValidToDate is local time), default Europe/Oslo
    PORT             port to listen on, default the port of APP_URL

Run it with ``python examples/consent_consumer.py``. Needs only starlette, uvicorn and
httpx. The code is single use and lives 60 s, so it is exchanged at once.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import sys
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

RESOURCE = "5252_1"
# NAV's template for DelegationContext (seed 002); the hub fills in NAVN_SELSKAP with our
# registered name.
DELEGATION_CONTEXT = (
    "For å behandle søknaden din, starte og stoppe utbetaling av uføreytelser, beregne riktig "
    "utbetalingsgrad og utbetale uføreytelser for riktig tidsperiode trenger NAVN_SELSKAP visse "
    "personopplysninger om deg fra NAV. Ved å samtykke, gir du NAV rett til å utlevere disse "
    "personopplysningene direkte og elektronisk til NAVN_SELSKAP."
)
CONSENT_DAYS = 30


@dataclass(frozen=True)
class Config:
    hub_url: str = "http://127.0.0.1:8000"
    orgnr: str = ""
    client_id: str = ""
    client_secret: str = ""
    app_url: str = "http://127.0.0.1:8003"
    data_source_url: str = "http://127.0.0.1:8002"
    language_code: str = "nb-NO"
    hub_timezone: str = "Europe/Oslo"

    @classmethod
    def from_env(cls) -> Config:
        env = os.environ
        return cls(
            hub_url=env.get("HUB_URL", cls.hub_url).rstrip("/"),
            orgnr=env.get("CONSUMER_ORGNR", ""),
            client_id=env.get("CLIENT_ID", ""),
            client_secret=env.get("CLIENT_SECRET", ""),
            app_url=env.get("APP_URL", cls.app_url).rstrip("/"),
            data_source_url=env.get("DATA_SOURCE_URL", cls.data_source_url).rstrip("/"),
            language_code=env.get("LANGUAGE_CODE", cls.language_code),
            hub_timezone=env.get("HUB_TIMEZONE", cls.hub_timezone),
        )


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} – Forsikring</title></head>"
        f"<body><header>Forsikring (example consent consumer)</header>"
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>",
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def consent_link(config: Config, now: dt.datetime) -> str:
    """Our link to the hub's consent page, for this year's payments, valid 30 days."""
    valid_to = (now + dt.timedelta(days=CONSENT_DAYS)).astimezone(ZoneInfo(config.hub_timezone))
    query = urlencode(
        {
            "Resources": RESOURCE,
            "CoveredBy": config.orgnr,
            "RedirectUrl": f"{config.app_url}/consent-answer",
            "ValidToDate": valid_to.strftime("%Y-%m-%d %H:%M:%S"),
            "LanguageCode": config.language_code,
            "DelegationContext": DELEGATION_CONTEXT,
            "ResponseType": "code",
            f"{RESOURCE}_fraOgMed": f"01.01.{valid_to.year}",
            f"{RESOURCE}_tilOgMed": f"31.12.{valid_to.year}",
        }
    )
    return f"{config.hub_url}/consent/request?{query}"


def create_app(config: Config) -> Starlette:
    async def home(_: Request) -> HTMLResponse:
        link = consent_link(config, dt.datetime.now(dt.UTC))
        return page(
            "Disability insurance",
            "<p>To handle your claim we need your disability payments from NAV. You give "
            "your consent at the hub, and can withdraw it there at any time.</p>"
            f'<p><a class="button" href="{esc(link)}">Give consent at the hub</a></p>',
        )

    async def answer(request: Request) -> HTMLResponse:
        status = request.query_params.get("Status")
        code = request.query_params.get("AuthorizationCode")
        if status != "OK" or not code:
            message = request.query_params.get("ErrorMessage", "no answer")
            return page("No consent", f'<p class="problem">{esc(message)}</p>')
        async with httpx.AsyncClient(timeout=10) as client:
            exchanged = await client.post(
                f"{config.hub_url}/sts/Token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "client_id": config.client_id,
                    "client_secret": config.client_secret,
                },
            )
            if exchanged.status_code != 200:
                return page(
                    "The code was refused", f"<p>{esc(exchanged.text[:300])}</p>", status_code=502
                )
            token = exchanged.json()
            data = await client.get(
                f"{config.data_source_url}/uforeopplysninger",
                headers={"NAV-Samtykke-Token": token["access_token"]},
            )
        if data.status_code != 200:
            return page(
                "Consent given, but the data source refused",
                f"<p>{esc(data.status_code)}: {esc(data.text[:300])}</p>",
                status_code=502,
            )
        body = data.json()
        rows = "".join(
            f"<tr><td>{esc(item['utbetalingsdato'])}</td>"
            f'<td class="num">{esc(item["belop"])}</td></tr>'
            for item in body["utbetalinger"]
        )
        return page(
            "Consent given",
            f'<p class="ok" role="status">Consent <code id="consent-id">{esc(token["consent_id"])}'
            f"</code> from {esc(body['period']['fraOgMed'])} to "
            f"{esc(body['period']['tilOgMed'])}.</p>"
            "<table><caption>Payments from NAV</caption><thead><tr><th>Paid</th>"
            f'<th class="num">NOK</th></tr></thead><tbody>{rows}</tbody></table>',
        )

    return Starlette(routes=[Route("/", home), Route("/consent-answer", answer)])


def main() -> None:
    config = Config.from_env()
    if not (config.orgnr and config.client_id and config.client_secret):
        sys.exit("Set CONSUMER_ORGNR, CLIENT_ID and CLIENT_SECRET (printed by `make demo`).")
    port = int(os.environ.get("PORT") or urlsplit(config.app_url).port or 8003)
    uvicorn.run(create_app(config), host="127.0.0.1", port=port)


if __name__ == "__main__":
    main()
