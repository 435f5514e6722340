"""The grants API (SPEC §8): a party's own grants from every process, with their status and
how each ended, so that a party that missed an event can reconcile.

Service-level tests judge the status rule against the database and paging; the HTTP tests
go over a real socket with a real token.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update

from consenthub import access_requests, grants
from consenthub.data_api import service
from consenthub.domain.access import EndReason, Process, Scope
from consenthub.domain.errors import Code, DomainError
from consenthub.domain.parties import ApiScope
from consenthub.grants import GrantStatus
from consenthub.registry import store as registry
from consenthub.services import Services
from consenthub.store.database import Database
from consenthub.store.tables import AccessLogEntry, Grant
from consenthub.token_service import Caller
from tests.factories import add_end_user, add_grant, add_metering_point, add_party, fnr, gsrn
from tests.harness import LiveServer, MovableClock

KARI_NATIONAL_ID = fnr(1, 1, 90)
ITEM_KEYS = {
    "id",
    "meteringPointId",
    "scope",
    "validFrom",
    "validTo",
    "status",
    "endedReason",
    "extendedStorage",
    "accessRequestId",
    "created",
}


@dataclass(frozen=True)
class World:
    party: registry.NewCredentials
    other: registry.NewCredentials
    kari: int
    points: tuple[int, int, int]


@pytest.fixture
def world(db: Database) -> World:
    """Two third parties, Kari, and three metering points she lives on."""
    kari = add_end_user(db, KARI_NATIONAL_ID)
    points = (add_metering_point(db, 1), add_metering_point(db, 2), add_metering_point(db, 3))
    return World(add_party(db, seed=1), add_party(db, seed=2, name="Annen AS"), kari, points)


def caller_of(creds: registry.NewCredentials) -> Caller:
    """The caller a live token of ``creds`` stands for (the route's ``require`` makes it)."""
    return Caller(creds.party.id, creds.party.client_id, frozenset({ApiScope.DATA_READ}), {})


def days(count: int, hub: Services) -> dt.date:
    return hub.today() + dt.timedelta(days=count)


def end(
    db: Database,
    grant_id: int,
    *,
    valid_to: dt.date | None = None,
    reason: EndReason | None = None,
    revoked: bool = False,
) -> None:
    """End a grant the way a process that is not built yet would record it."""
    values: dict[str, Any] = {"ended_reason": reason.value if reason else None}
    if valid_to is not None:
        values["valid_to"] = valid_to
    if revoked:
        values["revoked_at"] = dt.datetime.now(dt.UTC)
    with db.write() as conn:
        conn.execute(update(Grant).where(Grant.id == grant_id).values(values))


def statuses(page: service.GrantPage) -> dict[int, tuple[GrantStatus, EndReason | None]]:
    return {found.grant.id: (found.status, found.ended_reason) for found in page.grants}


# Service level: the status rule against the database, and paging.


def test_each_grant_has_its_status_and_how_it_ended(
    hub: Services, db: Database, world: World
) -> None:
    party_id, kari = world.party.party.id, world.kari
    mp1, mp2, _ = world.points
    past = days(-30, hub)
    open_ended = add_grant(db, party_id, mp1, kari, past)
    ends_later = add_grant(db, party_id, mp1, kari, past, days(10, hub))
    ran_out = add_grant(db, party_id, mp1, kari, past, days(-1, hub))
    ran_out_recorded = add_grant(db, party_id, mp1, kari, past, days(-1, hub))
    end(db, ran_out_recorded, reason=EndReason.EXPIRED)
    ended_by_kari = add_grant(db, party_id, mp2, kari, past)
    grants.end_by_end_user(hub, ended_by_kari, kari)
    moved_out = add_grant(db, party_id, mp2, kari, past)
    end(db, moved_out, valid_to=hub.today(), reason=EndReason.MOVED_OUT)
    removed = add_grant(db, party_id, mp2, kari, past)
    end(db, removed, valid_to=days(-2, hub), reason=EndReason.PARTY_REMOVED)
    revoked = add_grant(db, party_id, mp2, kari, past)
    end(db, revoked, revoked=True)
    revoked_after_ending = add_grant(db, party_id, mp2, kari, past, days(-1, hub))
    end(db, revoked_after_ending, reason=EndReason.END_USER, revoked=True)
    # Ended before it started: the window [start, start) gives access on no day at all.
    never_started = add_grant(db, party_id, mp2, kari, days(5, hub))
    grants.end_by_end_user(hub, never_started, kari)
    # Its ending is recorded, but its end date is still to come: it gives access until then.
    ending_announced = add_grant(db, party_id, mp2, kari, past)
    end(db, ending_announced, valid_to=days(3, hub), reason=EndReason.MOVED_OUT)
    starts_later = add_grant(db, party_id, mp2, kari, days(5, hub))

    page = service.party_grants(hub, caller_of(world.party), status=None, after=None, limit=100)

    assert statuses(page) == {
        open_ended: (GrantStatus.ACTIVE, None),
        ends_later: (GrantStatus.ACTIVE, None),
        ran_out: (GrantStatus.EXPIRED, EndReason.EXPIRED),
        ran_out_recorded: (GrantStatus.EXPIRED, EndReason.EXPIRED),
        ended_by_kari: (GrantStatus.ENDED, EndReason.END_USER),
        moved_out: (GrantStatus.ENDED, EndReason.MOVED_OUT),
        removed: (GrantStatus.ENDED, EndReason.PARTY_REMOVED),
        revoked: (GrantStatus.ENDED, EndReason.REVOKED),
        revoked_after_ending: (GrantStatus.ENDED, EndReason.REVOKED),
        never_started: (GrantStatus.ENDED, EndReason.END_USER),
        ending_announced: (GrantStatus.ACTIVE, None),
        starts_later: (GrantStatus.ACTIVE, None),
    }
    assert page.next_cursor is None


def test_a_grant_expires_when_its_end_date_comes(
    hub: Services, db: Database, clock: MovableClock, world: World
) -> None:
    grant_id = add_grant(
        db, world.party.party.id, world.points[0], world.kari, days(-5, hub), days(2, hub)
    )
    caller = caller_of(world.party)
    assert service.party_grant(hub, caller, grant_id).status is GrantStatus.ACTIVE
    clock.advance(days=1)
    assert service.party_grant(hub, caller, grant_id).status is GrantStatus.ACTIVE
    clock.advance(days=1)
    expired = service.party_grant(hub, caller, grant_id)
    assert (expired.status, expired.ended_reason) == (GrantStatus.EXPIRED, EndReason.EXPIRED)
    filtered = service.party_grants(hub, caller, status=GrantStatus.EXPIRED, after=None, limit=100)
    assert [found.grant.id for found in filtered.grants] == [grant_id]


def test_the_status_filter_agrees_with_the_rule_for_every_kind_of_grant(
    hub: Services, db: Database, world: World
) -> None:
    """The filter is the rule written as SQL (it pages in the database); for every mix of
    start, end, recorded reason and withdrawal, each grant is listed under exactly the
    status ``grant_standing`` gives it."""
    today = hub.today()
    starts = [days(-10, hub), today, days(5, hub)]
    reasons: list[EndReason | None] = [None, *EndReason]

    def ends(start: dt.date) -> set[dt.date | None]:
        # Its own start too: a grant ended before it started (``end_today``).
        candidates = {None, days(-1, hub), today, days(1, hub), days(10, hub), start}
        return {valid_to for valid_to in candidates if valid_to is None or valid_to >= start}

    rows = [
        {
            "party_id": world.party.party.id,
            "metering_point_id": world.points[0],
            "end_user_id": world.kari,
            "scope": "Limited",
            "valid_from": start,
            "valid_to": valid_to,
            "ended_reason": reason.value if reason else None,
            "revoked_at": dt.datetime.now(dt.UTC) if revoked else None,
            "created_at": dt.datetime.now(dt.UTC),
        }
        for start in starts
        for valid_to, reason, revoked in itertools.product(ends(start), reasons, (False, True))
    ]
    with db.write() as conn:
        conn.execute(insert(Grant), rows)
    caller = caller_of(world.party)
    everything = service.party_grants(hub, caller, status=None, after=None, limit=1000)
    assert len(everything.grants) == len(rows)
    expected: dict[GrantStatus, set[int]] = {status: set() for status in GrantStatus}
    for found in everything.grants:
        grant = found.grant
        standing = grants.grant_standing(
            grant.valid_from, grant.valid_to, grant.ended_reason, grant.revoked, today
        )
        expected[standing.status].add(grant.id)
    for status in GrantStatus:
        filtered = service.party_grants(hub, caller, status=status, after=None, limit=1000)
        assert {found.grant.id for found in filtered.grants} == expected[status], status
        assert {found.status for found in filtered.grants} <= {status}
    assert all(expected.values())


def test_pages_follow_each_other_and_the_last_carries_no_cursor(
    hub: Services, db: Database, world: World
) -> None:
    party_id = world.party.party.id
    ids = [add_grant(db, party_id, world.points[0], world.kari, days(-3, hub)) for _ in range(5)]
    caller = caller_of(world.party)
    seen: list[int] = []
    cursors: list[int | None] = []
    after = None
    while True:
        page = service.party_grants(hub, caller, status=None, after=after, limit=2)
        seen += [found.grant.id for found in page.grants]
        cursors.append(page.next_cursor)
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert seen == ids
    assert cursors == [ids[1], ids[3], None]
    # A last page that is exactly full still says that nothing follows.
    exactly_full = service.party_grants(hub, caller, status=None, after=ids[2], limit=2)
    assert [found.grant.id for found in exactly_full.grants] == ids[3:]
    assert exactly_full.next_cursor is None


def test_a_filtered_list_pages_over_its_own_grants(
    hub: Services, db: Database, world: World
) -> None:
    party_id = world.party.party.id
    ids = [add_grant(db, party_id, world.points[0], world.kari, days(-3, hub)) for _ in range(6)]
    for grant_id in ids[::2]:
        end(db, grant_id, valid_to=hub.today(), reason=EndReason.PARTY_REMOVED)
    caller = caller_of(world.party)
    first = service.party_grants(hub, caller, status=GrantStatus.ACTIVE, after=None, limit=2)
    assert [found.grant.id for found in first.grants] == [ids[1], ids[3]]
    assert first.next_cursor == ids[3]
    last = service.party_grants(
        hub, caller, status=GrantStatus.ACTIVE, after=first.next_cursor, limit=2
    )
    assert [found.grant.id for found in last.grants] == [ids[5]]
    assert last.next_cursor is None


def test_only_the_callers_own_grants_and_others_look_unknown(
    hub: Services, db: Database, world: World
) -> None:
    mine = add_grant(db, world.party.party.id, world.points[0], world.kari, days(-3, hub))
    theirs = add_grant(db, world.other.party.id, world.points[0], world.kari, days(-3, hub))
    caller = caller_of(world.party)
    page = service.party_grants(hub, caller, status=None, after=None, limit=100)
    assert [found.grant.id for found in page.grants] == [mine]
    assert service.party_grant(hub, caller, mine).grant.gsrn == gsrn(1)
    for grant_id in (theirs, theirs + 1000):
        with pytest.raises(DomainError) as raised:
            service.party_grant(hub, caller, grant_id)
        assert raised.value.code is Code.GRANT_UNKNOWN


def test_grants_of_every_process_are_listed_with_their_request(
    hub: Services, db: Database, world: World
) -> None:
    """A grant comes from a request of any process, or from none (an import, a BRS-NO-622
    update before its requests existed); the list holds them all alike."""
    party_id = world.party.party.id
    requests = {
        process: access_requests.create(
            hub,
            access_requests.NewAccessRequest(
                process, party_id, str(uuid.uuid4()), Scope.FULL, deadline=None
            ),
            actor="test",
        )
        for process in Process
    }
    expected: dict[int, str | None] = {}
    with db.write() as conn:
        for process, request in requests.items():
            assert request is not None, process
            grant_id = grants.create_grant(
                conn,
                party_id=party_id,
                metering_point_id=world.points[0],
                end_user_id=world.kari,
                scope=Scope.FULL.value,
                valid_from=days(-1, hub),
                access_request_id=request.id,
                actor="test",
            )
            expected[grant_id] = request.id
    without_request = add_grant(db, party_id, world.points[1], world.kari, days(-1, hub))
    expected[without_request] = None
    page = service.party_grants(hub, caller_of(world.party), status=None, after=None, limit=100)
    assert {found.grant.id: found.grant.access_request_id for found in page.grants} == expected


# HTTP over a real socket, with a real token.


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url) as client:
        yield client


