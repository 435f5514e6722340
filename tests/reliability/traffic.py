"""The parties, persons and requests the fault sections send to a hub: built with the test
factories, and the HTTP calls a third party makes."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass, field

import httpx

from consenthub import registry
from consenthub.store.database import Database
from tests.conftest import TEST_SECRET_KEY
from tests.factories import add_end_user, add_metering_point, add_party, add_supply, fnr, gsrn

MOVE_IN = dt.date(2022, 8, 1)
TIMEOUT = httpx.Timeout(10.0)


@dataclass(frozen=True)
class Person:
    end_user_id: int
    national_id: str
    metering_point_id: int
    gsrn: str


def national_id(index: int) -> str:
    """A distinct valid fødselsnummer per index (0 ≤ index < 12 * 28 * 50)."""
    day, rest = index % 28 + 1, index // 28
    return fnr(day, rest % 12 + 1, 40 + rest // 12)


def add_persons(db: Database, count: int, *, first: int = 0) -> list[Person]:
    """``count`` persons, each the end user of one settlement metering point of their own."""
    persons = []
    for index in range(first, first + count):
        number = national_id(index)
        end_user = add_end_user(db, number)
        point = add_metering_point(db, 1000 + index)
        add_supply(db, point, end_user, MOVE_IN)
        persons.append(Person(end_user, number, point, gsrn(1000 + index)))
    return persons


def add_third_party(
    db: Database, *, seed: int = 1, return_url: str | None = None, webhook_url: str | None = None
) -> tuple[registry.NewCredentials, str | None]:
    """A third party; with ``webhook_url`` its endpoint there and the secret it signs with."""
    created = add_party(
        db, seed=seed, return_urls=[return_url or "https://app.example.no/callback"]
    )
    if webhook_url is None:
        return created, None
    with db.write() as conn:
        endpoint = registry.set_webhook(
            conn,
            TEST_SECRET_KEY.encode(),
            created.party.client_id,
            webhook_url,
            now=dt.datetime.now(dt.UTC),
        )
    return created, endpoint.new_secret


@dataclass
class Points:
    """Metering points handed out once each, to the threads that send messages."""

    persons: list[Person]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> Person | None:
        with self.lock:
            return self.persons.pop() if self.persons else None


def token(client: httpx.Client, url: str, party: registry.NewCredentials) -> httpx.Response:
    return client.post(
        f"{url}/sts/Token",
        data={
            "grant_type": "client_credentials",
            "client_id": party.party.client_id,
            "client_secret": party.client_secret,
        },
        timeout=TIMEOUT,
    )


def message(client: httpx.Client, url: str, access_token: str, point: str) -> httpx.Response:
    """A BRS-NO-622 message adding one metering point."""
    return client.post(
        f"{url}/api/v1/third-party-access/updates",
        json={
            "messageId": str(uuid.uuid4()),
            "items": [{"meteringPointId": point, "action": "add"}],
        },
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=TIMEOUT,
    )


def accepted_request_id(response: httpx.Response) -> str | None:
    """The ``requestId`` of the one accepted item of an acknowledgement, if it is one."""
    if response.status_code != 200:
        return None
    [item] = response.json()["items"]
    return str(item["requestId"]) if item["status"] == "accepted" else None


def read(client: httpx.Client, url: str, access_token: str) -> httpx.Response:
    return client.get(
        f"{url}/api/v1/metering-points",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=TIMEOUT,
    )
