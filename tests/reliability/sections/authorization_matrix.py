"""Section "authorization": every endpoint against every other party and person (issue 14).

A live hub with a real OIDC provider, two parties of each kind (third parties A and B,
sellers, consent consumers), two persons (Kari, Ola) and one of everything owned by the
first of each: a grant, a BRS-NO-622 request, a DH-831 request, a consent. Every route the
app serves is enumerated from its router; each must have an entry in ``MATRIX`` (a route
without one is itself a problem), and each entry's probes ask as nobody, as the other
party or person, and as a party of the wrong kind: refused (401/403/404 or, for pages, a
redirect to login), and the owner's identifiers never in the answer. Then an ended grant
and a withdrawn consent must stop data on the very next request.

Figures: ``N endpoints`` (routes covered), ``N pairs tried`` (refusal probes),
``N leaks`` (probes that got through or showed another's data).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
from fastapi.routing import APIRoute
from pydantic import SecretStr
from sqlalchemy import select
from stdnum.no import orgnr

from consenthub import registry
from consenthub.config import Settings
from consenthub.signing import keys
from consenthub.store.database import Database
from consenthub.store.migrate import upgrade
from consenthub.store.tables import AccessRequest
from tests.conftest import TEST_SECRET_KEY
from tests.consent.parties import REDIRECT_URL, RETURN_DOMAIN, add_consumer, add_nav
from tests.factories import (
    add_end_user,
    add_grant,
    add_hourly_values,
    add_metering_point,
    add_party,
    add_supply,
    fnr,
    gsrn,
)
from tests.harness import LiveServer, free_port
from tests.login_flow import csrf_of, login, register_person

TITLE = "authorization"
OSLO = ZoneInfo("Europe/Oslo")
KARI, OLA = fnr(5, 5, 80), fnr(7, 7, 77)
HETU = "131052-308T"
REFUSED = {401, 403, 404}
# Routes anyone may call: they show nobody's data (metadata, keys, health, the login
# itself); the token endpoints authenticate the client they are given.
PUBLIC = {
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/"),
    ("GET", "/login"),
    ("GET", "/login/callback"),
    ("POST", "/logout"),
    ("GET", "/third-party-access/authorize"),
    ("GET", "/consent/request"),
    ("GET", "/logged-out"),
    # The API documentation: the OpenAPI document's pages and their assets.
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}


@dataclass
class World:
    url: str
    headers: dict[str, dict[str, str]]  # party name → Authorization header
    ids: dict[str, str]
    kari: httpx.Client
    ola: httpx.Client
    anonymous: httpx.Client
    credentials: dict[str, registry.NewCredentials]


@dataclass
class Tally:
    endpoints: int = 0
    pairs: int = 0
    problems: list[str] = field(default_factory=list)

    def refused(self, what: str, answer: httpx.Response, *, secrets: tuple[str, ...] = ()) -> None:
        """One probe: ``answer`` is a refusal and shows none of ``secrets``."""
        self.pairs += 1
        page_refusal = answer.status_code in (302, 303) and "/login" in answer.headers.get(
            "location", ""
        )
        if answer.status_code not in REFUSED and not page_refusal:
            self.problems.append(f"{what}: answered {answer.status_code} {answer.text[:200]}")
            return
        shown = [secret for secret in secrets if secret and secret in answer.text]
        if shown:
            self.problems.append(f"{what}: the refusal shows {shown}")


def routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, from its routers."""

    def walk(items: list[Any]) -> Iterator[APIRoute]:
        for item in items:
            if hasattr(item, "original_router"):
                yield from walk(item.original_router.routes)
            elif isinstance(item, APIRoute):
                yield item

    return sorted({(m, r.path) for r in walk(app.routes) for m in r.methods or () if m != "HEAD"})


# -- the matrix: one entry per non-public route ----------------------------------------

Probe = Callable[[World, Tally], None]


def _as_parties(
    method: str,
    path: str,
    others: tuple[str, ...],
    secrets: Callable[[World], tuple[str, ...]],
    body: Callable[[World], Any] | None = None,
) -> Probe:
    """The route asked as nobody, with a bad token, and as each party in ``others``."""

    def probe(world: World, tally: Tally) -> None:
        target = world.url + path.format(**world.ids)
        shown = secrets(world)
        payload = body(world) if body else None
        for who, headers in (
            ("nobody", {}),
            ("a forged token", {"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."}),
            *((party, world.headers[party]) for party in others),
        ):
            answer = httpx.request(method, target, headers=headers, json=payload)
            tally.refused(f"{method} {path} as {who}", answer, secrets=shown)

    return probe