def token_for(api: httpx.Client, creds: registry.NewCredentials) -> dict[str, str]:
    response = api.post(
        "/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds.party.client_id,
            "client_secret": creds.client_secret,
        },
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def without_correlation(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "korrelasjonsId"}


def test_the_caller_reads_its_own_grants_and_nothing_of_the_end_user(
    api: httpx.Client, db: Database, hub: Services, world: World
) -> None:
    mine = [
        add_grant(db, world.party.party.id, point, world.kari, days(-3, hub), scope="Full")
        for point in world.points[:2]
    ]
    theirs = add_grant(db, world.other.party.id, world.points[2], world.kari, days(-3, hub))
    headers = token_for(api, world.party)

    listed = api.get("/api/v1/grants", headers=headers)
    assert listed.status_code == 200
    body = listed.json()
    assert set(body) == {"grants"}
    assert [item["id"] for item in body["grants"]] == mine
    assert [item["meteringPointId"] for item in body["grants"]] == [gsrn(1), gsrn(2)]
    assert all(set(item) == ITEM_KEYS for item in body["grants"])

    one = api.get(f"/api/v1/grants/{mine[0]}", headers=headers)
    assert one.status_code == 200
    assert one.json() == body["grants"][0]
    assert one.json() | {"created": None} == {
        "id": mine[0],
        "meteringPointId": gsrn(1),
        "scope": "Full",
        "validFrom": days(-3, hub).isoformat(),
        "validTo": None,
        "status": "Active",
        "endedReason": None,
        "extendedStorage": False,
        "accessRequestId": None,
        "created": None,
    }
    for text in (listed.text, one.text):
        assert KARI_NATIONAL_ID not in text

    not_mine = api.get(f"/api/v1/grants/{theirs}", headers=headers)
    unknown = api.get("/api/v1/grants/999999", headers=headers)
    assert not_mine.status_code == unknown.status_code == 404
    assert without_correlation(not_mine.json()) == without_correlation(unknown.json())
    assert unknown.json()["code"] == "CH3002"


