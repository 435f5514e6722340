"""A ``limit`` of the metering-point list is ASCII digits: one that ``str.isdigit`` takes
but ``int`` refuses ("²", or more digits than ``int`` converts) was a 500, and other
scripts' digits ("١٠") were read as a number; each is a 400 naming the field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from consenthub.app import create_app
from consenthub.config import Settings
from consenthub.store.database import Database
from tests.factories import add_party


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db)) as test_client:
        yield test_client


@pytest.mark.parametrize("limit", ["²", "١٠", "9" * 5000])
def test_a_limit_of_other_digits_names_the_field(
    client: TestClient, db: Database, limit: str
) -> None:
    creds = add_party(db)
    token = client.post(
        "/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds.party.client_id,
            "client_secret": creds.client_secret,
        },
    ).json()["access_token"]
    response = client.get(
        "/api/v1/metering-points",
        params={"limit": limit},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["limit"]
