"""The parties, persons and requests the fault sections send to a hub: built with the test
factories, and the HTTP calls a third party makes."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from consenthub import registry
from consenthub.consent import service as consent
from consenthub.services import Services
from consenthub.store.database import Database
from consenthub.store.tables import Consent
from tests.conftest import TEST_SECRET_KEY
from tests.consent.parties import CONSUMER_ORGNR, REDIRECT_URL
from tests.factories import add_end_user, add_metering_point, add_party, add_supply, fnr, gsrn

MOVE_IN = dt.date(2022, 8, 1)
TIMEOUT = httpx.Timeout(10.0)
RETURN_URL = "https://app.example.no/callback"


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
    created = add_party(db, seed=seed, return_urls=[return_url or RETURN_URL])
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


def accepted_consent(hub: Services, person: Person) -> tuple[str, str]:
    """A consent request (resource 5252_1 of ``tests.consent.parties``) accepted by
    ``person`` at service level: its consent id and the consumer's authorization code."""
    valid_to = (hub.now() + dt.timedelta(days=30)).astimezone(ZoneInfo("Europe/Oslo"))
    link = consent.resolve_request(
        hub,
        [
            ("Resources", "5252_1"),
            ("CoveredBy", CONSUMER_ORGNR),
            ("RedirectUrl", REDIRECT_URL),
            ("ValidToDate", valid_to.strftime("%Y-%m-%d %H:%M:%S")),
            ("LanguageCode", "nb-NO"),
            ("ResponseType", "code"),
            ("DelegationContext", "NAVN_SELSKAP trenger opplysninger om deg fra NAV."),
            ("5252_1_fraOgMed", "01.01.2026"),
            ("5252_1_tilOgMed", "31.12.2026"),
        ],
    )
    internal_id = consent.create_request(hub, link)
    consent.open_request(hub, internal_id, person.end_user_id)
    answered = consent.answer(hub, internal_id, person.end_user_id, True)
    assert answered.code is not None
    with hub.database.read() as conn:
        consent_id = conn.execute(
            select(Consent.id).where(Consent.access_request_id == internal_id)
        ).scalar_one()
    return str(consent_id), answered.code
