"""Altinn consent (seed 002) over real sockets, with login through the real OIDC provider:
the consumer's link → login → the consent page → accept → code → consent token →
withdrawal in Min side."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from consenthub import registry
from consenthub.store.database import Database
from tests.consent.parties import (
    CONSUMER_NAME,
    CONSUMER_ORGNR,
    REDIRECT_URL,
    add_consumer,
    add_nav,
)
from tests.factories import add_end_user, fnr
from tests.harness import LiveServer, MovableClock
from tests.login_flow import csrf_of, login, register_person

KARI = fnr(5, 5, 80)
OLA = fnr(6, 6, 81)


@pytest.fixture
def kari(db: Database, oidc_issuer: str) -> int:
    register_person(oidc_issuer, "kari", pid=KARI, name="Kari Nordmann")
    return add_end_user(db, KARI)


def link(server: LiveServer, clock: MovableClock, **changes: str | None) -> str:
    valid_to = (clock() + dt.timedelta(days=30)).astimezone(ZoneInfo("Europe/Oslo"))
    params: dict[str, str | None] = {
        "Resources": "5252_1",
        "CoveredBy": CONSUMER_ORGNR,
        "RedirectUrl": REDIRECT_URL,
        "ValidToDate": valid_to.strftime("%Y-%m-%d %H:%M:%S"),
        "LanguageCode": "nn-NO",
        "DelegationContext": "NAVN_SELSKAP treng opplysningar om uføretrygda di frå NAV.",
        "ResponseType": "code",
        "5252_1_fraOgMed": "01.01.2026",
        "5252_1_tilOgMed": "31.12.2026",
    }
    params.update(changes)
    query = httpx.QueryParams({key: value for key, value in params.items() if value is not None})
    return f"{server.url}/consent/request?{query}"


def open_page(client: httpx.Client, server: LiveServer, url: str, person: str = "kari") -> str:
    """Follow the consumer's link, log in, land on the consent page; returns its path."""
    first = client.get(url, follow_redirects=False)
    assert first.status_code == 303, first.text[:2000]
    page_path = first.headers["location"]
    assert page_path.startswith("/consent/requests/")
    landed = login(client, server, person, start=page_path)
    assert landed.headers["location"] == page_path
    return page_path


def accept(
    client: httpx.Client, server: LiveServer, page_path: str, action: str = "accept"
) -> httpx.Response:
    page = client.get(f"{server.url}{page_path}")
    assert page.status_code == 200, page.text[:2000]
    return client.post(
        f"{server.url}{page_path}",
        data={"csrf_token": csrf_of(page.text), "action": action},
        follow_redirects=False,
    )


def code_of(answer: httpx.Response) -> str:
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URL + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["Status"] == ["OK"]
    return query["AuthorizationCode"][0]


def post_token(
    server: LiveServer, client: registry.NewCredentials, **params: str
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/sts/Token",
        data={"client_id": client.party.client_id, "client_secret": client.client_secret, **params},
    )


def fresh(server: LiveServer, client: registry.NewCredentials, consent_id: str) -> httpx.Response:
    details = [{"type": "urn:altinn:consent", "id": consent_id}]
    return post_token(
        server, client, grant_type="client_credentials", authorization_details=json.dumps(details)
    )


def introspect(server: LiveServer, client: registry.NewCredentials, token: str) -> dict[str, Any]:
    return httpx.post(
        f"{server.url}/sts/introspect",
        data={
            "client_id": client.party.client_id,
            "client_secret": client.client_secret,
            "token": token,
        },
    ).json()


