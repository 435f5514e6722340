"""Defect 1: extreme ``from``/``to`` on the data API are a 400 naming the field, never a 500."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import example, given
from hypothesis import strategies as st

from consenthub.app import create_app
from consenthub.config import Settings
from consenthub.data_api.handler import local_time, parse_instant
from consenthub.domain.errors import DomainError
from consenthub.domain.windows import DateWindow, Interval, to_intervals
from consenthub.store.database import Database
from tests.factories import (
    add_end_user,
    add_grant,
    add_metering_point,
    add_party,
    add_supply,
    fnr,
    gsrn,
)

OSLO = ZoneInfo("Europe/Oslo")


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db)) as test_client:
        yield test_client


@pytest.fixture
def headers(client: TestClient, db: Database) -> dict[str, str]:
    """A party with a grant from 1970 on metering point 1, and its bearer token."""
    creds = add_party(db)
    end_user = add_end_user(db, fnr(1, 1, 60))
    metering_point = add_metering_point(db, 1)
    add_supply(db, metering_point, end_user, dt.date(1970, 1, 1))
    add_grant(db, creds.party.id, metering_point, end_user, dt.date(1970, 1, 1))
    token = client.post(
        "/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds.party.client_id,
            "client_secret": creds.client_secret,
        },
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def values(client: TestClient, headers: dict[str, str], start: str, end: str) -> Any:
    return client.get(
        f"/api/v1/metering-points/{gsrn(1)}/values",
        params={"from": start, "to": end},
        headers=headers,
    )


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("9999-12-30", "9999-12-31", "from"),
        ("0001-01-01T00:00:00+14:00", "0001-01-01T12:00:00+14:00", "from"),
        ("0001-01-01", "0001-01-02", "from"),
        ("9998-12-31", "9999-01-01", "to"),
        ("9999-12-31T00:00:00-23:59", "9999-12-31T12:00:00-23:59", "from"),
        ("1969-12-31T12:00:00+00:00", "1970-01-01T12:00:00+00:00", "from"),
    ],
)
def test_dates_outside_the_accepted_years_are_400_naming_the_field(
    client: TestClient, headers: dict[str, str], start: str, end: str, field: str
) -> None:
    response = values(client, headers, start, end)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "CH2001"
    assert [error["field"] for error in body["errors"]] == [field]
    assert "1970" in body["errors"][0]["rule"]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("9998-12-30", "9998-12-31"),
        ("9998-12-31T00:00:00-23:59", "9998-12-31T23:59:59.999999-23:59"),
        ("1970-01-01", "1970-01-02"),
        ("1970-01-01T00:00:00+14:00", "1970-01-01T12:00:00+14:00"),
        ("1970-01-01T00:00:00+23:59", "1970-01-01T12:00:00+23:59"),
    ],
)
def test_dates_at_the_edges_of_the_accepted_years_are_answered(
    client: TestClient, headers: dict[str, str], start: str, end: str
) -> None:
    response = values(client, headers, start, end)
    assert response.status_code == 200, response.text
    assert response.json()["values"] == []


offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)


@given(
    moment=st.datetimes(min_value=dt.datetime.min, max_value=dt.datetime.max),
    offset=offsets,
    date_only=st.booleans(),
)
@example(moment=dt.datetime(9999, 12, 31), offset=dt.UTC, date_only=True)
@example(moment=dt.datetime(1, 1, 1), offset=dt.timezone(dt.timedelta(hours=14)), date_only=False)
def test_every_accepted_instant_can_be_computed_with(
    moment: dt.datetime, offset: dt.timezone, date_only: bool
) -> None:
    """What ``_values`` does with an accepted instant never overflows."""
    text = moment.date().isoformat() if date_only else moment.replace(tzinfo=offset).isoformat()
    try:
        instant = parse_instant("from", text, OSLO)
    except DomainError:
        return  # a 400; the tests above check its body
    epoch = int(instant.timestamp())
    local_day = instant.astimezone(OSLO).date()
    DateWindow(local_day, local_day + dt.timedelta(days=1))
    to_intervals([DateWindow(dt.date(1970, 1, 1))], OSLO, Interval(epoch, epoch + 3600))
    local_time(epoch, OSLO)
    instant.astimezone(dt.UTC).replace(tzinfo=None).isoformat()
