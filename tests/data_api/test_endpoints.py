"""Data API (SPEC §8): only data a live grant allows, clipped, and every read logged."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update

from consenthub.app import create_app
from consenthub.config import Settings
from consenthub.store.database import Database
from consenthub.store.tables import AccessLogEntry, Grant, MeteringPoint, Party, SupplyPeriod
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
from tests.harness import LiveServer

OSLO = ZoneInfo("Europe/Oslo")
DAY0 = dt.date(2025, 1, 1)


def token_for(client: Any, creds: Any) -> dict[str, str]:
    response = client.post(
        "/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds.party.client_id,
            "client_secret": creds.client_secret,
        },
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    """Two parties; Kari on two metering points, Ola on one; a previous occupant on MP 1."""
    party = add_party(db, seed=1)
    other = add_party(db, seed=2, name="Annen AS")
    kari = add_end_user(db, fnr(1, 1, 90))
    ola = add_end_user(db, fnr(2, 2, 85))
    previous = add_end_user(db, fnr(3, 3, 70))
    mp1, mp2, mp3 = (add_metering_point(db, seed) for seed in (1, 2, 3))
    add_supply(db, mp1, previous, dt.date(2020, 1, 1), DAY0 + dt.timedelta(days=5))
    add_supply(db, mp1, kari, DAY0 + dt.timedelta(days=5))
    add_supply(db, mp2, kari, dt.date(2021, 6, 1))
    add_supply(db, mp3, ola, dt.date(2019, 1, 1))
    start = dt.datetime.combine(DAY0, dt.time(), tzinfo=OSLO)
    for mp in (mp1, mp2, mp3):
        add_hourly_values(db, mp, start, 24 * 20)
    return {
        "party": party,
        "other": other,
        "kari": kari,
        "ola": ola,
        "previous": previous,
        "mps": (mp1, mp2, mp3),
    }


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db)) as test_client:
        yield test_client


def test_list_shows_only_granted_readable_metering_points(
    client: TestClient, db: Database, world: dict[str, Any]
) -> None:
    mp1, mp2, mp3 = world["mps"]
    party_id = world["party"].party.id
    add_grant(db, party_id, mp1, world["kari"], DAY0 + dt.timedelta(days=5))
    add_grant(db, party_id, mp2, world["kari"], dt.date(2099, 1, 1))  # not started yet
    add_grant(db, world["other"].party.id, mp3, world["ola"], dt.date(2019, 1, 1))
    body = client.get("/api/v1/metering-points", headers=token_for(client, world["party"])).json()
    assert [item["meteringPointId"] for item in body["meteringPoints"]] == [gsrn(1)]
    assert body["meteringPoints"][0]["access"] == [{"from": "2025-01-06", "to": None}]
    assert "next" not in body


def test_list_pages_with_cursor(client: TestClient, db: Database, world: dict[str, Any]) -> None:
    party_id = world["party"].party.id
    for mp in world["mps"][:2]:
        add_grant(db, party_id, mp, world["kari"], DAY0 + dt.timedelta(days=5))
    headers = token_for(client, world["party"])
    first = client.get("/api/v1/metering-points?limit=1", headers=headers).json()
    assert [m["meteringPointId"] for m in first["meteringPoints"]] == [gsrn(1)]
    second = client.get(
        f"/api/v1/metering-points?limit=1&after={first['next']}", headers=headers
    ).json()
    assert [m["meteringPointId"] for m in second["meteringPoints"]] == [gsrn(2)]
    # A full last page says nothing follows.
    assert "next" not in second


def test_an_unencoded_offset_is_explained(
    client: TestClient, db: Database, world: dict[str, Any]
) -> None:
    add_grant(db, world["party"].party.id, world["mps"][0], world["kari"], DAY0)
    answer = client.get(
        f"/api/v1/metering-points/{gsrn(1)}/values?from=2025-01-06T10:00:00+01:00&to=2025-01-07",
        headers=token_for(client, world["party"]),
    )
    assert answer.status_code == 400
    [problem] = answer.json()["errors"]
    assert problem["field"] == "from"
    assert "%2B" in problem["rule"]


def test_limited_and_full_master_data(
    client: TestClient, db: Database, world: dict[str, Any]
) -> None:
    mp1, mp2, _ = world["mps"]
    party_id = world["party"].party.id
    add_grant(db, party_id, mp1, world["kari"], DAY0 + dt.timedelta(days=5), scope="Limited")
    add_grant(db, party_id, mp2, world["kari"], dt.date(2021, 6, 1), scope="Full")
    headers = token_for(client, world["party"])
    limited = client.get(f"/api/v1/metering-points/{gsrn(1)}", headers=headers).json()
    assert limited["scope"] == "Limited"
    assert {"address", "contracts", "settlementPoint"}.isdisjoint(limited)
    assert limited["gridArea"] == "NO1"
    full = client.get(f"/api/v1/metering-points/{gsrn(2)}", headers=headers).json()
    assert full["scope"] == "Full"
    assert full["address"] == {"street": "Storgata 2", "postcode": "0155", "city": "Oslo"}
    assert full["contracts"] == [{"moveIn": "2021-06-01", "moveOut": None}]
    assert full["settlementPoint"] is True


def test_unknown_and_ungranted_look_the_same(
    client: TestClient, db: Database, world: dict[str, Any]
) -> None:
    add_grant(db, world["other"].party.id, world["mps"][2], world["ola"], dt.date(2019, 1, 1))
    headers = token_for(client, world["party"])
    responses = [
        client.get(f"/api/v1/metering-points/{gsrn(seed)}{suffix}", headers=headers)
        for seed in (3, 999)
        for suffix in ("", "/values?from=2025-01-01&to=2025-01-02")
    ]
    bodies = [{k: v for k, v in r.json().items() if k != "korrelasjonsId"} for r in responses]
    assert {r.status_code for r in responses} == {404}
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0]["code"] == "CH3001"


def test_revoked_grant_gives_nothing(
    client: TestClient, db: Database, world: dict[str, Any]
) -> None:
    grant = add_grant(
        db, world["party"].party.id, world["mps"][0], world["kari"], DAY0 + dt.timedelta(days=5)
    )
    headers = token_for(client, world["party"])
    assert client.get(f"/api/v1/metering-points/{gsrn(1)}", headers=headers).status_code == 200
    with db.write() as conn:
        conn.execute(
            update(Grant).where(Grant.id == grant).values(revoked_at=dt.datetime.now(dt.UTC))
        )
    assert client.get(f"/api/v1/metering-points/{gsrn(1)}", headers=headers).status_code == 404


DATA_PATHS = [
    "/api/v1/metering-points",
    f"/api/v1/metering-points/{gsrn(1)}",
    f"/api/v1/metering-points/{gsrn(1)}/values?from=2025-01-06&to=2025-01-07",
    f"/api/v1/metering-points/{gsrn(999)}",
    f"/api/v1/metering-points/{gsrn(999)}/values?from=2025-01-06&to=2025-01-07",
]


@pytest.mark.parametrize("how", ["revoked", "deactivated"])
def test_dead_token_is_refused_on_every_read_before_anything_is_looked_up(
    client: TestClient, db: Database, world: dict[str, Any], how: str
) -> None:
    """Liveness comes first: a granted metering point, and one that does not exist, both
    answer 401 for a revoked token or a deactivated party, and nothing is logged."""
    creds = world["party"]
    add_grant(db, creds.party.id, world["mps"][0], world["kari"], DAY0 + dt.timedelta(days=5))
    headers = token_for(client, creds)
    assert [client.get(path, headers=headers).status_code for path in DATA_PATHS] == [
        200,
        200,
        200,
        404,
        404,
    ]
    with db.read() as conn:
        logged = len(conn.execute(select(AccessLogEntry.id)).all())
    if how == "revoked":
        revoked = client.post(
            "/sts/revoke",
            data={"token": headers["Authorization"].removeprefix("Bearer ")},
            auth=(creds.party.client_id, creds.client_secret),
        )
        assert revoked.status_code == 200
    else:
        with db.write() as conn:
            conn.execute(update(Party).where(Party.id == creds.party.id).values(active=False))
    for path in DATA_PATHS:
        response = client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.json()["code"] == "CH1102"
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    with db.read() as conn:
        assert len(conn.execute(select(AccessLogEntry.id)).all()) == logged


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/metering-points/123", "id"),
        (f"/api/v1/metering-points/{gsrn(1)[:-1]}0", "id"),
        (f"/api/v1/metering-points/{gsrn(1)}/values?from=yesterday&to=2025-01-02", "from"),
        (
            f"/api/v1/metering-points/{gsrn(1)}/values?from=2025-01-01T00:00:00&to=2025-01-02",
            "from",
        ),
        (f"/api/v1/metering-points/{gsrn(1)}/values?from=2025-01-02&to=2025-01-01", "to"),
        (f"/api/v1/metering-points/{gsrn(1)}/values?from=2024-01-01&to=2025-06-01", "to"),
        (f"/api/v1/metering-points/{gsrn(1)}/values?from=2025-01-01", "to"),
        (f"/api/v1/metering-points/{gsrn(1)}/values?to=2025-01-02", "from"),
        ("/api/v1/metering-points?limit=0", "limit"),
        ("/api/v1/metering-points?limit=10001", "limit"),
        ("/api/v1/metering-points?limit=ten", "limit"),
        ("/api/v1/metering-points?after=707", "after"),
    ],
)
def test_bad_parameters_name_the_field(
    client: TestClient, world: dict[str, Any], path: str, field: str
) -> None:
    response = client.get(path, headers=token_for(client, world["party"]))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "CH2001"
    assert [error["field"] for error in body["errors"]] == [field]
    assert body["errors"][0]["rule"]


def test_every_read_is_logged(client: TestClient, db: Database, world: dict[str, Any]) -> None:
    mp1 = world["mps"][0]
    add_grant(db, world["party"].party.id, mp1, world["kari"], DAY0 + dt.timedelta(days=5))
    headers = token_for(client, world["party"])
    before = dt.datetime.now(dt.UTC)
    client.get("/api/v1/metering-points", headers=headers)
    client.get(f"/api/v1/metering-points/{gsrn(1)}", headers=headers)
    response = client.get(
        f"/api/v1/metering-points/{gsrn(1)}/values?from=2025-01-07&to=2025-01-08", headers=headers
    )
    with db.read() as conn:
        entries = conn.execute(select(AccessLogEntry).order_by(AccessLogEntry.id)).all()
    assert [entry.what for entry in entries] == [
        "metering_point_list",
        "master_data",
        "meter_values",
    ]
    assert {entry.end_user_id for entry in entries} == {world["kari"]}
    assert {entry.party_id for entry in entries} == {world["party"].party.id}
    assert entries[2].correlation_id == response.headers["x-correlation-id"]
    assert entries[2].period_from == dt.datetime(2025, 1, 7, tzinfo=OSLO)
    assert entries[2].period_to == dt.datetime(2025, 1, 8, tzinfo=OSLO)
    assert before <= entries[2].at <= dt.datetime.now(dt.UTC)


def test_a_read_of_two_occupants_logs_both_in_one_go(
    client: TestClient, db: Database, world: dict[str, Any]
) -> None:
    """Both end users whose grants open the period are logged, with one instant and one
    correlation id: the entries of one read are written together."""
    mp1 = world["mps"][0]
    party_id = world["party"].party.id
    add_grant(db, party_id, mp1, world["previous"], dt.date(2020, 1, 1))
    add_grant(db, party_id, mp1, world["kari"], DAY0 + dt.timedelta(days=5))
    response = client.get(
        f"/api/v1/metering-points/{gsrn(1)}/values?from=2025-01-05&to=2025-01-07",
        headers=token_for(client, world["party"]),
    )
    assert response.status_code == 200
    assert len(response.json()["values"]) == 48
    with db.read() as conn:
        entries = conn.execute(select(AccessLogEntry)).all()
    assert sorted(entry.end_user_id for entry in entries) == sorted(
        [world["previous"], world["kari"]]
    )
    assert {(entry.at, entry.correlation_id, entry.what) for entry in entries} == {
        (entries[0].at, response.headers["x-correlation-id"], "meter_values")
    }
    assert {entry.period_from for entry in entries} == {dt.datetime(2025, 1, 5, tzinfo=OSLO)}


def test_a_large_list_page_logs_every_metering_point(
    client: TestClient, db: Database, world: dict[str, Any]
) -> None:
    """A page of 2,500 metering points logs 2,500 entries: more than one INSERT may carry
    (bind-parameter limits), all in the page's one transaction."""
    count = 2500
    kari, party_id = world["kari"], world["party"].party.id
    now = dt.datetime.now(dt.UTC)
    with db.write() as conn:
        mp_ids = [
            conn.execute(
                insert(MeteringPoint)
                .values(gsrn=gsrn(10_000 + n), settlement_point=True, extended_storage=False)
                .returning(MeteringPoint.id)
            ).scalar_one()
            for n in range(count)
        ]
        conn.execute(
            insert(SupplyPeriod),
            [{"metering_point_id": mp, "end_user_id": kari, "move_in": DAY0} for mp in mp_ids],
        )
        conn.execute(
            insert(Grant),
            [
                {
                    "party_id": party_id,
                    "metering_point_id": mp,
                    "end_user_id": kari,
                    "scope": "Limited",
                    "valid_from": DAY0,
                    "created_at": now,
                }
                for mp in mp_ids
            ],
        )
    response = client.get(
        f"/api/v1/metering-points?limit={count}", headers=token_for(client, world["party"])
    )
    assert response.status_code == 200
    assert len(response.json()["meteringPoints"]) == count
    with db.read() as conn:
        entries = conn.execute(
            select(AccessLogEntry.metering_point_id, AccessLogEntry.correlation_id)
        ).all()
    assert sorted(entry.metering_point_id for entry in entries) == sorted(mp_ids)
    assert {entry.correlation_id for entry in entries} == {response.headers["x-correlation-id"]}