def test_link_login_accept_token_withdraw(
    portal_server: LiveServer, db: Database, clock: MovableClock, kari: int
) -> None:
    nav, _ = add_nav(db)
    consumer = add_consumer(db)
    url = link(portal_server, clock, UserToken=hashlib.sha256(KARI.encode()).hexdigest().upper())
    with httpx.Client() as browser:
        page_path = open_page(browser, portal_server, url)
        page = browser.get(f"{portal_server.url}{page_path}")
        assert 'lang="nn"' in page.text
        assert "Uføreopplysningar" in page.text
        assert f"{CONSUMER_NAME} treng opplysningar om uføretrygda di frå NAV." in page.text
        assert "NAVN_SELSKAP" not in page.text
        assert CONSUMER_ORGNR in page.text
        assert "01.01.2026" in page.text
        assert "31.12.2026" in page.text
        answered = accept(browser, portal_server, page_path)
        code = code_of(answered)
        assert KARI not in answered.headers["location"]

        exchanged = post_token(portal_server, consumer, grant_type="authorization_code", code=code)
        assert exchanged.status_code == 200, exchanged.text
        assert exchanged.headers["cache-control"] == "no-store"
        token = exchanged.json()["access_token"]
        keys = KeySet.import_key_set(httpx.get(f"{portal_server.url}/.well-known/jwks.json").json())
        decoded = jwt.decode(token, keys, algorithms=["ES256"])
        assert decoded.header["typ"] == "consent+jwt"
        claims = decoded.claims
        assert claims["Services"] == [
            "5252_1",
            "5252_1_fraOgMed=01.01.2026",
            "5252_1_tilOgMed=31.12.2026",
        ]
        assert claims["OfferedBy"] == KARI
        assert claims["CoveredBy"] == CONSUMER_ORGNR
        assert claims["iss"] == portal_server.settings.token_issuer
        assert claims["aud"] == portal_server.settings.token_audience
        assert claims["exp"] - claims["iat"] == 300
        consent_id = claims["consent_id"]
        assert claims["AuthorizationCode"] == consent_id
        assert {"DelegatedDate", "ValidToDate", "nbf"} <= set(claims)

        assert introspect(portal_server, nav, token)["active"] is True
        again = fresh(portal_server, consumer, consent_id)
        assert again.status_code == 200, again.text

        listed = browser.get(f"{portal_server.url}/minside/consents")
        assert CONSUMER_NAME in listed.text
        confirm = browser.get(f"{portal_server.url}/minside/consents/{consent_id}/withdraw")
        assert confirm.status_code == 200
        refused = browser.post(
            f"{portal_server.url}/minside/consents/{consent_id}/withdraw",
            data={"csrf_token": "forged"},
            follow_redirects=False,
        )
        assert refused.status_code == 403
        assert introspect(portal_server, nav, token)["active"] is True
        withdrawn = browser.post(
            f"{portal_server.url}/minside/consents/{consent_id}/withdraw",
            data={"csrf_token": csrf_of(confirm.text)},
            follow_redirects=False,
        )
        assert withdrawn.status_code == 303

    assert introspect(portal_server, nav, token) == {"active": False}
    refused_token = fresh(portal_server, consumer, consent_id)
    assert refused_token.status_code == 400
    assert refused_token.json()["error"] == "invalid_grant"
    assert refused_token.json()["code"] == "CH4304"


def test_decline_redirects_with_status_failed(
    portal_server: LiveServer, db: Database, clock: MovableClock, kari: int
) -> None:
    add_nav(db)
    add_consumer(db)
    with httpx.Client() as browser:
        page_path = open_page(browser, portal_server, link(portal_server, clock))
        answered = accept(browser, portal_server, page_path, action="decline")
        reopened = browser.get(f"{portal_server.url}{page_path}")
    assert reopened.status_code == 409
    assert "CH4006" in reopened.text
    assert answered.status_code == 303
    query = parse_qs(urlsplit(answered.headers["location"]).query)
    assert query["Status"] == ["Failed"]
    assert query["ErrorMessage"]
    assert "AuthorizationCode" not in query


