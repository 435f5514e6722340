"""The accessibility check (SPEC §9, WCAG 2.2 AA): axe-core, injected by Playwright, on every
portal page — the front page, Min side and each of its lists, the decision page of each process
(BRS-NO-624, BRS-NO-622, DH-831, consent), an answered request, an error page, the
failed-login page and the logged-out page — in every language. Any violation of a WCAG
2.0/2.1/2.2 A or AA rule fails the test. Also: the focus ring's contrast, and GSRNs that
never break across lines."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import insert, select

from consenthub import access_requests, registry
from consenthub.access_requests import Answer
from consenthub.access_updates import service as access_updates
from consenthub.access_updates.schemas import parse_message
from consenthub.authorization_requests import service as authorization_requests
from consenthub.authorization_requests.schemas import parse_request
from consenthub.consent import service as consent
from consenthub.domain.access import Decision, Process
from consenthub.i18n import LANGUAGES
from consenthub.services import Services
from consenthub.store.database import Database
from consenthub.store.tables import AccessLogEntry, MeteringPoint
from consenthub.url_access import service as url_access
from tests.browser.conftest import DESKTOP, OFF_MACHINE, Person, log_in_at_provider
from tests.conftest import TEST_SECRET_KEY
from tests.consent.parties import add_consumer, add_nav
from tests.consent.test_service import pairs as consent_link
from tests.factories import add_grant, gln, national_id_of
from tests.harness import LiveServer

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
RETURN_URL = "https://app.example.no/callback"


def _party(db: Database, name: str, seed: int, role: str) -> int:
    with db.write() as conn:
        created = registry.add_party(
            conn,
            TEST_SECRET_KEY.encode(),
            name=name,
            roles=[role],
            gln=gln(seed),
            orgnr="974760673",
            return_urls=[RETURN_URL],
            privacy_url=f"https://{seed}.example.no/personvern",
        )
    return created.party.id


def _url_request(hub: Services, person: int | None) -> str:
    query = [("client_id", gln(41)), ("request_id", str(uuid.uuid4())), ("scope", "Full")]
    opened = url_access.open_link(hub, url_access.resolve_link(hub, query), person)
    assert opened is not None
    return opened.id


def _everything(hub: Services, db: Database, kari: Person) -> dict[str, str]:
    """Kari's Min side with something in every list, and a pending request of every
    process: the paths of the pages to check."""
    third_party = _party(db, "Strømappen AS", 41, "third_party")
    grid = _party(db, "Nettselskap AS", 42, "third_party")
    seller = _party(db, "Sähkö Oy", 43, "seller")
    first, second = (point.gsrn for point in kari.points)
    with db.read() as conn:
        point_id = conn.execute(
            select(MeteringPoint.id).where(MeteringPoint.gsrn == second)
        ).scalar_one()
    grant = add_grant(db, third_party, point_id, kari.end_user_id, kari.points[1].move_in)
    with db.write() as conn:
        conn.execute(
            insert(AccessLogEntry).values(
                at=hub.now(),
                party_id=third_party,
                end_user_id=kari.end_user_id,
                metering_point_id=point_id,
                what="meter_values",
                period_from=hub.now() - dt.timedelta(days=1),
                period_to=hub.now(),
            )
        )
    url_pending = _url_request(hub, None)
    url_answered = _url_request(hub, kari.end_user_id)
    access_requests.open_for(hub, url_answered, kari.end_user_id)
    access_requests.decide(hub, url_answered, kari.end_user_id, Answer(Decision.REJECT))
    [message] = access_updates.receive(
        hub,
        grid,
        parse_message(
            orjson.dumps(
                {"items": [{"meteringPointId": first, "action": "add", "end": "2030-01-01"}]}
            )
        ),
    )
    message_request = access_requests.find(hub, grid, Process.MESSAGE, str(message.reference))
    assert message_request is not None
    authorization = authorization_requests.create(
        hub,
        authorization_requests.Seller(seller, "Sähkö Oy"),
        parse_request(
            orjson.dumps(
                {
                    "customer": kari_national_id(db, kari),
                    "accountingPoints": [first],
                    "validFrom": hub.today().isoformat(),
                }
            ),
            allow_synthetic_ids=True,
        ),
    )
    add_nav(db)
    add_consumer(db)
    given = consent.create_request(hub, consent.resolve_request(hub, consent_link(hub)))
    consent.open_request(hub, given, kari.end_user_id)
    consent.answer(hub, given, kari.end_user_id, True)
    asked = consent.create_request(hub, consent.resolve_request(hub, consent_link(hub)))
    [persons_consent] = consent.consents_of(hub, kari.end_user_id)
    return {
        "Min side": "/minside",
        "access log": "/minside/access-log",
        "consents": "/minside/consents",
        "withdraw consent": f"/minside/consents/{persons_consent.consent.id}/withdraw",
        "end grant": f"/minside/grants/{grant}/end",
        "BRS-NO-624 decision": f"/minside/requests/{url_pending}",
        "BRS-NO-622 decision": f"/minside/requests/{message_request.id}",
        "DH-831 decision": f"/minside/requests/{authorization.id}",
        "consent decision": f"/consent/requests/{asked}",
        "answered request": f"/minside/requests/{url_answered}",
        "error page": "/minside/requests/no-such-request",
    }


def kari_national_id(db: Database, kari: Person) -> str:
    return national_id_of(db, kari.end_user_id)


def violations(page: Page, axe_source: str) -> list[dict[str, Any]]:
    page.evaluate(axe_source)
    found = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
        ".then(result => result.violations.map(v => ({id: v.id, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)})))",
        WCAG_TAGS,
    )
    return list(found)


def test_every_portal_page_in_every_language_passes_axe(
    browser: Browser,
    portal_server: LiveServer,
    db: Database,
    kari: Person,
    nora: str,
    oidc_issuer: str,
    axe_source: str,
    shot: Any,
) -> None:
    hub: Services = portal_server.app.state.services
    pages = _everything(hub, db, kari)
    context = browser.new_context(viewport=DESKTOP, locale="en-US")  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    context.route(OFF_MACHINE, lambda route: route.abort())
    page = context.new_page()
    problems: list[str] = []

    # The check itself works: axe finds what is wrong on a page built to be wrong.
    page.set_content('<html><body><img src="x.png"><input type="text"></body></html>')
    assert {found["id"] for found in violations(page, axe_source)} >= {"image-alt", "label"}

    errors = {"answered request", "error page", "failed login"}

    def check(name: str, path: str) -> None:
        for language in LANGUAGES:
            page.goto(f"{portal_server.url}{path}{'&' if '?' in path else '?'}lang={language}")
            expect(page.locator("html")).to_have_attribute("lang", language)
            # Each page is the page it is meant to be, not an error in its place.
            expect(page.locator(".card.error")).to_have_count(1 if name in errors else 0)
            for violation in violations(page, axe_source):
                problems.append(f"{name} [{language}] {violation}")

    check("front page", "/")
    page.goto(f"{portal_server.url}/?lang=en")
    page.get_by_role("link", name="Log in", exact=True).click()
    log_in_at_provider(page, oidc_issuer, kari.sub, shot)
    page.wait_for_url(f"{portal_server.url}/minside")
    for name, path in pages.items():
        check(name, path)
    page.locator("form.logout button").click()
    page.wait_for_url("**/logged-out")
    check("logged out", "/logged-out")
    check("failed login", "/login/callback?error=access_denied&state=x")
    # BRS-NO-624 for a person without metering points: the page that only goes back.
    nothing_to_give = f"/minside/requests/{_url_request(hub, None)}"
    page.goto(f"{portal_server.url}{nothing_to_give}")
    log_in_at_provider(page, oidc_issuer, nora, shot)
    page.wait_for_url(f"{portal_server.url}{nothing_to_give}")
    check("no metering points", nothing_to_give)
    context.close()
    assert not problems, "\n".join(problems)


CONTRAST = """element => {
  const rgb = text => text.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const channel = value => {
      value /= 255;
      return value <= 0.03928 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  let behind = element.parentElement;
  let background = 'rgb(255, 255, 255)';
  while (behind) {
    const color = getComputedStyle(behind).backgroundColor;
    if (color && !color.startsWith('rgba(0, 0, 0, 0)') && color !== 'transparent') {
      background = color;
      break;
    }
    behind = behind.parentElement;
  }
  const style = getComputedStyle(element);
  const [light, dark] = [luminance(rgb(style.outlineColor)), luminance(rgb(background))]
    .sort((a, b) => b - a);
  return {ratio: (light + 0.05) / (dark + 0.05), style: style.outlineStyle,
          width: parseFloat(style.outlineWidth), what: element.outerHTML.slice(0, 80)};
}"""


def test_the_focus_ring_stands_out_on_every_background(
    page: Page, portal_server: LiveServer, db: Database, kari: Person, oidc_issuer: str, shot: Any
) -> None:
    """WCAG 2.2 SC 1.4.11 and 2.4.13: every element reached with Tab shows a ring of at
    least 2 px with at least 3:1 against what is behind it."""
    hub: Services = portal_server.app.state.services
    pages = _everything(hub, db, kari)
    page.goto(f"{portal_server.url}/minside")
    log_in_at_provider(page, oidc_issuer, kari.sub, shot)
    page.wait_for_url(f"{portal_server.url}/minside")
    seen = 0
    for path in (pages["Min side"], pages["BRS-NO-624 decision"], pages["access log"]):
        page.goto(f"{portal_server.url}{path}")
        for _ in range(40):
            page.keyboard.press("Tab")
            ring = page.evaluate(f"({CONTRAST})(document.activeElement)")
            if ring["what"].startswith("<body"):
                break
            seen += 1
            assert ring["style"] != "none", str(ring)
            assert ring["width"] >= 2, ring
            assert ring["ratio"] >= 3, ring
    assert seen > 20


@pytest.mark.parametrize("viewport", [DESKTOP], ids=["desktop"])
def test_gsrns_never_break_across_lines(
    page: Page, portal_server: LiveServer, db: Database, kari: Person, oidc_issuer: str, shot: Any
) -> None:
    hub: Services = portal_server.app.state.services
    pages = _everything(hub, db, kari)
    page.goto(f"{portal_server.url}/minside")
    log_in_at_provider(page, oidc_issuer, kari.sub, shot)
    page.wait_for_url(f"{portal_server.url}/minside")
    for path in (pages["Min side"], pages["BRS-NO-624 decision"], pages["end grant"]):
        page.goto(f"{portal_server.url}{path}")
        identifiers = page.locator(".gsrn")
        assert identifiers.count() > 0
        for index in range(identifiers.count()):
            lines = identifiers.nth(index).evaluate(
                "element => new Set([...element.getClientRects()].map(rect => rect.top)).size"
            )
            assert lines == 1, f"{path}: {identifiers.nth(index).inner_text()} is broken"
