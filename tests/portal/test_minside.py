"""Min side (SPEC §9): each person sees and acts on only their own things."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from consenthub.store.database import Database
from consenthub.store.tables import Grant
from tests.factories import (
    add_end_user,
    add_grant,
    add_metering_point,
    add_party,
    add_supply,
    fnr,
    gsrn,
)
from tests.harness import LiveServer
from tests.login_flow import csrf_of, login, register_person


@pytest.fixture
def people(db: Database, oidc_issuer: str) -> dict[str, Any]:
    party = add_party(db, seed=1)
    kari, ola = add_end_user(db, fnr(5, 5, 80)), add_end_user(db, fnr(7, 7, 77))
    kari_mp, ola_mp = add_metering_point(db, 21), add_metering_point(db, 22)
    add_supply(db, kari_mp, kari, dt.date(2022, 1, 1))
    add_supply(db, ola_mp, ola, dt.date(2021, 1, 1))
    kari_grant = add_grant(db, party.party.id, kari_mp, kari, dt.date(2022, 1, 1))
    ola_grant = add_grant(db, party.party.id, ola_mp, ola, dt.date(2021, 1, 1))
    register_person(oidc_issuer, "kari", pid=fnr(5, 5, 80), name="Kari Nordmann")
    register_person(oidc_issuer, "ola", pid=fnr(7, 7, 77), name="Ola Nordmann")
    return {"party": party, "kari_grant": kari_grant, "ola_grant": ola_grant}


def test_minside_needs_login(portal_server: LiveServer) -> None:
    response = httpx.get(f"{portal_server.url}/minside", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_each_person_sees_only_their_own(
    portal_server: LiveServer, db: Database, people: dict[str, Any]
) -> None:
    with httpx.Client() as client:
        login(client, portal_server, "kari")
        page = client.get(f"{portal_server.url}/minside?lang=en").text
    assert gsrn(21) in page
    assert gsrn(22) not in page
    assert "Kari Nordmann" in page
    assert fnr(5, 5, 80) not in page


def test_access_log_is_shown_to_the_owner(
    portal_server: LiveServer, db: Database, people: dict[str, Any]
) -> None:
    party = people["party"]
    token = httpx.post(
        f"{portal_server.url}/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": party.party.client_id,
            "client_secret": party.client_secret,
        },
    ).json()["access_token"]
    httpx.get(
        f"{portal_server.url}/api/v1/metering-points/{gsrn(21)}/values",
        params={"from": "2025-01-01", "to": "2025-01-02"},
        headers={"Authorization": f"Bearer {token}"},
    )
    with httpx.Client() as client:
        login(client, portal_server, "kari")
        page = client.get(f"{portal_server.url}/minside?lang=en").text
    log_section = page.split('id="log"')[1]
    assert "Strømappen AS" in log_section
    assert gsrn(21) in log_section
    assert "Meter values" in log_section


def test_end_grant(portal_server: LiveServer, db: Database, people: dict[str, Any]) -> None:
    with httpx.Client() as client:
        login(client, portal_server, "kari")
        page = client.get(f"{portal_server.url}/minside").text
        ended = client.post(
            f"{portal_server.url}/minside/grants/{people['kari_grant']}/end",
            data={"csrf_token": csrf_of(page)},
            follow_redirects=False,
        )
        assert ended.status_code == 303
    with db.read() as conn:
        valid_to = conn.execute(
            select(Grant.valid_to).where(Grant.id == people["kari_grant"])
        ).scalar_one()
    assert valid_to is not None
    assert valid_to <= dt.date.today() + dt.timedelta(days=1)


def test_ending_asks_first_and_says_what_the_party_keeps(
    portal_server: LiveServer, db: Database, people: dict[str, Any]
) -> None:
    """ "End" on Min side leads to a confirmation, not straight to the change."""
    with httpx.Client() as client:
        login(client, portal_server, "kari")
        overview = client.get(f"{portal_server.url}/minside?lang=en").text
        confirm_path = f"/minside/grants/{people['kari_grant']}/end"
        assert f'href="{confirm_path}"' in overview
        confirm = client.get(f"{portal_server.url}{confirm_path}?lang=en")
        assert confirm.status_code == 200
        assert gsrn(21) in confirm.text
        assert "can still read your data up to today, but nothing from today on" in confirm.text
        assert "Keep access" in confirm.text
        foreign = client.get(f"{portal_server.url}/minside/grants/{people['ola_grant']}/end")
        assert foreign.status_code == 404
        assert gsrn(22) not in foreign.text
    with db.read() as conn:
        assert conn.execute(select(Grant.valid_to)).scalars().all() == [None, None]


def test_cannot_end_someone_elses_grant(
    portal_server: LiveServer, db: Database, people: dict[str, Any]
) -> None:
    with httpx.Client() as client:
        login(client, portal_server, "kari")
        page = client.get(f"{portal_server.url}/minside").text
        refused = client.post(
            f"{portal_server.url}/minside/grants/{people['ola_grant']}/end",
            data={"csrf_token": csrf_of(page)},
            follow_redirects=False,
        )
    assert refused.status_code == 404
    with db.read() as conn:
        assert (
            conn.execute(select(Grant.valid_to).where(Grant.id == people["ola_grant"])).scalar_one()
            is None
        )


def test_end_without_csrf_changes_nothing(
    portal_server: LiveServer, db: Database, people: dict[str, Any]
) -> None:
    with httpx.Client() as client:
        login(client, portal_server, "kari")
        refused = client.post(
            f"{portal_server.url}/minside/grants/{people['kari_grant']}/end", follow_redirects=False
        )
    assert refused.status_code == 403
    with db.read() as conn:
        assert (
            conn.execute(
                select(Grant.valid_to).where(Grant.id == people["kari_grant"])
            ).scalar_one()
            is None
        )


def test_session_cookie_flags(portal_server: LiveServer, people: dict[str, Any]) -> None:
    with httpx.Client() as client:
        response = client.get(f"{portal_server.url}/login", follow_redirects=False)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie


def test_login_sends_pkce_and_nonce(portal_server: LiveServer) -> None:
    response = httpx.get(f"{portal_server.url}/login", follow_redirects=False)
    location = httpx.URL(response.headers["location"])
    assert location.params["code_challenge_method"] == "S256"
    assert location.params["code_challenge"]
    assert location.params["nonce"]
    assert location.params["state"]
    assert "pid" not in str(location)


def test_login_without_national_id_is_refused(portal_server: LiveServer, oidc_issuer: str) -> None:
    register_person(oidc_issuer, "nobody", name="No Id")
    with httpx.Client() as client:
        refused = login(client, portal_server, "nobody")
        assert refused.status_code == 403
        assert client.get(f"{portal_server.url}/minside", follow_redirects=False).status_code == 303


def test_logout(portal_server: LiveServer, people: dict[str, Any]) -> None:
    with httpx.Client() as client:
        login(client, portal_server, "kari")
        page = client.get(f"{portal_server.url}/minside").text
        client.post(f"{portal_server.url}/logout", data={"csrf_token": csrf_of(page)})
        assert client.get(f"{portal_server.url}/minside", follow_redirects=False).status_code == 303