def test_code_replay_revokes_the_consent(
    portal_server: LiveServer, db: Database, clock: MovableClock, kari: int
) -> None:
    nav, _ = add_nav(db)
    consumer = add_consumer(db)
    with httpx.Client() as browser:
        code = code_of(
            accept(
                browser,
                portal_server,
                open_page(browser, portal_server, link(portal_server, clock)),
            )
        )
    first = post_token(portal_server, consumer, grant_type="authorization_code", code=code)
    assert first.status_code == 200
    token = first.json()["access_token"]
    second = post_token(portal_server, consumer, grant_type="authorization_code", code=code)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: what the first use produced is revoked.
    assert introspect(portal_server, nav, token) == {"active": False}
    assert fresh(portal_server, consumer, first.json()["consent_id"]).status_code == 400


def test_code_expires_after_60_seconds(
    portal_server: LiveServer, db: Database, clock: MovableClock, kari: int
) -> None:
    add_nav(db)
    consumer = add_consumer(db)
    with httpx.Client() as browser:
        code = code_of(
            accept(
                browser,
                portal_server,
                open_page(browser, portal_server, link(portal_server, clock)),
            )
        )
    clock.advance(seconds=61)
    late = post_token(portal_server, consumer, grant_type="authorization_code", code=code)
    assert late.status_code == 400
    assert late.json()["error"] == "invalid_grant"


