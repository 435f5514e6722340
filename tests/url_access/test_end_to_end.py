"""URL-initiated third-party access (seed 000, BRS-NO-624) without a browser."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from consenthub import registry
from consenthub.store import audit
from consenthub.store.database import Database
from consenthub.store.tables import AuditEvent, Grant, OutboxMessage
from tests.conftest import TEST_SECRET_KEY
from tests.factories import (
    add_end_user,
    add_grant,
    add_metering_point,
    add_party,
    add_supply,
    fnr,
    gln,
    gsrn,
)
from tests.harness import LiveServer, MovableClock, bearer
from tests.login_flow import csrf_of, login, register_person

RETURN_URL = "https://app.example.no/callback"


@pytest.fixture
def kari(db: Database, oidc_issuer: str) -> dict[str, Any]:
    national_id = fnr(5, 5, 80)
    end_user = add_end_user(db, national_id)
    mps = [add_metering_point(db, seed) for seed in (11, 12)]
    add_supply(db, mps[0], end_user, dt.date(2022, 8, 1))
    add_supply(db, mps[1], end_user, dt.date(2023, 5, 1))
    register_person(oidc_issuer, "kari", pid=national_id, name="Kari Nordmann")
    return {"id": end_user, "mps": mps}


def authorize_url(server: LiveServer, request_id: str, scope: str = "Full", **extra: str) -> str:
    query = httpx.QueryParams(
        {"client_id": gln(1), "request_id": request_id, "scope": scope, **extra}
    )
    return f"{server.url}/third-party-access/authorize?{query}"


def decode_response(server: LiveServer, location: str) -> dict[str, Any]:
    assert location.startswith(RETURN_URL + "?")
    token = parse_qs(urlsplit(location).query)["response"][0]
    keys = KeySet.import_key_set(httpx.get(f"{server.url}/.well-known/jwks.json").json())
    return dict(jwt.decode(token, keys, algorithms=["ES256"]).claims)


def start(client: httpx.Client, server: LiveServer, request_id: str, scope: str = "Full") -> str:
    """Open the link, log in as Kari, land on the request page; returns its path."""
    first = client.get(authorize_url(server, request_id, scope), follow_redirects=False)
    assert first.status_code == 303
    page_path = first.headers["location"]
    assert page_path.startswith("/minside/requests/")
    landed = login(client, server, "kari", start=page_path)
    assert landed.status_code == 303, landed.text[:3000]
    assert landed.headers["location"] == page_path
    return page_path


def answer(
    client: httpx.Client, server: LiveServer, page_path: str, **fields: Any
) -> httpx.Response:
    """Post the end user's answer from the request page, with the page's CSRF token."""
    page = client.get(f"{server.url}{page_path}")
    return client.post(
        f"{server.url}{page_path}",
        data={"csrf_token": csrf_of(page.text), **fields},
        follow_redirects=False,
    )


def test_approve_subset_redirects_with_signed_contracts(
    portal_server: LiveServer, db: Database, kari: dict[str, Any]
) -> None:
    party = add_party(db, seed=1, return_urls=[RETURN_URL])
    request_id = str(uuid.uuid4())
    with httpx.Client() as client:
        page_path = start(client, portal_server, request_id)
        page = client.get(f"{portal_server.url}{page_path}")
        assert page.status_code == 200
        assert "Strømappen AS" in page.text
        assert gsrn(11) in page.text
        assert gsrn(12) in page.text
        end = (dt.date.today() + dt.timedelta(days=365)).isoformat()
        decided = client.post(
            f"{portal_server.url}{page_path}",
            data={
                "csrf_token": csrf_of(page.text),
                "action": "approve",
                "metering_point": gsrn(12),
                "scope": "Limited",
                "end_date": end,
            },
            follow_redirects=False,
        )
    assert decided.status_code == 303
    claims = decode_response(portal_server, decided.headers["location"])
    assert claims["elhubGln"] == portal_server.settings.hub_gln
    assert claims["receiverGln"] == gln(1)
    assert claims["aud"] == gln(1)
    assert claims["request_id"] == request_id
    assert claims["contracts"] == [{"meteringPointId": gsrn(12), "start": "2023-05-01", "end": end}]
    assert claims["scope"] == "Limited"
    assert claims["exp"] > claims["iat"]
    # The grant exists at once: the party reads the metering point through the data API.
    token = httpx.post(
        f"{portal_server.url}/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": party.party.client_id,
            "client_secret": party.client_secret,
        },
    ).json()["access_token"]
    listed = httpx.get(
        f"{portal_server.url}/api/v1/metering-points", headers={"Authorization": f"Bearer {token}"}
    ).json()["meteringPoints"]
    assert [(m["meteringPointId"], m["scope"]) for m in listed] == [(gsrn(12), "Limited")]
    fetched = httpx.get(
        f"{portal_server.url}/api/v1/third-party-access/requests/{request_id}",
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert fetched["status"] == "approved"
    assert fetched["contracts"] == claims["contracts"]
    keys = KeySet.import_key_set(httpx.get(f"{portal_server.url}/.well-known/jwks.json").json())
    assert (
        jwt.decode(fetched["response"], keys, algorithms=["ES256"]).claims["contracts"]
        == claims["contracts"]
    )


def test_approval_updates_a_live_grant_and_creates_the_rest(
    portal_server: LiveServer, db: Database, kari: dict[str, Any]
) -> None:
    """Approving two metering points where the party already holds an open-ended live grant
    on one: that grant takes the new scope but keeps its open end (an approval never
    shortens access), the other is created with the chosen end; no duplicates, and the
    audit chain records both and verifies."""
    party = add_party(db, seed=1, return_urls=[RETURN_URL])
    older = add_grant(db, party.party.id, kari["mps"][0], kari["id"], dt.date(2022, 8, 1))
    request_id = str(uuid.uuid4())
    end = (dt.date.today() + dt.timedelta(days=200)).isoformat()
    with httpx.Client() as client:
        page_path = start(client, portal_server, request_id)
        # The page shows the access the party already has, and that it will not shrink.
        page = client.get(f"{portal_server.url}{page_path}?lang=en").text
        existing = page.split(f'id="has-{gsrn(11)}"')[1].split("</p>")[0]
        assert "already has limited access here" in existing
        assert "does not shorten it" in existing
        assert f'id="has-{gsrn(12)}"' not in page
        decided = answer(
            client,
            portal_server,
            page_path,
            action="approve",
            metering_point=[gsrn(11), gsrn(12)],
            scope="Full",
            end_date=end,
        )
    assert decided.status_code == 303
    claims = decode_response(portal_server, decided.headers["location"])
    assert [(c["meteringPointId"], c["end"]) for c in claims["contracts"]] == [
        (gsrn(11), None),
        (gsrn(12), end),
    ]
    with db.read() as conn:
        grants = conn.execute(
            select(Grant.id, Grant.metering_point_id, Grant.scope, Grant.valid_to).order_by(
                Grant.metering_point_id
            )
        ).all()
        actions = [
            (row.action, row.subject)
            for row in conn.execute(select(AuditEvent).order_by(AuditEvent.id)).all()
        ]
        assert audit.verify(conn).ok
    assert [(g.metering_point_id, g.scope, g.valid_to) for g in grants] == [
        (kari["mps"][0], "Full", None),
        (kari["mps"][1], "Full", dt.date.fromisoformat(end)),
    ]
    assert grants[0].id == older
    assert ("grant.updated", f"grant:{older}") in actions
    assert ("grant.created", f"grant:{grants[1].id}") in actions
    assert actions[-1][0] == "access_request.approved"


def test_reject_sends_eh088(portal_server: LiveServer, db: Database, kari: dict[str, Any]) -> None:
    add_party(db, seed=1, return_urls=[RETURN_URL])
    with httpx.Client() as client:
        page_path = start(client, portal_server, str(uuid.uuid4()))
        decided = answer(client, portal_server, page_path, action="reject")
    claims = decode_response(portal_server, decided.headers["location"])
    assert claims["error"]["code"] == "EH088"
    assert "contracts" not in claims


def test_no_metering_point_sends_eh106(
    portal_server: LiveServer, db: Database, oidc_issuer: str
) -> None:
    add_party(db, seed=1, return_urls=[RETURN_URL])
    register_person(oidc_issuer, "kari", pid=fnr(6, 6, 66), name="Uten Målepunkt")
    with httpx.Client() as client:
        page_path = start(client, portal_server, str(uuid.uuid4()))
        page = client.get(f"{portal_server.url}{page_path}")
        assert "no metering points" in page.text.lower() or "ingen målepunkt" in page.text.lower()
        decided = client.post(
            f"{portal_server.url}{page_path}",
            data={"csrf_token": csrf_of(page.text), "action": "close"},
            follow_redirects=False,
        )
    assert decode_response(portal_server, decided.headers["location"])["error"]["code"] == "EH106"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "https://app.example.no/other",
        "https://app.example.no/callback/../evil",
        "https://app.example.no/callback?x=1",
        "https://app.example.no.evil.example/callback",
        "https://app.example.no@evil.example/callback",
        "http://app.example.no/callback",
        "//evil.example/callback",
        "javascript:alert(1)",
        "https://app.example.no/callback#frag",
        "https%3A%2F%2Fevil.example%2Fcallback",
        "HTTPS://APP.EXAMPLE.NO/callback",
        " https://app.example.no/callback",
    ],
)
def test_open_redirect_attempts_get_an_error_page(
    portal_server: LiveServer, db: Database, redirect_uri: str
) -> None:
    add_party(db, seed=1, return_urls=[RETURN_URL])
    response = httpx.get(
        authorize_url(portal_server, str(uuid.uuid4()), redirect_uri=redirect_uri),
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "text/html" in response.headers["content-type"]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"client_id": "123"}, "GLN"),
        ({"client_id": gln(99)}, "not registered"),
        ({"request_id": "not-a-uuid"}, "UUID"),
        ({"scope": "Everything"}, "Full or Limited"),
        ({"scope": "full"}, "Full or Limited"),
    ],
)
def test_bad_link_parameters_get_an_error_page(
    portal_server: LiveServer, db: Database, params: dict[str, str], reason: str
) -> None:
    add_party(db, seed=1, return_urls=[RETURN_URL])
    query = {"client_id": gln(1), "request_id": str(uuid.uuid4()), "scope": "Full"} | params
    response = httpx.get(
        f"{portal_server.url}/third-party-access/authorize",
        params=query | {"lang": "en"},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert reason in response.text


def test_repeated_parameter_is_an_error_page(portal_server: LiveServer, db: Database) -> None:
    add_party(db, seed=1, return_urls=[RETURN_URL])
    url = authorize_url(portal_server, str(uuid.uuid4())) + "&redirect_uri=https://evil.example/"
    response = httpx.get(url + "&redirect_uri=" + RETURN_URL, follow_redirects=False)
    assert response.status_code == 400


def test_party_without_third_party_role_is_refused(portal_server: LiveServer, db: Database) -> None:
    add_party(db, seed=1, roles=("seller",), return_urls=[RETURN_URL])
    response = httpx.get(authorize_url(portal_server, str(uuid.uuid4())), follow_redirects=False)
    assert response.status_code == 400


def test_several_return_addresses_need_redirect_uri(
    portal_server: LiveServer, db: Database
) -> None:
    other = "https://app.example.no/other-callback"
    add_party(db, seed=1, return_urls=[RETURN_URL, other])
    without = httpx.get(authorize_url(portal_server, str(uuid.uuid4())), follow_redirects=False)
    assert without.status_code == 400
    chosen = httpx.get(
        authorize_url(portal_server, str(uuid.uuid4()), redirect_uri=other), follow_redirects=False
    )
    assert chosen.status_code == 303


def test_reused_request_id_is_eh098(
    portal_server: LiveServer, db: Database, kari: dict[str, Any]
) -> None:
    add_party(db, seed=1, return_urls=[RETURN_URL])
    request_id = str(uuid.uuid4())
    with httpx.Client() as client:
        page_path = start(client, portal_server, request_id)
        answer(client, portal_server, page_path, action="reject")
        again = client.get(authorize_url(portal_server, request_id), follow_redirects=False)
    assert again.status_code == 303
    assert decode_response(portal_server, again.headers["location"])["error"]["code"] == "EH098"


def test_csrf_less_post_changes_nothing(
    portal_server: LiveServer, db: Database, kari: dict[str, Any]
) -> None:
    add_party(db, seed=1, return_urls=[RETURN_URL])
    with httpx.Client() as client:
        page_path = start(client, portal_server, str(uuid.uuid4()))
        for token in (None, "forged"):
            data = {"action": "approve", "metering_point": gsrn(11)}
            if token:
                data["csrf_token"] = token
            refused = client.post(
                f"{portal_server.url}{page_path}", data=data, follow_redirects=False
            )
            assert refused.status_code == 403
        page = client.get(f"{portal_server.url}{page_path}")
        assert page.status_code == 200  # still pending, still answerable
    from sqlalchemy import func, select

    from consenthub.store.tables import Grant

    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(Grant)).scalar_one() == 0


def test_another_person_cannot_open_or_answer_the_request(
    portal_server: LiveServer, db: Database, kari: dict[str, Any], oidc_issuer: str
) -> None:
    add_party(db, seed=1, return_urls=[RETURN_URL])
    register_person(oidc_issuer, "ola", pid=fnr(7, 7, 77), name="Ola Nordmann")
    with httpx.Client() as kari_client:
        page_path = start(kari_client, portal_server, str(uuid.uuid4()))
        assert kari_client.get(f"{portal_server.url}{page_path}").status_code == 200
    with httpx.Client() as ola_client:
        login(ola_client, portal_server, "ola")
        seen = ola_client.get(f"{portal_server.url}{page_path}")
        assert seen.status_code == 403
        assert gsrn(11) not in seen.text
        minside = ola_client.get(f"{portal_server.url}/minside")
        csrf = csrf_of(minside.text)
        answered = ola_client.post(
            f"{portal_server.url}{page_path}",
            data={"csrf_token": csrf, "action": "approve", "metering_point": gsrn(11)},
            follow_redirects=False,
        )
        assert answered.status_code == 403


def test_approving_a_metering_point_not_ones_own_is_refused(
    portal_server: LiveServer, db: Database, kari: dict[str, Any]
) -> None:
    add_party(db, seed=1, return_urls=[RETURN_URL])
    stranger = add_end_user(db, fnr(8, 8, 88))
    foreign = add_metering_point(db, 40)
    add_supply(db, foreign, stranger, dt.date(2020, 1, 1))
    with httpx.Client() as client:
        page_path = start(client, portal_server, str(uuid.uuid4()))
        refused = answer(
            client, portal_server, page_path, action="approve", metering_point=[gsrn(11), gsrn(40)]
        )
    assert refused.status_code == 422
    from sqlalchemy import func, select

    from consenthub.store.tables import Grant

    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(Grant)).scalar_one() == 0


@pytest.mark.parametrize(("end_date", "status"), [("not-a-date", 422), ("2001-01-01", 422)])
def test_bad_end_date_shows_the_form_again(
    portal_server: LiveServer, db: Database, kari: dict[str, Any], end_date: str, status: int
) -> None:
    add_party(db, seed=1, return_urls=[RETURN_URL])
    with httpx.Client() as client:
        page_path = start(client, portal_server, str(uuid.uuid4()))
        again = answer(
            client,
            portal_server,
            page_path,
            action="approve",
            metering_point=gsrn(11),
            end_date=end_date,
        )
    assert again.status_code == status
    assert 'aria-invalid="true"' in again.text


def test_internal_failure_is_eh111(
    portal_server: LiveServer, db: Database, kari: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from consenthub import grants

    add_party(db, seed=1, return_urls=[RETURN_URL])

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("disk on fire")

    with httpx.Client() as client:
        page_path = start(client, portal_server, str(uuid.uuid4()))

        def approve() -> httpx.Response:
            return answer(
                client, portal_server, page_path, action="approve", metering_point=gsrn(11)
            )

        with monkeypatch.context() as fault:
            fault.setattr(grants, "approve", broken)
            failed = approve()
        assert failed.status_code == 303
        claims = decode_response(portal_server, failed.headers["location"])
        assert claims["error"]["code"] == "EH111"
        assert "disk on fire" not in failed.headers["location"]
        # The request ended with that answer: approving it once the fault is gone gives
        # the party the same EH111 again, never a second, different answer.
        again = approve()
    assert again.status_code == 303
    assert decode_response(portal_server, again.headers["location"])["error"]["code"] == "EH111"
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(Grant)).scalar_one() == 0


def test_result_api_is_per_party(
    portal_server: LiveServer, db: Database, kari: dict[str, Any]
) -> None:
    add_party(db, seed=1, return_urls=[RETURN_URL])
    other = add_party(db, seed=2, name="Annen AS")
    request_id = str(uuid.uuid4())
    with httpx.Client() as client:
        start(client, portal_server, request_id)
    token = httpx.post(
        f"{portal_server.url}/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": other.party.client_id,
            "client_secret": other.client_secret,
        },
    ).json()["access_token"]
    response = httpx.get(
        f"{portal_server.url}/api/v1/third-party-access/requests/{request_id}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 404
    assert response.json()["code"] == "CH4001"


def test_a_request_past_its_deadline_is_eh088_everywhere_and_never_approved(
    portal_server: LiveServer, db: Database, kari: dict[str, Any], clock: MovableClock
) -> None:
    """The deadline (CONSENTHUB_URL_REQUEST_DEADLINE_HOURS, 24 h) passes while the page is
    open: the approval is refused with EH088, Min side lists the request as expired, and
    the result API says expired with EH088; no worker has run."""
    party = add_party(db, seed=1, return_urls=[RETURN_URL])
    request_id = str(uuid.uuid4())
    with httpx.Client() as client:
        page_path = start(client, portal_server, request_id)
        page = client.get(f"{portal_server.url}{page_path}")
        clock.advance(hours=24)
        late = client.post(
            f"{portal_server.url}{page_path}",
            data={
                "csrf_token": csrf_of(page.text),
                "action": "approve",
                "metering_point": gsrn(11),
            },
            follow_redirects=False,
        )
        assert late.status_code == 303
        assert decode_response(portal_server, late.headers["location"])["error"]["code"] == (
            "EH088"
        )
        # Opened again later, the page says so, and its button goes back to the party
        # with the outcome.
        clock.advance(days=30)
        reopened = client.get(f"{portal_server.url}{page_path}?lang=en", follow_redirects=False)
        assert reopened.status_code >= 400
        assert "passed its deadline" in reopened.text
        assert "Return to Strømappen AS" in reopened.text
        back = client.post(
            f"{portal_server.url}{page_path}",
            data={"csrf_token": csrf_of(reopened.text), "action": "close"},
            follow_redirects=False,
        )
        assert decode_response(portal_server, back.headers["location"])["error"]["code"] == (
            "EH088"
        )
        minside = client.get(f"{portal_server.url}/minside?lang=en").text
    pending, history = (
        minside.split('id="pending"')[1].split('id="active"')[0],
        minside.split('id="history"')[1],
    )
    assert "Strømappen AS" not in pending
    assert "expired" in history.split('id="log"')[0]
    result = httpx.get(
        f"{portal_server.url}/api/v1/third-party-access/requests/{request_id}",
        headers=bearer(portal_server, party.party.client_id, party.client_secret),
    ).json()
    assert result["status"] == "expired"
    assert result["error"]["code"] == "EH088"
    with db.read() as conn:
        assert conn.execute(select(Grant.id)).first() is None


def test_an_unanswered_request_shows_expired_without_any_worker(
    portal_server: LiveServer, db: Database, kari: dict[str, Any], clock: MovableClock
) -> None:
    party = add_party(db, seed=1, return_urls=[RETURN_URL])
    request_id = str(uuid.uuid4())
    with httpx.Client() as client:
        start(client, portal_server, request_id)
    url = f"{portal_server.url}/api/v1/third-party-access/requests/{request_id}"
    assert (
        httpx.get(
            url, headers=bearer(portal_server, party.party.client_id, party.client_secret)
        ).json()["status"]
        == "pending"
    )
    clock.advance(hours=24)
    result = httpx.get(
        url, headers=bearer(portal_server, party.party.client_id, party.client_secret)
    ).json()
    assert result["status"] == "expired"
    assert result["error"] == {"code": "EH088", "message": result["error"]["message"]}
    claims = jwt.decode(
        result["response"],
        KeySet.import_key_set(httpx.get(f"{portal_server.url}/.well-known/jwks.json").json()),
        algorithms=["ES256"],
    ).claims
    assert claims["error"]["code"] == "EH088"


def test_login_next_is_never_an_outside_address() -> None:
    from consenthub.login import local_path

    for target in (
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "http:/evil",
        "",
        None,
    ):
        assert local_path(target) == "/minside"
    assert local_path("/minside/requests/abc") == "/minside/requests/abc"


@pytest.mark.parametrize(
    ("provider_error", "code", "status", "event"),
    [
        ("access_denied", "EH088", "rejected", "access_request.rejected"),
        ("server_error", "EH111", "closed", "access_request.closed"),
    ],
    ids=["cancelled-EH088", "failed-EH111"],
)
def test_returning_to_the_party_after_a_failed_login_ends_the_request(
    portal_server: LiveServer,
    db: Database,
    kari: dict[str, Any],
    provider_error: str,
    code: str,
    status: str,
    event: str,
) -> None:
    """ "Return to <party>" after a failed login tells the party ``code`` and ends the
    request with it (seed 000: EH088 not approved → rejected; EH111 internal error →
    closed), with its audit and webhook event: opened again after a login it says it is
    answered, and an approval sends no second, contradicting answer."""
    with db.write() as conn:
        party = registry.add_party(
            conn,
            TEST_SECRET_KEY.encode(),
            name="Strømappen AS",
            roles=["third_party"],
            gln=gln(1),
            return_urls=[RETURN_URL],
            webhook_url="https://app.example.no/hooks",
        )
    request_id = str(uuid.uuid4())
    with httpx.Client(base_url=portal_server.url) as client:
        page_path = client.get(authorize_url(portal_server, request_id)).headers["location"]
        to_login = client.get(page_path, follow_redirects=False)
        provider = client.get(to_login.headers["location"], follow_redirects=False)
        state = httpx.URL(provider.headers["location"]).params["state"]
        failed = client.get("/login/callback", params={"error": provider_error, "state": state})
        assert failed.status_code == 400
        back = client.post(
            f"/third-party-access/requests/{page_path.rsplit('/', 1)[-1]}/abandon",
            data={"csrf_token": csrf_of(failed.text), "code": code},
            follow_redirects=False,
        )
        assert decode_response(portal_server, back.headers["location"])["error"]["code"] == code

        headers = bearer(portal_server, party.party.client_id, party.client_secret)
        result = httpx.get(
            f"{portal_server.url}/api/v1/third-party-access/requests/{request_id}",
            headers=headers,
        ).json()
        assert (result["status"], result["error"]["code"]) == (status, code)
        assert result["decided"] is not None

        login(client, portal_server, "kari")
        again = client.get(f"{page_path}?lang=en", follow_redirects=False)
        assert again.status_code == 409
        assert "already been answered" in again.text
        approve = client.post(
            page_path,
            data={
                "csrf_token": csrf_of(again.text),
                "action": "approve",
                "metering_point": gsrn(11),
            },
            follow_redirects=False,
        )
        # The same answer again, never a second one that contradicts it.
        assert decode_response(portal_server, approve.headers["location"])["error"]["code"] == code
    with db.read() as conn:
        assert conn.execute(select(Grant)).all() == []
        sent = conn.execute(
            select(OutboxMessage.event_type, OutboxMessage.payload).where(
                OutboxMessage.party_id == party.party.id
            )
        ).all()
        actions = conn.execute(
            select(AuditEvent.action, AuditEvent.actor).where(
                AuditEvent.subject.like("access_request:%")
            )
        ).all()
    assert [(type_, payload["data"]["code"]) for type_, payload in sent] == [(event, code)]
    assert (f"access_request.{status}", "browser") in actions
    assert [action for action, _ in actions].count(f"access_request.{status}") == 1
