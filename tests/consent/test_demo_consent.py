"""The demo's consent link (NAV as data source, the seed's template) is one the hub takes,
and the demo's consent flow ends on the example consumer's page, which exchanged the code
and shows what the example data source returned."""

from __future__ import annotations

import re

import httpx

from consenthub.consent import service
from consenthub.demo import (
    DEMO_CONSUMER,
    DEMO_PERSONS,
    consent_demo_link,
    load_demo,
    start_consent_apps,
)
from consenthub.services import Services
from consenthub.store.database import Database
from tests.harness import LiveServer, free_port
from tests.login_flow import csrf_of, login, register_person


def test_the_demo_consent_link_is_valid(hub: Services) -> None:
    load_demo(hub.settings, hub.database, example_port=8001)
    link = consent_demo_link(hub.settings, "http://127.0.0.1:8003", hub.now())
    resolved = service.resolve_request(hub, httpx.URL(link).params.multi_items())
    assert resolved.consumer.name == DEMO_CONSUMER[0]
    assert resolved.redirect_url == "http://127.0.0.1:8003/consent-answer"
    assert "NAVN_SELSKAP" not in resolved.purpose
    assert f"trenger {DEMO_CONSUMER[0]} visse personopplysninger" in resolved.purpose


def test_the_demo_consent_flow_ends_on_the_consumers_result_page(
    portal_server: LiveServer, db: Database, oidc_issuer: str
) -> None:
    load_demo(portal_server.settings, db, example_port=free_port())
    register_person(oidc_issuer, "kari", pid=DEMO_PERSONS["Kari Nordmann"], name="Kari Nordmann")
    started = start_consent_apps(portal_server.settings, db, free_port(), free_port())
    assert started is not None
    consumer_url, processes = started
    try:
        with httpx.Client() as browser:
            home = browser.get(f"{consumer_url}/")
            match = re.search(r'href="([^"]+/consent/request\?[^"]+)"', home.text)
            assert match, home.text
            link = match.group(1).replace("&amp;", "&")
            page_path = browser.get(link, follow_redirects=False).headers["location"]
            login(browser, portal_server, "kari", start=page_path)
            page = browser.get(f"{portal_server.url}{page_path}")
            answered = browser.post(
                f"{portal_server.url}{page_path}",
                data={"csrf_token": csrf_of(page.text), "action": "accept"},
                follow_redirects=False,
            )
            assert answered.headers["location"].startswith(f"{consumer_url}/consent-answer?")
            result = browser.get(answered.headers["location"])
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
    assert result.status_code == 200, result.text
    assert "Consent given" in result.text
    assert "Payments from NAV" in result.text
    assert result.text.count("<tr><td>") == 12
