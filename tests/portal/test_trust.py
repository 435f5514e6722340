"""Min side earns trust (issue 15): whose service it is, who each third party is, one date
format, a paged and filtered access log, a page after logout, a way back after a failed
login, and an answered request said on a page."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import insert, select
from typer.testing import CliRunner

from consenthub.cli.main import app
from consenthub.config import Settings
from consenthub.registry import RegistryError, add_party
from consenthub.store.database import Database
from consenthub.store.tables import AccessLogEntry, MeteringPoint, Party
from consenthub.web.pages import environment
from tests.conftest import TEST_SECRET_KEY
from tests.factories import add_end_user, add_grant, add_metering_point, add_supply, fnr, gln, gsrn
from tests.harness import LiveServer
from tests.login_flow import csrf_of, login, register_person

PRIVACY_URL = "https://app.example.no/personvern"
RETURN_URL = "https://app.example.no/callback"
ORGNR = "974760673"


@pytest.fixture
def elhub(portal_server: LiveServer) -> Iterator[LiveServer]:
    """The portal under its own name: Elhub."""
    settings = portal_server.settings.model_copy(update={"hub_name": "Elhub"})
    with LiveServer(settings, portal_server.app.state.services.database) as server:
        yield server


@pytest.fixture
def kari(db: Database, oidc_issuer: str) -> dict[str, Any]:
    with db.write() as conn:
        party = add_party(
            conn,
            TEST_SECRET_KEY.encode(),
            name="Strømappen AS",
            roles=["third_party"],
            gln=gln(1),
            orgnr=ORGNR,
            return_urls=[RETURN_URL],
            privacy_url=PRIVACY_URL,
        )
        other = add_party(
            conn, TEST_SECRET_KEY.encode(), name="Annen AS", roles=["third_party"], gln=gln(2)
        )
    national_id = fnr(5, 5, 80)
    end_user = add_end_user(db, national_id)
    points = [add_metering_point(db, seed) for seed in (11, 12)]
    for point in points:
        add_supply(db, point, end_user, dt.date(2022, 8, 1))
    grant = add_grant(db, party.party.id, points[0], end_user, dt.date(2022, 8, 1))
    register_person(oidc_issuer, "kari", pid=national_id, name="Kari Nordmann")
    return {"id": end_user, "party": party, "other": other, "points": points, "grant": grant}


def authorize(server: LiveServer, request_id: str) -> str:
    query = httpx.QueryParams({"client_id": gln(1), "request_id": request_id, "scope": "Full"})
    return f"{server.url}/third-party-access/authorize?{query}"


def response_error(server: LiveServer, location: str) -> str:
    assert location.startswith(RETURN_URL + "?")
    token = parse_qs(urlsplit(location).query)["response"][0]
    keys = KeySet.import_key_set(httpx.get(f"{server.url}/.well-known/jwks.json").json())
    return str(jwt.decode(token, keys, algorithms=["ES256"]).claims["error"]["code"])


def test_pages_say_whose_service_it_is(elhub: LiveServer, kari: dict[str, Any]) -> None:
    with httpx.Client() as client:
        login(client, elhub, "kari")
        page = client.get(f"{elhub.url}/minside?lang=en").text
    title = re.search(r"<title>(.*?)</title>", page)
    assert title is not None
    assert title.group(1) == "My page – Elhub"
    assert '<a class="brand" href="/minside">Elhub <span>' in page
    assert "consenthub" not in page.lower().replace("consenthub_lang", "")


def test_hub_name_defaults_to_a_hub_name() -> None:
    assert Settings().hub_name == "Datahub"


def test_every_request_and_grant_names_the_party_and_its_privacy_policy(
    portal_server: LiveServer, kari: dict[str, Any]
) -> None:
    """Name, organisation number and GLN, and the privacy policy link, on the decision
    page, the pending list, the grants and the history."""
    with httpx.Client() as client:
        opened = client.get(authorize(portal_server, str(uuid.uuid4())), follow_redirects=False)
        page_path = opened.headers["location"]
        login(client, portal_server, "kari", start=page_path)
        decision = client.get(f"{portal_server.url}{page_path}?lang=en").text
        overview = client.get(f"{portal_server.url}/minside?lang=en").text
        ending = client.get(f"{portal_server.url}/minside/grants/{kari['grant']}/end?lang=en")
    for shown in (decision, ending.text):
        assert "Strømappen AS" in shown
        assert f"Organisation number {ORGNR}" in shown
        assert gln(1) in shown
        assert f'<a href="{PRIVACY_URL}">Privacy policy of Strømappen AS</a>' in shown
    pending = overview.split('id="pending"')[1].split('id="active"')[0]
    active = overview.split('id="active"')[1].split('id="history"')[0]
    for section in (pending, active):
        assert gln(1) in section
        assert ORGNR in section
        assert PRIVACY_URL in section


def test_a_party_without_privacy_policy_shows_no_link(
    portal_server: LiveServer, db: Database, kari: dict[str, Any]
) -> None:
    add_grant(db, kari["other"].party.id, kari["points"][1], kari["id"], dt.date(2022, 8, 1))
    with httpx.Client() as client:
        login(client, portal_server, "kari")
        overview = client.get(f"{portal_server.url}/minside?lang=en").text
    row = next(row for row in overview.split("<tr>") if "Annen AS" in row)
    assert gln(2) in row
    assert "Privacy policy" not in row


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://app.example.no/privacy", "must be an absolute https URL"),
        ("https:///privacy", "must be an absolute https URL"),
        ("https://app.example.no/a b", "must be an absolute https URL"),
        ("https://app.example.no/" + "p" * 2000, "at most 2000 characters"),
        ("https://app.example.no/\x00", "must not contain control characters"),
    ],
)
def test_privacy_url_is_checked_before_the_database(db: Database, url: str, rule: str) -> None:
    with db.write() as conn, pytest.raises(RegistryError) as refused:
        add_party(
            conn,
            TEST_SECRET_KEY.encode(),
            name="X",
            roles=["third_party"],
            gln=gln(3),
            privacy_url=url,
        )
    assert (refused.value.field, refused.value.rule) == ("privacy_url", rule)
    with db.read() as conn:
        assert conn.execute(select(Party.id)).first() is None


def test_party_add_privacy_url(db: Database, database_url: str) -> None:
    env = {"CONSENTHUB_DATABASE_URL": database_url, "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY}
    base = ["party", "add", "--name", "Strømappen AS", "--gln", gln(4), "--role", "third_party"]
    refused = CliRunner().invoke(app, [*base, "--privacy-url", "http://x.example"], env=env)
    assert refused.exit_code == 2
    assert "--privacy-url: must be an absolute https URL" in refused.output
    added = CliRunner().invoke(app, [*base, "--privacy-url", PRIVACY_URL], env=env)
    assert added.exit_code == 0, added.output
    with db.read() as conn:
        assert conn.execute(select(Party.privacy_url)).scalar_one() == PRIVACY_URL


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Dec 2, 2026, 6:09\u202fPM"),
        ("nb", "2. des. 2026, 18:09"),
        ("nn", "2. des. 2026, 18:09"),
        ("fi", "2.12.2026 18.09"),
        ("sv", "2 dec. 2026 18:09"),
    ],
)
def test_dates_and_times_in_the_languages_own_format(language: str, expected: str) -> None:
    """One format per language: an instant is the medium date (as dates alone are) with
    the short time, never a short US date next to a long one."""
    filters = environment(language).filters
    zone = Settings().zone
    instant = dt.datetime(2026, 12, 2, 17, 9, tzinfo=dt.UTC)
    assert filters["datetime"](instant, zone) == expected
    assert expected.startswith(filters["date"](dt.date(2026, 12, 2)))
    assert filters["date"](instant, zone) == filters["date"](dt.date(2026, 12, 2))


def test_history_entries_share_one_date_format(
    portal_server: LiveServer, db: Database, kari: dict[str, Any]
) -> None:
    with httpx.Client() as client:
        opened = client.get(authorize(portal_server, str(uuid.uuid4())), follow_redirects=False)
        page_path = opened.headers["location"]
        login(client, portal_server, "kari", start=page_path)
        page = client.get(f"{portal_server.url}{page_path}")
        client.post(
            f"{portal_server.url}{page_path}",
            data={"csrf_token": csrf_of(page.text), "action": "reject"},
        )
        client.post(
            f"{portal_server.url}/minside/grants/{kari['grant']}/end",
            data={"csrf_token": csrf_of(page.text)},
        )
        overview = client.get(f"{portal_server.url}/minside?lang=en").text
    history = overview.split('id="history"')[1].split('id="log"')[0]
    dates = re.findall(r'<span class="meta">([^<]*)</span>', history)
    assert len(dates) == 2
    medium = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}$")
    assert all(medium.match(shown) for shown in dates), dates


def test_the_end_date_field_explains_its_format(
    portal_server: LiveServer, kari: dict[str, Any]
) -> None:
    with httpx.Client() as client:
        opened = client.get(authorize(portal_server, str(uuid.uuid4())), follow_redirects=False)
        login(client, portal_server, "kari", start=opened.headers["location"])
        page = client.get(f"{portal_server.url}{opened.headers['location']}?lang=nb").text
    hint = re.search(r'<span class="meta" id="end-format">([^<]*)</span>', page)
    assert hint is not None
    assert re.fullmatch(r"Format: ÅÅÅÅ-MM-DD, for eksempel \d{4}-12-31\.", hint.group(1))
    assert 'id="end_date"' in page
    assert 'aria-describedby="end-format"' in page


def add_reads(db: Database, end_user_id: int, party_id: int, seed: int, count: int) -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with db.write() as conn:
        point = conn.execute(
            select(MeteringPoint.id).where(MeteringPoint.gsrn == gsrn(seed))
        ).scalar_one()
        conn.execute(
            insert(AccessLogEntry),
            [
                {
                    "at": start + dt.timedelta(minutes=index),
                    "party_id": party_id,
                    "end_user_id": end_user_id,
                    "metering_point_id": point,
                    "what": "meter_values",
                }
                for index in range(count)
            ],
        )


def rows(page: str) -> int:
    return page.split("<tbody>")[1].split("</tbody>")[0].count("<tr>") if "<tbody>" in page else 0


def test_access_log_is_paged_and_filtered_without_script(
    portal_server: LiveServer, db: Database, kari: dict[str, Any]
) -> None:
    add_reads(db, kari["id"], kari["party"].party.id, 11, 30)
    add_reads(db, kari["id"], kari["other"].party.id, 12, 4)
    with httpx.Client(base_url=portal_server.url) as client:
        login(client, portal_server, "kari")
        overview = client.get("/minside?lang=en").text
        first = client.get("/minside/access-log?lang=en").text
        second = client.get("/minside/access-log", params={"page": 2}).text
        by_party = client.get("/minside/access-log", params={"party": kari["other"].party.id}).text
        by_point = client.get("/minside/access-log", params={"metering_point": gsrn(11)}).text
        both = client.get(
            "/minside/access-log",
            params={"party": kari["other"].party.id, "metering_point": gsrn(11)},
        ).text
        foreign = client.get("/minside/access-log", params={"metering_point": gsrn(99)})
        too_far = client.get("/minside/access-log", params={"page": 3})
    log_section = overview.split('id="log"')[1]
    assert rows(log_section) == 10
    assert 'href="/minside/access-log">See every read (34)' in log_section
    assert rows(first) == 25
    assert "Page 1 of 2" in first
    assert 'href="/minside/access-log?page=2" rel="next"' in first
    assert 'rel="prev"' not in first
    assert rows(second) == 9
    assert 'href="/minside/access-log?page=1" rel="prev"' in second
    assert 'rel="next"' not in second
    assert rows(by_party) == 4
    assert "Strømappen AS" not in by_party.split("<tbody>")[1]
    assert f'<option value="{kari["other"].party.id}" selected>' in by_party
    assert rows(by_point) == 25
    assert "party=&" not in by_point
    assert f"metering_point={gsrn(11)}&amp;page=2" in by_point
    assert rows(both) == 0
    assert foreign.status_code == 400
    assert too_far.status_code == 400


def test_logout_ends_on_a_logged_out_page(portal_server: LiveServer, kari: dict[str, Any]) -> None:
    with httpx.Client(base_url=portal_server.url) as client:
        login(client, portal_server, "kari")
        page = client.get("/minside").text
        out = client.post("/logout", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
        assert out.headers["location"] == "/logged-out"
        shown = client.get("/logged-out?lang=en")
        assert shown.status_code == 200
        assert "You are logged out" in shown.text
        assert 'href="/login">Log in again' in shown.text
        assert client.get("/minside", follow_redirects=False).headers["location"] == "/login"


@pytest.mark.parametrize(
    ("language", "heading", "log_in"),
    [
        ("nb", "Min side hos Elhub", "Logg inn"),
        ("nn", "Mi side hos Elhub", "Logg inn"),
        ("en", "My page at Elhub", "Log in"),
        ("fi", "Omat sivut – Elhub", "Kirjaudu sisään"),
        ("sv", "Min sida hos Elhub", "Logga in"),
    ],
)
def test_the_front_page_says_whose_service_it_is_and_offers_a_login(
    elhub: LiveServer, kari: dict[str, Any], language: str, heading: str, log_in: str
) -> None:
    """``/`` is Min side's own landing page, not a bounce to the provider: the hub's
    name, what the service is, a login button and the language choice; a person who is
    logged in goes on to Min side."""
    with httpx.Client(base_url=elhub.url) as client:
        front = client.get(f"/?lang={language}", follow_redirects=False)
        assert front.status_code == 200
        assert f"<h1>{heading}</h1>" in front.text
        assert f'<a class="button" href="/login">{log_in}</a>' in front.text
        assert f'<html lang="{language}">' in front.text
        assert all(f'hreflang="{other}"' in front.text for other in ("nb", "nn", "en", "fi", "sv"))
        assert '<a class="brand" href="/">Elhub' in front.text
        login(client, elhub, "kari")
        assert client.get("/", follow_redirects=False).headers["location"] == "/minside"


def failed_login(
    client: httpx.Client, server: LiveServer, **callback: str
) -> tuple[str, httpx.Response]:
    """Open a BRS-NO-624 link, go to login, and come back from the provider with
    ``callback`` (an error, or a state that does not match)."""
    opened = client.get(authorize(server, str(uuid.uuid4())), follow_redirects=False)
    page_path = opened.headers["location"]
    to_login = client.get(f"{server.url}{page_path}", follow_redirects=False)
    provider = client.get(f"{server.url}{to_login.headers['location']}", follow_redirects=False)
    state = httpx.URL(provider.headers["location"]).params["state"]
    params = {"state": state, **callback}
    return page_path, client.get(f"{server.url}/login/callback", params={**params, "lang": "en"})


@pytest.mark.parametrize(
    ("callback", "code"),
    [
        ({"error": "access_denied"}, "EH088"),
        ({"error": "server_error"}, "EH111"),
        ({"code": "x", "state": "not-the-state"}, "EH111"),
    ],
    ids=["cancelled", "provider-error", "state-mismatch"],
)
def test_failed_login_offers_try_again_and_the_way_back(
    portal_server: LiveServer, kari: dict[str, Any], callback: dict[str, str], code: str
) -> None:
    with httpx.Client() as client:
        _, failed = failed_login(client, portal_server, **callback)
        assert failed.status_code == 400
        assert 'href="/login">Try again' in failed.text
        assert "Return to Strømappen AS" in failed.text
        action = re.search(r'<form method="post" action="([^"]+/abandon)"', failed.text)
        assert action is not None
        assert f'name="code" value="{code}"' in failed.text
        back = client.post(
            f"{portal_server.url}{action.group(1)}",
            data={"csrf_token": csrf_of(failed.text), "code": code},
            follow_redirects=False,
        )
        assert back.status_code == 303
        assert response_error(portal_server, back.headers["location"]) == code
        # Another browser cannot send the third party anything for this request.
        with httpx.Client() as stranger:
            refused = stranger.post(
                f"{portal_server.url}{action.group(1)}",
                data={"csrf_token": "x", "code": code},
                follow_redirects=False,
            )
            assert refused.status_code == 403
        # Once the third party has been told, a new login goes to Min side.
        landed = login(client, portal_server, "kari")
        assert landed.headers["location"] == "/minside"


def test_try_again_after_a_failed_login_leads_back_to_the_request(
    portal_server: LiveServer, kari: dict[str, Any]
) -> None:
    with httpx.Client() as client:
        page_path, failed = failed_login(client, portal_server, error="access_denied")
        assert failed.status_code == 400
        landed = login(client, portal_server, "kari")
        assert landed.headers["location"] == page_path


def test_failed_login_without_a_link_offers_only_try_again(
    portal_server: LiveServer, kari: dict[str, Any]
) -> None:
    with httpx.Client() as client:
        provider = client.get(f"{portal_server.url}/login", follow_redirects=False)
        state = httpx.URL(provider.headers["location"]).params["state"]
        failed = client.get(
            f"{portal_server.url}/login/callback",
            params={"error": "access_denied", "state": state, "lang": "en"},
        )
    assert failed.status_code == 400
    assert "Try again" in failed.text
    assert "/abandon" not in failed.text


def test_an_answered_request_says_so_on_a_page(
    portal_server: LiveServer, kari: dict[str, Any]
) -> None:
    """Opened again after the answer: a page, not a bounce through the third party's
    app; its button sends the answer to the third party again."""
    with httpx.Client() as client:
        opened = client.get(authorize(portal_server, str(uuid.uuid4())), follow_redirects=False)
        page_path = opened.headers["location"]
        login(client, portal_server, "kari", start=page_path)
        page = client.get(f"{portal_server.url}{page_path}")
        client.post(
            f"{portal_server.url}{page_path}",
            data={"csrf_token": csrf_of(page.text), "action": "reject"},
        )
        again = client.get(f"{portal_server.url}{page_path}?lang=en", follow_redirects=False)
        assert again.status_code == 409
        assert "already been answered" in again.text
        back = client.post(
            f"{portal_server.url}{page_path}",
            data={"csrf_token": csrf_of(again.text), "action": "close"},
            follow_redirects=False,
        )
    assert response_error(portal_server, back.headers["location"]) == "EH088"
