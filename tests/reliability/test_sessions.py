"""Sessions are kept on the server (probe defects 5 and 10): the cookie is an opaque id,
and logout, "log out on all devices" and a login as someone else end a session for
good, so a copy of its cookie taken before opens nothing."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import httpx
import pytest

from consenthub.store.database import Database
from tests.factories import add_end_user, add_metering_point, add_supply, fnr
from tests.harness import LiveServer
from tests.login_flow import csrf_of, login, register_person

COOKIE = "consenthub_session"


@pytest.fixture
def people(db: Database, oidc_issuer: str) -> dict[str, Any]:
    kari = add_end_user(db, fnr(5, 5, 80))
    add_supply(db, add_metering_point(db, 11), kari, dt.date(2022, 1, 1))
    register_person(oidc_issuer, "kari", pid=fnr(5, 5, 80), name="Kari Nordmann")
    register_person(oidc_issuer, "ola", pid=fnr(7, 7, 77), name="Ola Nordmann")
    return {"kari": kari}


def opens_minside(server: LiveServer, cookie: str) -> bool:
    answer = httpx.get(f"{server.url}/minside", cookies={COOKIE: cookie}, follow_redirects=False)
    return answer.status_code == 200


def test_the_cookie_is_an_opaque_id(portal_server: LiveServer, people: dict[str, Any]) -> None:
    with httpx.Client() as client:
        started = client.get(f"{portal_server.url}/login", follow_redirects=False)
        before_login = started.cookies[COOKIE]
        login(client, portal_server, "kari")
        after_login = client.cookies[COOKIE]
    for value in (before_login, after_login):
        decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        assert len(decoded) == 32  # 256 random bits, nothing else
        for secret in (b"Kari", b"050580", b"code_verifier", b"nonce", b"user"):
            assert secret not in decoded
    # A login never keeps the id the browser came with (no session fixation).
    assert before_login != after_login


def test_logout_ends_a_captured_session(portal_server: LiveServer, people: dict[str, Any]) -> None:
    with httpx.Client() as client:
        login(client, portal_server, "kari")
        captured = client.cookies[COOKIE]
        assert opens_minside(portal_server, captured)
        page = client.get(f"{portal_server.url}/minside").text
        client.post(f"{portal_server.url}/logout", data={"csrf_token": csrf_of(page)})
    assert not opens_minside(portal_server, captured)


def test_log_out_on_all_devices(portal_server: LiveServer, people: dict[str, Any]) -> None:
    with httpx.Client() as phone, httpx.Client() as laptop:
        login(phone, portal_server, "kari")
        login(laptop, portal_server, "kari")
        on_phone = phone.cookies[COOKIE]
        page = laptop.get(f"{portal_server.url}/minside").text
        ended = laptop.post(
            f"{portal_server.url}/minside/sessions/end",
            data={"csrf_token": csrf_of(page)},
            follow_redirects=False,
        )
        assert ended.status_code == 303
        assert laptop.get(f"{portal_server.url}/minside", follow_redirects=False).status_code == 303
    assert not opens_minside(portal_server, on_phone)


def test_a_login_as_someone_else_ends_the_previous_session(
    portal_server: LiveServer, people: dict[str, Any]
) -> None:
    with httpx.Client() as client:
        login(client, portal_server, "kari")
        kari_session = client.cookies[COOKIE]
        login(client, portal_server, "ola")
        page = client.get(f"{portal_server.url}/minside?lang=en").text
    assert "Ola Nordmann" in page
    assert not opens_minside(portal_server, kari_session)


def test_a_forged_or_unknown_cookie_is_no_session(portal_server: LiveServer) -> None:
    for value in ("x", "A" * 43, "not base64 !"):
        assert not opens_minside(portal_server, value)