def test_statuses_and_the_filter_over_http(
    api: httpx.Client, db: Database, hub: Services, world: World
) -> None:
    party_id, kari, point = world.party.party.id, world.kari, world.points[0]
    active = add_grant(db, party_id, point, kari, days(-3, hub))
    expired = add_grant(db, party_id, point, kari, days(-9, hub), days(-1, hub))
    ended = add_grant(db, party_id, point, kari, days(-9, hub))
    end(db, ended, valid_to=days(-1, hub), reason=EndReason.MOVED_OUT)
    revoked = add_grant(db, party_id, point, kari, days(-9, hub))
    end(db, revoked, revoked=True)
    headers = token_for(api, world.party)

    def listed(query: str) -> list[tuple[int, str, str | None]]:
        response = api.get(f"/api/v1/grants{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [
            (item["id"], item["status"], item["endedReason"]) for item in response.json()["grants"]
        ]

    assert listed("") == [
        (active, "Active", None),
        (expired, "Expired", "expired"),
        (ended, "Ended", "moved_out"),
        (revoked, "Ended", "revoked"),
    ]
    assert listed("?status=Active") == [(active, "Active", None)]
    assert listed("?status=Expired") == [(expired, "Expired", "expired")]
    assert listed("?status=Ended") == [(ended, "Ended", "moved_out"), (revoked, "Ended", "revoked")]