def test_one_time_consent_is_spent_by_its_first_token(
    portal_server: LiveServer, db: Database, clock: MovableClock, kari: int
) -> None:
    add_nav(db, one_time=True)
    consumer = add_consumer(db)
    with httpx.Client() as browser:
        code = code_of(
            accept(
                browser,
                portal_server,
                open_page(browser, portal_server, link(portal_server, clock)),
            )
        )
    first = post_token(portal_server, consumer, grant_type="authorization_code", code=code)
    assert first.status_code == 200
    again = fresh(portal_server, consumer, first.json()["consent_id"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_tampered_and_foreign_tokens_are_inactive(
    portal_server: LiveServer, db: Database, clock: MovableClock, kari: int
) -> None:
    nav, _ = add_nav(db)
    consumer = add_consumer(db)
    with httpx.Client() as browser:
        code = code_of(
            accept(
                browser,
                portal_server,
                open_page(browser, portal_server, link(portal_server, clock)),
            )
        )
    token = post_token(portal_server, consumer, grant_type="authorization_code", code=code).json()[
        "access_token"
    ]
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload[:-2]}AA.{signature}"
    assert introspect(portal_server, nav, tampered) == {"active": False}
    prod = portal_server.settings.model_copy(update={"environment": "prod"})
    with LiveServer(prod, db, clock) as other:
        assert introspect(other, nav, token) == {"active": False}


def test_user_token_of_another_person_asks_for_a_new_login(
    portal_server: LiveServer, db: Database, clock: MovableClock, kari: int, oidc_issuer: str
) -> None:
    register_person(oidc_issuer, "ola", pid=OLA, name="Ola Nordmann")
    add_nav(db)
    add_consumer(db)
    url = link(portal_server, clock, UserToken=hashlib.sha256(OLA.encode()).hexdigest())
    with httpx.Client() as browser:
        page_path = open_page(browser, portal_server, url, person="kari")
        again = browser.get(f"{portal_server.url}{page_path}", follow_redirects=False)
        assert again.status_code == 303
        assert again.headers["location"] == "/login"
        landed = login(browser, portal_server, "ola", start=page_path)
        assert landed.headers["location"] == page_path
        assert browser.get(f"{portal_server.url}{page_path}").status_code == 200


def test_offered_by_another_person_is_an_error_page(
    portal_server: LiveServer, db: Database, clock: MovableClock, kari: int
) -> None:
    add_nav(db)
    add_consumer(db)
    with httpx.Client() as browser:
        page_path = open_page(browser, portal_server, link(portal_server, clock, OfferedBy=OLA))
        page = browser.get(f"{portal_server.url}{page_path}")
    assert page.status_code == 403
    assert "CH4302" in page.text


def test_redirect_outside_the_return_domain_is_an_error_page_never_a_redirect(
    portal_server: LiveServer, db: Database, clock: MovableClock
) -> None:
    add_nav(db)
    add_consumer(db)
    answer = httpx.get(
        link(portal_server, clock, RedirectUrl="https://evil.example.com/forsikring.example.no"),
        follow_redirects=False,
    )
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "RedirectUrl" in answer.text


@pytest.mark.parametrize(
    ("changes", "parameter"),
    [
        ({"Resources": None}, "Resources"),
        ({"Resources": "5252"}, "Resources"),
        ({"Resources": "9999_1"}, "Resources"),
        ({"CoveredBy": "974760674"}, "CoveredBy"),
        ({"CoveredBy": "889640782"}, "CoveredBy"),
        ({"CoveredBy": "923609016"}, "CoveredBy"),
        ({"CoveredBy": None}, "CoveredBy"),
        ({"ValidToDate": None}, "ValidToDate"),
        ({"ResponseType": None}, "ResponseType"),
        ({"5252_1_tilOgMed": None}, "5252_1_tilOgMed"),
        ({"5252_1_fraOgMed": "1.1.2026"}, "5252_1_fraOgMed"),
        ({"5252_1_saksnummer": "42"}, "5252_1_saksnummer"),
        ({"RedirectUrl": None}, "RedirectUrl"),
        ({"RedirectUrl": "https://evil.example.com/svar"}, "RedirectUrl"),
        ({"ValidToDate": "2026-12-31"}, "ValidToDate"),
        ({"ValidToDate": "2020-01-01 00:00:00"}, "ValidToDate"),
        ({"ValidToDate": "2999-01-01 00:00:00"}, "ValidToDate"),
        ({"ValidToDate": "2027-12-31 25:00:00"}, "ValidToDate"),
        ({"LanguageCode": "se"}, "LanguageCode"),
        ({"DelegationContext": None}, "DelegationContext"),
        ({"ResponseType": "token"}, "ResponseType"),
        ({"5252_1_fraOgMed": None}, "5252_1_fraOgMed"),
        ({"5252_1_tilOgMed": "2026-12-31"}, "5252_1_tilOgMed"),
        ({"5252_1_fraOgMed": "01.01.2027"}, "5252_1_fraOgMed"),
        ({"OfferedBy": "12345678901"}, "OfferedBy"),
        ({"UserToken": "not-a-hash"}, "UserToken"),
    ],
)
def test_every_bad_parameter_is_an_error_page_naming_it(
    live_server: LiveServer,
    db: Database,
    clock: MovableClock,
    changes: dict[str, str | None],
    parameter: str,
) -> None:
    add_nav(db)
    add_consumer(db)
    answer = httpx.get(link(live_server, clock, **changes), follow_redirects=False)
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "CH4301" in answer.text
    assert parameter in answer.text


def test_a_parameter_given_twice_is_an_error_page(
    live_server: LiveServer, db: Database, clock: MovableClock
) -> None:
    add_nav(db)
    add_consumer(db)
    answer = httpx.get(link(live_server, clock) + "&CoveredBy=974760673", follow_redirects=False)
    assert answer.status_code == 400
    assert "CoveredBy" in answer.text


def bearer(server: LiveServer, client: registry.NewCredentials) -> dict[str, str]:
    token = post_token(server, client, grant_type="client_credentials").json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_request_by_api_is_idempotent_and_answered_through_its_view_uri(
    portal_server: LiveServer, db: Database, clock: MovableClock, kari: int
) -> None:
    add_nav(db)
    consumer = add_consumer(db)
    headers = bearer(portal_server, consumer)
    params = dict(httpx.URL(link(portal_server, clock)).params)
    params.pop("CoveredBy")
    body = {"id": "6f1c1c1e-4b5e-4f0e-9a49-5d0c7f0b6a11", **params}
    url = f"{portal_server.url}/api/v1/consent-requests"
    created = httpx.post(url, json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/api/v1/consent-requests/{body['id']}"
    view = created.json()
    assert view["status"] == "pending"
    assert view["consentId"] is None
    again = httpx.post(url, json=body, headers=headers)
    assert again.status_code == 200
    assert again.json()["viewUri"] == view["viewUri"]

    page_path = urlsplit(view["viewUri"]).path
    with httpx.Client() as browser:
        login(browser, portal_server, "kari", start=page_path)
        code = code_of(accept(browser, portal_server, page_path))
    assert code
    fetched = httpx.get(f"{url}/{body['id']}", headers=headers).json()
    assert fetched["status"] == "approved"
    consent_id = fetched["consentId"]
    assert consent_id

    # The consumer's tokens for it: the code, then fresh ones by RFC 9396
    # authorization_details, each carrying the consent in its authorization_details.
    exchanged = post_token(portal_server, consumer, grant_type="authorization_code", code=code)
    assert exchanged.status_code == 200, exchanged.text
    assert exchanged.json()["consent_id"] == consent_id
    details = [{"type": "urn:altinn:consent", "id": consent_id}]
    again = fresh(portal_server, consumer, consent_id)
    assert again.status_code == 200, again.text
    assert again.json()["authorization_details"] == details
    token = again.json()["access_token"]
    claims = jwt.decode(
        token,
        KeySet.import_key_set(httpx.get(f"{portal_server.url}/.well-known/jwks.json").json()),
        algorithms=["ES256"],
    ).claims
    assert claims["authorization_details"] == details
    assert claims["consent_id"] == consent_id
    assert claims["OfferedBy"] == KARI
    nav = introspect(portal_server, consumer, token)
    assert nav["active"] is True
    assert nav["authorization_details"] == details
    # A consent id that is no UUID gives nothing.
    assert fresh(portal_server, consumer, "not-a-uuid").json()["error"] == "invalid_grant"


def test_request_by_api_names_the_bad_parameter(
    live_server: LiveServer, db: Database, clock: MovableClock
) -> None:
    add_nav(db)
    consumer = add_consumer(db)
    headers = bearer(live_server, consumer)
    params = dict(httpx.URL(link(live_server, clock)).params)
    params["RedirectUrl"] = "https://evil.example.com/svar"
    refused = httpx.post(
        f"{live_server.url}/api/v1/consent-requests",
        json={"id": "6f1c1c1e-4b5e-4f0e-9a49-5d0c7f0b6a12", **params},
        headers=headers,
    )
    assert refused.status_code == 400
    assert refused.json()["code"] == "CH4301"
    assert refused.json()["errors"][0]["field"] == "RedirectUrl"
    unknown = httpx.get(
        f"{live_server.url}/api/v1/consent-requests/6f1c1c1e-4b5e-4f0e-9a49-5d0c7f0b6a12",
        headers=headers,
    )
    assert unknown.status_code == 404


def test_min_side_lists_an_opened_consent_request_and_links_the_consents(
    portal_server: LiveServer, db: Database, clock: MovableClock, kari: int
) -> None:
    add_nav(db)
    add_consumer(db)
    with httpx.Client() as browser:
        page_path = open_page(browser, portal_server, link(portal_server, clock))
        browser.get(f"{portal_server.url}{page_path}")
        overview = browser.get(f"{portal_server.url}/minside")
    assert f'href="{page_path}"' in overview.text
    assert 'href="/minside/consents"' in overview.text


def test_metadata_names_the_consent_grants(live_server: LiveServer) -> None:
    metadata = httpx.get(f"{live_server.url}/.well-known/oauth-authorization-server").json()
    assert "authorization_code" in metadata["grant_types_supported"]
    assert metadata["authorization_details_types_supported"] == ["urn:altinn:consent"]