def _as_persons(
    method: str, path: str, secrets: Callable[[World], tuple[str, ...]], *, own_view: bool = False
) -> Probe:
    """A page action on Kari's object asked logged out and as Ola (with Ola's CSRF token).
    An ``own_view`` (Min side's lists) shows Ola his own: none of Kari's ``secrets``."""

    def probe(world: World, tally: Tally) -> None:
        target = world.url + path.format(**world.ids)
        shown = secrets(world)
        for who, client in (("nobody", world.anonymous), ("another person", world.ola)):
            if method == "GET":
                answer = client.get(target, follow_redirects=False)
            else:
                own = client.get(f"{world.url}/minside", follow_redirects=False)
                token = csrf_of(own.text) if 'name="csrf_token"' in own.text else ""
                action = "accept" if path.startswith("/consent/") else "approve"
                answer = client.post(
                    target,
                    data={"csrf_token": token, "action": action, "metering_point": gsrn(1)},
                    follow_redirects=False,
                )
            if own_view and client is world.ola:
                _shows_none(tally, f"{method} {path} as {who}", answer, shown)
            else:
                tally.refused(f"{method} {path} as {who}", answer, secrets=shown)

    return probe


def _shows_none(tally: Tally, what: str, answer: httpx.Response, secrets: tuple[str, ...]) -> None:
    tally.pairs += 1
    shown = [secret for secret in secrets if secret in answer.text]
    if answer.status_code >= 500 or shown:
        tally.problems.append(f"{what}: {answer.status_code}, shows {shown}")


def _grant_secrets(world: World) -> tuple[str, ...]:
    return (gsrn(1), "Storgata 1", KARI)


def _request_secrets(world: World) -> tuple[str, ...]:
    return (world.ids["request_id"], gsrn(1), KARI)