def test_reads_leave_the_pool_transactional(
    client: TestClient, db: Database, world: dict[str, Any]
) -> None:
    """On PostgreSQL reads run in autocommit mode; the connection goes back to the pool
    without it, so a later write transaction that fails still leaves nothing behind."""
    add_grant(db, world["party"].party.id, world["mps"][0], world["kari"], DAY0)
    headers = token_for(client, world["party"])
    for _ in range(3):
        response = client.get(
            f"/api/v1/metering-points/{gsrn(1)}/values?from=2025-01-07&to=2025-01-08",
            headers=headers,
        )
        assert response.status_code == 200

    def failing_write() -> None:
        with db.write() as conn:
            conn.execute(delete(AccessLogEntry))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        failing_write()
    with db.read() as conn:
        assert len(conn.execute(select(AccessLogEntry.id)).all()) == 3


def test_previous_occupant_data_never_shown(
    client: TestClient, db: Database, world: dict[str, Any]
) -> None:
    # A grant from Kari reaching back before her move-in still starts at her move-in.
    add_grant(db, world["party"].party.id, world["mps"][0], world["kari"], dt.date(2024, 1, 1))
    body = client.get(
        f"/api/v1/metering-points/{gsrn(1)}/values?from=2025-01-01&to=2025-01-10",
        headers=token_for(client, world["party"]),
    ).json()
    first = dt.datetime.fromisoformat(body["values"][0]["start"])
    assert first == dt.datetime(2025, 1, 6, tzinfo=OSLO)
    assert len(body["values"]) == 4 * 24
    assert body["periods"] == [
        {"from": "2025-01-06T00:00:00+01:00", "to": "2025-01-10T00:00:00+01:00"}
    ]