def test_paging_over_http_leaves_next_out_on_the_last_page(
    api: httpx.Client, db: Database, hub: Services, world: World
) -> None:
    ids = [
        add_grant(db, world.party.party.id, world.points[0], world.kari, days(-1, hub))
        for _ in range(5)
    ]
    headers = token_for(api, world.party)
    pages: list[dict[str, Any]] = []
    query: dict[str, str] = {"limit": "2"}
    while True:
        response = api.get("/api/v1/grants", params=query, headers=headers)
        assert response.status_code == 200
        pages.append(response.json())
        if "next" not in pages[-1]:
            break
        query = {"limit": "2", "after": pages[-1]["next"]}
    assert [[item["id"] for item in page["grants"]] for page in pages] == [
        ids[:2],
        ids[2:4],
        ids[4:],
    ]
    assert [page.get("next") for page in pages] == [str(ids[1]), str(ids[3]), None]
    exactly_full = api.get("/api/v1/grants", params={"limit": "5"}, headers=headers).json()
    assert [item["id"] for item in exactly_full["grants"]] == ids
    assert "next" not in exactly_full
    default_page = api.get("/api/v1/grants", headers=headers).json()
    assert len(default_page["grants"]) == 5


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/grants?status=active", "status"),
        ("/api/v1/grants?status=ACTIVE", "status"),
        ("/api/v1/grants?status=Revoked", "status"),
        ("/api/v1/grants?status=", "status"),
        ("/api/v1/grants?limit=0", "limit"),
        ("/api/v1/grants?limit=1001", "limit"),
        ("/api/v1/grants?limit=ten", "limit"),
        ("/api/v1/grants?limit=-5", "limit"),
        ("/api/v1/grants?limit=%C2%B2", "limit"),  # "²": a digit to str.isdigit, not to int
        ("/api/v1/grants?limit=" + "9" * 5000, "limit"),
        ("/api/v1/grants?after=abc", "after"),
        ("/api/v1/grants?after=-1", "after"),
        ("/api/v1/grants?after=1.0", "after"),
        ("/api/v1/grants?after=", "after"),
        ("/api/v1/grants?after=" + "9" * 19, "after"),
        ("/api/v1/grants/abc", "id"),
        ("/api/v1/grants/1.0", "id"),
        ("/api/v1/grants/-1", "id"),
        ("/api/v1/grants/+1", "id"),
        ("/api/v1/grants/%C2%B2", "id"),
        ("/api/v1/grants/" + "9" * 19, "id"),
    ],
)
def test_bad_parameters_name_the_field(
    api: httpx.Client, world: World, path: str, field: str
) -> None:
    response = api.get(path, headers=token_for(api, world.party))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "CH2001"
    assert [error["field"] for error in body["errors"]] == [field]
    assert body["errors"][0]["rule"]