DATA = ("third-b", "consumer-a", "seller-a")
MATRIX: dict[tuple[str, str], Probe] = {
    ("POST", "/sts/Token"): lambda w, t: _client_auth(w, t, "/sts/Token"),
    ("POST", "/sts/revoke"): lambda w, t: _revoke_by_another(w, t),
    ("POST", "/sts/introspect"): lambda w, t: _client_auth(w, t, "/sts/introspect"),
    ("GET", "/api/v1/metering-points"): lambda w, t: _listing_excludes(
        w, t, "/api/v1/metering-points", "third-b", gsrn(1)
    ),
    ("GET", "/api/v1/metering-points/{id}"): _as_parties(
        "GET", "/api/v1/metering-points/{gsrn}", DATA, lambda w: ("Storgata 1",)
    ),
    ("GET", "/api/v1/metering-points/{id}/values"): _as_parties(
        "GET",
        "/api/v1/metering-points/{gsrn}/values?from=2020-01-01&to=2020-01-02",
        DATA,
        lambda w: (),
    ),
    ("GET", "/api/v1/grants"): lambda w, t: _listing_excludes(
        w, t, "/api/v1/grants", "third-b", w.ids["grant"]
    ),
    ("GET", "/api/v1/grants/{id}"): _as_parties(
        "GET", "/api/v1/grants/{grant}", DATA, _grant_secrets
    ),
    ("POST", "/api/v1/grants/{id}/end"): _as_parties(
        "POST", "/api/v1/grants/{grant}/end", DATA, _grant_secrets
    ),
    ("GET", "/api/v1/third-party-access/requests/{request_id}"): _as_parties(
        "GET", "/api/v1/third-party-access/requests/{request_id}", DATA, _request_secrets
    ),
    ("POST", "/api/v1/third-party-access/updates"): _as_parties(
        "POST",
        "/api/v1/third-party-access/updates",
        ("consumer-a", "seller-a"),
        lambda w: (),
        body=lambda w: {"items": [{"meteringPointId": gsrn(1), "action": "add"}]},
    ),
    ("GET", "/api/v1/third-party-access/requests"): lambda w, t: _listing_excludes(
        w, t, "/api/v1/third-party-access/requests", "third-b", w.ids["request_id"]
    ),
    ("POST", "/api/v1/authorization-requests"): _as_parties(
        "POST",
        "/api/v1/authorization-requests",
        ("third-a", "consumer-a"),
        lambda w: (),
        body=lambda w: {"customer": HETU, "accountingPoints": [gsrn(2)]},
    ),
    ("GET", "/api/v1/authorization-requests"): lambda w, t: _listing_excludes(
        w, t, "/api/v1/authorization-requests", "seller-b", w.ids["dh831"]
    ),
    ("GET", "/api/v1/authorization-requests/{request_id}"): _as_parties(
        "GET", "/api/v1/authorization-requests/{dh831}", ("seller-b", "third-a"), lambda w: (HETU,)
    ),
    ("POST", "/api/v1/authorization-requests/{request_id}/cancel"): _as_parties(
        "POST",
        "/api/v1/authorization-requests/{dh831}/cancel",
        ("seller-b", "third-a"),
        lambda w: (HETU,),
    ),
    ("POST", "/api/v1/consent-requests"): _as_parties(
        "POST",
        "/api/v1/consent-requests",
        ("third-a", "seller-a"),
        lambda w: (),
        body=lambda w: {"id": str(uuid.uuid4())},
    ),
    ("GET", "/api/v1/consent-requests/{request_id}"): _as_parties(
        "GET",
        "/api/v1/consent-requests/{consent_request}",
        ("consumer-b", "third-a"),
        lambda w: (w.ids["consent_request"], w.ids["consent_page"]),
    ),
    ("GET", "/minside"): _as_persons(
        "GET", "/minside", lambda w: ("Storgata 1", "Kari"), own_view=True
    ),
    ("GET", "/minside/requests/{internal_id}"): _as_persons(
        "GET", "/minside/requests/{internal}", _request_secrets
    ),
    ("POST", "/minside/requests/{internal_id}"): _as_persons(
        "POST", "/minside/requests/{internal}", _request_secrets
    ),
    ("GET", "/minside/access-log"): _as_persons(
        "GET", "/minside/access-log", lambda w: (gsrn(1), "Kari"), own_view=True
    ),
    ("POST", "/third-party-access/requests/{internal_id}/abandon"): _as_persons(
        "POST", "/third-party-access/requests/{internal}/abandon", _request_secrets
    ),
    ("GET", "/minside/grants/{grant_id}/end"): _as_persons(
        "GET", "/minside/grants/{grant}/end", _grant_secrets
    ),
    ("POST", "/minside/grants/{grant_id}/end"): _as_persons(
        "POST", "/minside/grants/{grant}/end", _grant_secrets
    ),
    ("POST", "/minside/sessions/end"): lambda w, t: t.refused(
        "POST /minside/sessions/end as nobody",
        w.anonymous.post(f"{w.url}/minside/sessions/end", follow_redirects=False),
    ),
    ("GET", "/consent/requests/{internal_id}"): _as_persons(
        "GET", "/consent/requests/{consent_page}", lambda w: (KARI,)
    ),
    ("POST", "/consent/requests/{internal_id}"): _as_persons(
        "POST", "/consent/requests/{consent_page}", lambda w: (KARI,)
    ),
    ("GET", "/minside/consents"): _as_persons(
        "GET", "/minside/consents", lambda w: (w.ids["consent"], "Kari"), own_view=True
    ),
    ("GET", "/minside/consents/{consent_id}/withdraw"): _as_persons(
        "GET", "/minside/consents/{consent}/withdraw", lambda w: (KARI,)
    ),
    ("POST", "/minside/consents/{consent_id}/withdraw"): _as_persons(
        "POST", "/minside/consents/{consent}/withdraw", lambda w: (KARI,)
    ),
}


def _client_auth(world: World, tally: Tally, path: str) -> None:
    """Another party's client id with this party's secret, and no secret: refused."""
    a, b = world.credentials["third-a"], world.credentials["third-b"]
    for who, form in (
        ("B's secret for A", {"client_id": a.party.client_id, "client_secret": b.client_secret}),
        ("no secret", {"client_id": a.party.client_id}),
    ):
        answer = httpx.post(
            world.url + path,
            data={**form, "grant_type": "client_credentials", "token": "x"},
        )
        tally.refused(f"POST {path} with {who}", answer)