days = st.integers(min_value=0, max_value=20)


@given(
    supply=st.tuples(days, days),
    grant=st.tuples(days, st.one_of(st.none(), days)),
    query=st.tuples(st.integers(0, 21 * 24), st.integers(0, 21 * 24)),
)
@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_values_never_outside_grant_or_supply(
    client: TestClient,
    db: Database,
    world: dict[str, Any],
    supply: tuple[int, int],
    grant: tuple[int, int | None],
    query: tuple[int, int],
) -> None:
    supply_start, supply_end = sorted(supply)
    grant_start, grant_end = grant[0], grant[1]
    if grant_end is not None and grant_end < grant_start:
        grant_start, grant_end = grant_end, grant_start
    query_start, query_end = sorted(query)
    if query_start == query_end:
        query_end += 1
    mp2 = world["mps"][1]
    with db.write() as conn:
        conn.execute(delete(Grant))
        conn.execute(delete(SupplyPeriod).where(SupplyPeriod.metering_point_id == mp2))
    move_in = DAY0 + dt.timedelta(days=supply_start)
    move_out = DAY0 + dt.timedelta(days=supply_end) if supply_end > supply_start else None
    add_supply(db, mp2, world["kari"], move_in, move_out)
    valid_from = DAY0 + dt.timedelta(days=grant_start)
    valid_to = None if grant_end is None else DAY0 + dt.timedelta(days=grant_end)
    add_grant(db, world["party"].party.id, mp2, world["kari"], valid_from, valid_to)

    base = dt.datetime.combine(DAY0, dt.time(), tzinfo=OSLO)
    q_from = base + dt.timedelta(hours=query_start)
    q_to = base + dt.timedelta(hours=query_end)
    response = client.get(
        f"/api/v1/metering-points/{gsrn(2)}/values",
        params={"from": q_from.isoformat(), "to": q_to.isoformat()},
        headers=token_for(client, world["party"]),
    )

    def allowed(instant: dt.datetime) -> bool:
        day = instant.astimezone(OSLO).date()
        in_supply = move_in <= day and (move_out is None or day < move_out)
        in_grant = valid_from <= day and (valid_to is None or day < valid_to)
        return in_supply and in_grant and q_from <= instant < q_to

    expected = [
        base + dt.timedelta(hours=h)
        for h in range(24 * 20)
        if allowed(base + dt.timedelta(hours=h))
    ]
    if response.status_code == 404:
        assert not any(
            valid_from <= DAY0 + dt.timedelta(days=d)
            and (valid_to is None or DAY0 + dt.timedelta(days=d) < valid_to)
            and move_in <= DAY0 + dt.timedelta(days=d)
            and (move_out is None or DAY0 + dt.timedelta(days=d) < move_out)
            for d in range(0, 400)
        )
        return
    assert response.status_code == 200
    got = [dt.datetime.fromisoformat(value["start"]) for value in response.json()["values"]]
    assert all(allowed(instant) for instant in got)
    assert got == expected


def test_data_api_over_real_socket(
    live_server: LiveServer, db: Database, world: dict[str, Any]
) -> None:
    add_grant(
        db, world["party"].party.id, world["mps"][0], world["kari"], DAY0 + dt.timedelta(days=5)
    )
    token = httpx.post(
        f"{live_server.url}/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": world["party"].party.client_id,
            "client_secret": world["party"].client_secret,
        },
    ).json()["access_token"]
    response = httpx.get(
        f"{live_server.url}/api/v1/metering-points/{gsrn(1)}/values",
        params={"from": "2025-01-06", "to": "2025-01-07"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    values = response.json()["values"]
    assert len(values) == 24
    assert values[0] == {"start": "2025-01-06T00:00:00+01:00", "kwh": 1.62}