def test_the_largest_ids_are_well_formed_and_unknown(api: httpx.Client, world: World) -> None:
    headers = token_for(api, world.party)
    largest = "9" * 18
    assert api.get(f"/api/v1/grants/{largest}", headers=headers).status_code == 404
    page = api.get("/api/v1/grants", params={"after": largest}, headers=headers)
    assert page.status_code == 200
    assert page.json() == {"grants": []}


GRANT_PATHS = ["/api/v1/grants", "/api/v1/grants/1"]


def test_a_revoked_token_is_refused(
    api: httpx.Client, db: Database, hub: Services, world: World
) -> None:
    grant_id = add_grant(db, world.party.party.id, world.points[0], world.kari, days(-1, hub))
    paths = ["/api/v1/grants", f"/api/v1/grants/{grant_id}"]
    headers = token_for(api, world.party)
    assert [api.get(path, headers=headers).status_code for path in paths] == [200, 200]
    revoked = api.post(
        "/sts/revoke",
        data={"token": headers["Authorization"].removeprefix("Bearer ")},
        auth=(world.party.party.client_id, world.party.client_secret),
    )
    assert revoked.status_code == 200
    for path in paths:
        response = api.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.json()["code"] == "CH1102"
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("path", GRANT_PATHS)
def test_no_token_and_a_token_without_data_read_are_refused(
    api: httpx.Client, db: Database, path: str
) -> None:
    missing = api.get(path)
    assert missing.status_code == 401
    assert missing.json()["code"] == "CH1101"
    consent_only = add_party(db, seed=7, name="Samtykke AS", roles=("consent_consumer",))
    refused = api.get(path, headers=token_for(api, consent_only))
    assert refused.status_code == 403
    assert refused.json()["code"] == "CH1103"
    assert 'scope="data:read"' in refused.headers["www-authenticate"]


def test_reading_ones_own_grants_is_not_logged_as_a_read_of_end_user_data(
    api: httpx.Client, db: Database, hub: Services, world: World
) -> None:
    grant_id = add_grant(db, world.party.party.id, world.points[0], world.kari, days(-1, hub))
    headers = token_for(api, world.party)
    assert api.get("/api/v1/grants", headers=headers).status_code == 200
    assert api.get(f"/api/v1/grants/{grant_id}", headers=headers).status_code == 200
    with db.read() as conn:
        assert conn.execute(select(AccessLogEntry.id)).all() == []


def test_the_openapi_document_describes_the_grants_api(api: httpx.Client) -> None:
    document = api.get("/openapi.json").json()
    listing = document["paths"]["/api/v1/grants"]["get"]
    one = document["paths"]["/api/v1/grants/{id}"]["get"]
    for operation in (listing, one):
        assert operation["security"] == [{"bearer": []}]
    assert {parameter["name"] for parameter in listing["parameters"]} == {
        "status",
        "after",
        "limit",
    }
    assert [parameter["name"] for parameter in one["parameters"]] == ["id"]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GrantList"
    }
    assert one["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GrantItem"
    }
    assert "404" in one["responses"]
    item = document["components"]["schemas"]["GrantItem"]
    assert set(item["properties"]) == ITEM_KEYS
    assert "next" not in document["components"]["schemas"]["GrantList"]["required"]