def _revoke_by_another(world: World, tally: Tally) -> None:
    """B revoking A's token: A's token still works afterwards (RFC 7009 §2.1)."""
    token = world.headers["third-a"]["Authorization"].removeprefix("Bearer ")
    b = world.credentials["third-b"]
    httpx.post(
        f"{world.url}/sts/revoke",
        data={"client_id": b.party.client_id, "client_secret": b.client_secret, "token": token},
    )
    tally.pairs += 1
    still = httpx.get(f"{world.url}/api/v1/metering-points", headers=world.headers["third-a"])
    if still.status_code != 200:
        tally.problems.append(f"B revoked A's token: A now gets {still.status_code}")


def _listing_excludes(world: World, tally: Tally, path: str, other: str, secret: str) -> None:
    tally.pairs += 1
    answer = httpx.get(world.url + path, headers=world.headers[other])
    if answer.status_code >= 500 or secret in answer.text:
        tally.problems.append(f"GET {path} as {other}: {answer.status_code}, shows {secret}")
    tally.refused(f"GET {path} as nobody", httpx.get(world.url + path))


# -- the world ---------------------------------------------------------------------------


def _token(url: str, credentials: registry.NewCredentials, **extra: str) -> httpx.Response:
    return httpx.post(
        f"{url}/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials.party.client_id,
            "client_secret": credentials.client_secret,
            **extra,
        },
    )


def _second_orgnr() -> str:
    for number in range(923609010, 923609100):
        if orgnr.is_valid(str(number)) and str(number) != "974760673":
            return str(number)
    raise AssertionError("no organisation number")


@contextmanager
def _world(database_url: str) -> Iterator[tuple[World, LiveServer]]:
    from consenthub.demo import start_login_provider

    database = Database(database_url)
    port = free_port()
    provider = start_login_provider(port, users=[])
    issuer = f"http://127.0.0.1:{port}"
    clients = [httpx.Client(timeout=30) for _ in range(3)]
    try:
        upgrade(database)
        with database.write() as conn:
            keys.ensure_key(conn, TEST_SECRET_KEY.encode())
        credentials = {
            "third-a": add_party(database, seed=1, name="A AS"),
            "third-b": add_party(database, seed=2, name="B AS"),
            "seller-a": add_party(database, seed=5, name="Sähkö Oy", roles=("seller",)),
            "seller-b": add_party(database, seed=6, name="Toinen Oy", roles=("seller",)),
        }
        add_nav(database)
        credentials["consumer-a"] = add_consumer(database)
        with database.write() as conn:
            credentials["consumer-b"] = registry.add_party(
                conn,
                TEST_SECRET_KEY.encode(),
                name="Annen AS",
                roles=["consent_consumer"],
                orgnr=_second_orgnr(),
                return_domains=[RETURN_DOMAIN],
            )
        kari = add_end_user(database, KARI)
        add_end_user(database, OLA)
        customer = add_end_user(database, HETU)
        point = add_metering_point(database, 1)
        add_supply(database, point, kari, dt.date(2020, 1, 1))
        second = add_metering_point(database, 2)
        add_supply(database, second, customer, dt.date(2020, 1, 1))
        add_supply(database, add_metering_point(database, 3), kari, dt.date(2020, 1, 1))
        a_party = credentials["third-a"].party.id
        grant = add_grant(database, a_party, point, kari, dt.date(2020, 1, 1))
        midnight = dt.datetime.combine(dt.datetime.now(OSLO).date(), dt.time(), OSLO)
        add_hourly_values(database, point, midnight, 24)
        with TemporaryDirectory(prefix="consenthub-authz-") as directory:
            settings = Settings(
                database_url=database_url,
                secret_key=TEST_SECRET_KEY,
                secret_key_file=Path(directory) / "unused.key",
                environment="test",
                base_url="http://127.0.0.1:8000",
                oidc_issuer=issuer,
                oidc_client_secret=SecretStr("test-client-secret"),
                allow_synthetic_ids=True,
            )
            register_person(issuer, "kari", pid=KARI, name="Kari Nordmann")
            register_person(issuer, "ola", pid=OLA, name="Ola Nordmann")
            with LiveServer(settings, database) as server:
                url = server.url
                headers = {
                    name: {"Authorization": f"Bearer {_token(url, cred).json()['access_token']}"}
                    for name, cred in credentials.items()
                }
                update = httpx.post(
                    f"{url}/api/v1/third-party-access/updates",
                    json={"items": [{"meteringPointId": gsrn(3), "action": "add"}]},
                    headers=headers["third-a"],
                )
                assert update.status_code < 300, update.text
                with database.read() as conn:
                    request = conn.execute(
                        select(AccessRequest.id, AccessRequest.request_id).where(
                            AccessRequest.party_id == a_party
                        )
                    ).one()
                today = dt.datetime.now(OSLO).date()
                dh831 = httpx.post(
                    f"{url}/api/v1/authorization-requests",
                    json={
                        "customer": HETU,
                        "accountingPoints": [gsrn(2)],
                        "validFrom": today.isoformat(),
                        "validTo": (today + dt.timedelta(days=2)).isoformat(),
                        "reason": "Sähkösopimus",
                        "recipient": {
                            "name": "Maija",
                            "email": "maija@example.fi",
                            "language": "fi",
                        },
                    },
                    headers=headers["seller-a"],
                )
                assert dh831.status_code == 201, dh831.text
                world = World(
                    url,
                    headers,
                    {
                        "gsrn": gsrn(1),
                        "grant": str(grant),
                        "internal": request.id,
                        "request_id": request.request_id,
                        "dh831": dh831.json()["id"],
                    },
                    kari=clients[0],
                    ola=clients[1],
                    anonymous=clients[2],
                    credentials=credentials,
                )
                login(world.kari, server, "kari")
                login(world.ola, server, "ola")
                _consent(world, server)
                yield world, server
    finally:
        for client in clients:
            client.close()
        provider.terminate()
        provider.wait(timeout=10)
        database.dispose()


