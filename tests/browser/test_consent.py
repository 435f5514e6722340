"""Altinn consent (seed 002) in a real browser, end to end and in nynorsk: the example
consumer's link (``LanguageCode=nn-NO``) → login at the real OIDC provider → the consent
page → accept → back at the consumer's ``RedirectUrl`` with ``AuthorizationCode`` and
``Status=OK``, where the consumer exchanges the code at ``/sts/Token`` and reads the
data source (``examples/data_source.py`` as its own server process) → the person
withdraws the consent in Min side in two clicks → no fresh token, introspection
inactive, and the data source refuses."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from consenthub import registry
from consenthub.store.database import Database
from tests.browser.conftest import ROOT, Shot, log_in_at_provider
from tests.conftest import TEST_SECRET_KEY
from tests.consent.parties import CONSUMER_NAME, CONSUMER_ORGNR, add_nav
from tests.factories import add_end_user, fnr
from tests.harness import LiveServer, ServerProcess, ThreadedServer, free_port
from tests.login_flow import register_person

KARI = fnr(5, 5, 80)
CONSENT_HEADER = "NAV-Samtykke-Token"


def load_consumer_module() -> ModuleType:
    name = "consent_consumer_example"
    if name in sys.modules:
        return sys.modules[name]
    path = ROOT / "examples" / "consent_consumer.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class ConsentSetup:
    hub: LiveServer
    consumer_url: str
    data_source_url: str
    consumer: registry.NewCredentials
    nav: registry.NewCredentials


@pytest.fixture
def consent_setup(
    portal_server: LiveServer, db: Database, oidc_issuer: str, tmp_path: Path
) -> Iterator[ConsentSetup]:
    """NAV with resource 5252_1 and its data source running as its own process; the
    example consumer (return domain 127.0.0.1) in this process; Kari at the provider."""
    register_person(oidc_issuer, "kari", pid=KARI, name="Kari Nordmann")
    add_end_user(db, KARI)
    nav, _ = add_nav(db)
    with db.write() as conn:
        consumer = registry.add_party(
            conn,
            TEST_SECRET_KEY.encode(),
            name=CONSUMER_NAME,
            roles=["consent_consumer"],
            orgnr=CONSUMER_ORGNR,
            return_domains=["127.0.0.1"],
        )
    source_port, consumer_port = free_port(), free_port()
    log = (tmp_path / "data_source.log").open("w")
    data_source_url = f"http://127.0.0.1:{source_port}"
    data_source = ServerProcess(
        [sys.executable, str(ROOT / "examples" / "data_source.py")],
        ready_url=f"{data_source_url}/",
        env=os.environ
        | {
            "HUB_URL": portal_server.url,
            "CLIENT_ID": nav.party.client_id,
            "CLIENT_SECRET": nav.client_secret,
            "HUB_AUDIENCE": portal_server.settings.token_audience,
            "PORT": str(source_port),
        },
        output=log,
    ).wait_ready()
    module = load_consumer_module()
    config = module.Config(
        hub_url=portal_server.url,
        orgnr=CONSUMER_ORGNR,
        client_id=consumer.party.client_id,
        client_secret=consumer.client_secret,
        app_url=f"http://127.0.0.1:{consumer_port}",
        data_source_url=data_source_url,
        language_code="nn-NO",
        hub_timezone=portal_server.settings.hub_timezone,
    )
    try:
        with ThreadedServer(module.create_app(config), consumer_port):
            yield ConsentSetup(portal_server, config.app_url, data_source_url, consumer, nav)
    finally:
        data_source.stop()
        log.close()


def fresh_token(setup: ConsentSetup, consent_id: str) -> httpx.Response:
    """RFC 9396: a fresh consent token by client credentials and authorization_details."""
    return httpx.post(
        f"{setup.hub.url}/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": setup.consumer.party.client_id,
            "client_secret": setup.consumer.client_secret,
            "authorization_details": json.dumps([{"type": "urn:altinn:consent", "id": consent_id}]),
        },
    )


def introspect(setup: ConsentSetup, token: str) -> dict[str, object]:
    answer = httpx.post(
        f"{setup.hub.url}/sts/introspect",
        data={
            "client_id": setup.nav.party.client_id,
            "client_secret": setup.nav.client_secret,
            "token": token,
        },
    )
    return dict(answer.json())


def read_data(setup: ConsentSetup, headers: dict[str, str], **query: str) -> httpx.Response:
    return httpx.get(f"{setup.data_source_url}/uforeopplysninger", headers=headers, params=query)


def day(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%d.%m.%Y").date()


def test_consent_in_nynorsk_from_link_to_withdrawal(
    page: Page, consent_setup: ConsentSetup, oidc_issuer: str, shot: Shot
) -> None:
    setup = consent_setup
    hub = setup.hub.url
    page.goto(f"{setup.consumer_url}/")
    shot(page, "consumer-start")
    button = page.get_by_role("link", name="Give consent at the hub")
    link = httpx.URL(button.get_attribute("href") or "")
    assert link.path == "/consent/request"
    assert link.params["LanguageCode"] == "nn-NO"
    period = (link.params["5252_1_fraOgMed"], link.params["5252_1_tilOgMed"])
    button.click()
    log_in_at_provider(page, oidc_issuer, "kari", shot)
    page.wait_for_url(f"{hub}/consent/requests/**")
    shot(page, "consent-page")

    # The consent page, in nynorsk, with the consumer's registered name in the purpose.
    expect(page.locator("html")).to_have_attribute("lang", "nn")
    expect(page.locator("h1")).to_have_text(f"{CONSUMER_NAME} ber om samtykket ditt")
    expect(page.get_by_role("heading", name="Dette samtykkjer du til å dele")).to_be_visible()
    expect(page.get_by_role("heading", name="Føremål")).to_be_visible()
    expect(page.get_by_text(f"Organisasjonsnummer {CONSUMER_ORGNR}")).to_be_visible()
    expect(page.get_by_text("Uføreopplysningar", exact=True)).to_be_visible()
    purpose = page.locator("p.purpose")
    expect(purpose).to_contain_text(
        f"trenger {CONSUMER_NAME} visse personopplysninger om deg fra NAV"
    )
    expect(purpose).to_contain_text(f"elektronisk til {CONSUMER_NAME}.")
    expect(page.locator("main")).not_to_contain_text("NAVN_SELSKAP")
    expect(page.locator("main")).to_contain_text(f"fraOgMed: {period[0]}")
    expect(page.locator("main")).to_contain_text(f"tilOgMed: {period[1]}")
    expect(page.locator("main")).to_contain_text("Samtykket gjeld til")
    assert KARI not in page.url

    page.get_by_role("button", name="Gje samtykke").click()
    page.wait_for_url(f"{setup.consumer_url}/consent-answer?*")
    shot(page, "consumer-answer")
    answer = parse_qs(urlsplit(page.url).query)
    assert answer["Status"] == ["OK"]
    assert answer["AuthorizationCode"][0]
    # The consumer exchanged the code and read the data source with the token.
    expect(page.locator("h1")).to_have_text("Consent given")
    consent_id = page.locator("#consent-id").inner_text()
    expect(page.get_by_role("status")).to_contain_text(f"from {period[0]} to {period[1]}")
    shown_dates = [day(cell) for cell in page.locator("tbody tr td:first-child").all_inner_texts()]
    assert len(shown_dates) == 12
    assert all(day(period[0]) <= paid <= day(period[1]) for paid in shown_dates)

    # A fresh token (RFC 9396), accepted by the data source in either header.
    fresh = fresh_token(setup, consent_id)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["authorization_details"] == [
        {"type": "urn:altinn:consent", "id": consent_id}
    ]
    token = fresh.json()["access_token"]
    by_bearer = read_data(setup, {"Authorization": f"Bearer {token}"})
    by_nav_header = read_data(setup, {CONSENT_HEADER: token})
    for read in (by_bearer, by_nav_header):
        assert read.status_code == 200, read.text
        assert read.json()["consent"] == consent_id
        paid = [day(item["utbetalingsdato"]) for item in read.json()["utbetalinger"]]
        assert paid == shown_dates
    narrowed = read_data(setup, {CONSENT_HEADER: token}, tilOgMed=f"28.02.{period[0][-4:]}")
    assert len(narrowed.json()["utbetalinger"]) == 2
    before = day(period[0]) - dt.timedelta(days=365)
    beyond = read_data(setup, {CONSENT_HEADER: token}, fraOgMed=before.strftime("%d.%m.%Y"))
    assert beyond.status_code == 403
    assert read_data(setup, {}).status_code == 401
    assert introspect(setup, token)["active"] is True

    # Min side: the consent, withdrawn in two clicks.
    page.goto(f"{hub}/minside/consents")
    expect(page.locator("h1")).to_have_text("Samtykka dine")
    expect(page.locator("main")).to_contain_text(CONSUMER_NAME)
    shot(page, "consents")
    page.locator(f"a[href='/minside/consents/{consent_id}/withdraw']").click()
    expect(page.locator("h1")).to_have_text(f"Trekkje tilbake samtykket til {CONSUMER_NAME}?")
    shot(page, "withdraw-confirm")
    page.get_by_role("button", name="Trekk tilbake samtykket").click()
    page.wait_for_url(f"{hub}/minside/consents?notice=withdrawn")
    expect(page.get_by_role("status")).to_have_text(
        "Samtykket er trekt tilbake. Det vert ikkje delt fleire opplysningar etter det."
    )
    shot(page, "withdrawn")

    refused = fresh_token(setup, consent_id)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert introspect(setup, token) == {"active": False}
    after = read_data(setup, {CONSENT_HEADER: token})
    assert after.status_code == 403
    assert "withdrawn" in after.json()["error"]