def _consent(world: World, server: LiveServer) -> None:
    """Kari consents to consumer A by the API form; the ids go into the world."""
    valid_to = (dt.datetime.now(OSLO) + dt.timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S")
    request_id = str(uuid.uuid4())
    created = httpx.post(
        f"{world.url}/api/v1/consent-requests",
        json={
            "id": request_id,
            "Resources": "5252_1",
            "RedirectUrl": REDIRECT_URL,
            "ValidToDate": valid_to,
            "DelegationContext": "NAVN_SELSKAP treng opplysningar.",
            "ResponseType": "code",
            "5252_1_fraOgMed": "01.01.2026",
            "5252_1_tilOgMed": "31.12.2026",
        },
        headers=world.headers["consumer-a"],
    )
    assert created.status_code == 201, created.text
    page = urlsplit(created.json()["viewUri"]).path
    # A second request Kari leaves open: its page is the one Ola must not see or answer.
    world.ids["consent_request"] = request_id
    shown = world.kari.get(f"{world.url}{page}")
    answered = world.kari.post(
        f"{world.url}{page}",
        data={"csrf_token": csrf_of(shown.text), "action": "accept"},
        follow_redirects=False,
    )
    code = parse_qs(urlsplit(answered.headers["location"]).query)["AuthorizationCode"][0]
    # RFC 9700 §4.5 (code injection): another consumer's exchange of the code is refused.
    stolen = _token(
        world.url, world.credentials["consumer-b"], grant_type="authorization_code", code=code
    )
    world.ids["stolen_code_status"] = str(stolen.status_code)
    consumer = world.credentials["consumer-a"]
    exchanged = _token(world.url, consumer, grant_type="authorization_code", code=code)
    assert exchanged.status_code == 200, exchanged.text
    world.ids["consent_token"] = exchanged.json()["access_token"]
    introspected = _introspect(world, world.ids["consent_token"])
    world.ids["consent"] = introspected["consent_id"]
    open_request = httpx.post(
        f"{world.url}/api/v1/consent-requests",
        json={**json.loads(created.request.content), "id": str(uuid.uuid4())},
        headers=world.headers["consumer-a"],
    )
    open_page = urlsplit(open_request.json()["viewUri"]).path
    world.kari.get(f"{world.url}{open_page}")  # binds the request to Kari
    world.ids["consent_page"] = open_page.rsplit("/", 1)[-1]


def _introspect(world: World, token: str) -> dict[str, Any]:
    consumer = world.credentials["consumer-a"]
    return dict(
        httpx.post(
            f"{world.url}/sts/introspect",
            data={
                "client_id": consumer.party.client_id,
                "client_secret": consumer.client_secret,
                "token": token,
            },
        ).json()
    )


def _pages_refuse_framing(world: World, tally: Tally) -> None:
    """RFC 9700 §4.16 (clickjacking) and §4.2 (Referer leakage): the decision page and
    the consent page Kari answers are never framed and send no Referer onward."""
    for path in (
        f"/minside/requests/{world.ids['internal']}",
        f"/consent/requests/{world.ids['consent_page']}",
    ):
        page = world.kari.get(f"{world.url}{path}")
        tally.pairs += 1
        policy = page.headers.get("content-security-policy", "")
        if page.status_code != 200 or "frame-ancestors 'none'" not in policy:
            tally.problems.append(f"{path}: {page.status_code}, may be framed ({policy!r})")
        if page.headers.get("referrer-policy") != "no-referrer":
            tally.problems.append(f"{path}: Referrer-Policy is not no-referrer")


def _stops_at_once(world: World, tally: Tally) -> None:
    """Kari ends A's grant and withdraws the consent: the very next request has no data."""
    today = dt.datetime.now(OSLO).date()
    values = (
        f"{world.url}/api/v1/metering-points/{gsrn(1)}/values"
        f"?from={today.isoformat()}&to={(today + dt.timedelta(days=1)).isoformat()}"
    )
    before = httpx.get(values, headers=world.headers["third-a"])
    if before.status_code != 200 or not before.json()["values"]:
        tally.problems.append(f"A's own read of today before the end: {before.status_code}")
    page = world.kari.get(f"{world.url}/minside/grants/{world.ids['grant']}/end")
    world.kari.post(
        f"{world.url}/minside/grants/{world.ids['grant']}/end",
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    # The party keeps what it had up to today (grants.rules.end_today); nothing from today on.
    after = httpx.get(values, headers=world.headers["third-a"])
    tally.pairs += 1
    if after.status_code == 200 and after.json()["values"]:
        tally.problems.append("A still reads today's values right after Kari ended the grant")

    if not _introspect(world, world.ids["consent_token"]).get("active"):
        tally.problems.append("the consent token is inactive before the withdrawal")
    withdraw = f"{world.url}/minside/consents/{world.ids['consent']}/withdraw"
    page = world.kari.get(withdraw)
    world.kari.post(withdraw, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    tally.pairs += 1
    if _introspect(world, world.ids["consent_token"]).get("active"):
        tally.problems.append("the consent token is still active right after the withdrawal")
    details = json.dumps([{"type": "urn:altinn:consent", "id": world.ids["consent"]}])
    fresh = _token(world.url, world.credentials["consumer-a"], authorization_details=details)
    tally.pairs += 1
    if fresh.status_code < 400:
        tally.problems.append("a fresh consent token after the withdrawal")


def run(backend: str, database_url: str, quick: bool) -> tuple[list[tuple[str, int]], list[str]]:
    tally = Tally()
    with _world(database_url) as (world, server):
        served = routes(server.app)
        for route in served:
            if route in PUBLIC:
                tally.endpoints += 1
                continue
            probe = MATRIX.get(route)
            if probe is None:
                tally.problems.append(
                    f"{route[0]} {route[1]} has no entry in the authorization matrix"
                )
                continue
            tally.endpoints += 1
            probe(world, tally)
        for route in MATRIX.keys() - set(served):
            tally.problems.append(f"the matrix names {route}, which the app does not serve")
        tally.pairs += 1
        if int(world.ids["stolen_code_status"]) not in (400, 401, 403):
            tally.problems.append(
                f"consumer B exchanged A's code: {world.ids['stolen_code_status']}"
            )
        _pages_refuse_framing(world, tally)
        _stops_at_once(world, tally)
    return (
        [
            ("endpoints", tally.endpoints),
            ("pairs tried", tally.pairs),
            ("leaks", len(tally.problems)),
        ],
        tally.problems,
    )
