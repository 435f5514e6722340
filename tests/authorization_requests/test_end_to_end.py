"""DH-831 end to end over real sockets: the seller's request, the mail's link through a
real OIDC login to the request, the customer keeping one accounting point and approving,
the seller's view and its data inside the window only, then the customer ending it and
the seller hearing grant.ended; and DH-851 cancelling."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from consenthub import registry
from consenthub.config import Settings
from consenthub.services import build_services
from consenthub.store.database import Database
from consenthub.store.tables import Grant, OutboxMessage
from consenthub.worker import Worker
from tests.conftest import TEST_SECRET_KEY
from tests.factories import (
    add_end_user,
    add_hourly_values,
    add_metering_point,
    add_party,
    add_supply,
    gsrn,
)
from tests.harness import EventLoopThread, LiveServer, MovableClock
from tests.login_flow import csrf_of, login, register_person
from tests.webhook_receiver import Receiver

HETU = "131052-308T"
OSLO = ZoneInfo("Europe/Oslo")


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()
    with receiver.server() as server:
        yield receiver, f"{server.url}/hook"


def bearer(server: LiveServer, client_id: str, secret: str) -> dict[str, str]:
    token = httpx.post(
        f"{server.url}/sts/Token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_a_seller_asks_the_customer_answers_and_ends_it(
    portal_server: LiveServer,
    db: Database,
    oidc_issuer: str,
    settings: Settings,
    clock: MovableClock,
    receiver: tuple[Receiver, str],
) -> None:
    seller = add_party(db, seed=5, name="Sähkö Oy", roles=("seller",))
    target, url = receiver
    with db.write() as conn:
        endpoint = registry.set_webhook(
            conn, TEST_SECRET_KEY.encode(), seller.party.client_id, url, now=clock()
        )
    assert endpoint.new_secret is not None
    target.secrets.append(endpoint.new_secret)
    customer = add_end_user(db, HETU)
    first, second = add_metering_point(db, 31), add_metering_point(db, 32)
    add_supply(db, first, customer, dt.date(2020, 1, 1))
    add_supply(db, second, customer, dt.date(2020, 1, 1))
    today = dt.datetime.now(OSLO).date()
    valid_from, valid_to = today, today + dt.timedelta(days=2)
    # Yesterday (before the window), today and tomorrow (inside), the day after (outside).
    add_hourly_values(
        db, first, dt.datetime.combine(today - dt.timedelta(days=1), dt.time(), OSLO), 24 * 4
    )
    register_person(oidc_issuer, "maija", pid=HETU, name="Maija Meikäläinen")
    headers = bearer(portal_server, seller.party.client_id, seller.client_secret)

    created = httpx.post(
        f"{portal_server.url}/api/v1/authorization-requests",
        json={
            "customer": HETU,
            "accountingPoints": [gsrn(31), gsrn(32)],
            "validFrom": valid_from.isoformat(),
            "validTo": valid_to.isoformat(),
            "reason": "Sähkösopimus",
            "recipient": {"name": "Maija", "email": "maija@example.fi", "language": "fi"},
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    ack = created.json()
    assert ack["status"] == "accepted"
    assert created.headers["location"] == f"/api/v1/authorization-requests/{ack['id']}"
    with db.read() as conn:
        mail = conn.execute(
            select(OutboxMessage.payload).where(OutboxMessage.channel == "mail")
        ).scalar_one()
    link = mail["context"]["link"]
    assert link.startswith(portal_server.url)

    with httpx.Client() as person:
        landed = login(person, portal_server, "maija", start=link.removeprefix(portal_server.url))
        assert landed.status_code == 303
        page = person.get(link + "?lang=en").text
        assert "Sähkö Oy" in page
        assert "Sähkösopimus" in page
        answered = person.post(
            link,
            data={"csrf_token": csrf_of(page), "action": "approve", "metering_point": gsrn(31)},
            follow_redirects=False,
        )
        assert answered.headers["location"] == "/minside?notice=answered"

    view: dict[str, Any] = httpx.get(
        f"{portal_server.url}/api/v1/authorization-requests/{ack['id']}", headers=headers
    ).json()
    assert view["status"] == "Approved"
    assert view["authorizations"] == [
        {
            "accountingPoint": gsrn(31),
            "validFrom": valid_from.isoformat(),
            "validTo": valid_to.isoformat(),
        }
    ]
    assert view["removedByCustomer"] == [gsrn(32)]
    assert HETU not in str(view)
    values = httpx.get(
        f"{portal_server.url}/api/v1/metering-points/{gsrn(31)}/values",
        params={
            "from": (today - dt.timedelta(days=1)).isoformat(),
            "to": (today + dt.timedelta(days=3)).isoformat(),
        },
        headers=headers,
    ).json()["values"]
    days = {value["start"][:10] for value in values}
    assert days == {valid_from.isoformat(), (valid_from + dt.timedelta(days=1)).isoformat()}

    # The customer ends it on Min side; the seller hears grant.ended.
    with db.read() as conn:
        grant_id = conn.execute(select(Grant.id)).scalar_one()
    with httpx.Client() as person:
        login(person, portal_server, "maija")
        confirm = person.get(f"{portal_server.url}/minside/grants/{grant_id}/end").text
        person.post(
            f"{portal_server.url}/minside/grants/{grant_id}/end",
            data={"csrf_token": csrf_of(confirm)},
        )
    background = EventLoopThread()
    worker = Worker(
        build_services(settings.model_copy(update={"webhook_allow_private": True}), db, clock=clock)
    )
    try:
        background.run(worker.deliver_due())
        background.run(worker.close())
    finally:
        background.close()
    events = [(item.type, item.data.get("reason")) for item in target.accepted()]
    assert ("grant.ended", "end_user") in events


def test_the_seller_cancels_an_open_request_but_not_a_closed_one(
    live_server: LiveServer, db: Database
) -> None:
    seller = add_party(db, seed=5, name="Sähkö Oy", roles=("seller",))
    other = add_party(db, seed=6, name="Toinen Oy", roles=("seller",))
    customer = add_end_user(db, HETU)
    add_supply(db, add_metering_point(db, 31), customer, dt.date(2020, 1, 1))
    headers = bearer(live_server, seller.party.client_id, seller.client_secret)
    created = httpx.post(
        f"{live_server.url}/api/v1/authorization-requests",
        json={
            "customer": HETU,
            "accountingPoints": [gsrn(31)],
            "validFrom": dt.datetime.now(OSLO).date().isoformat(),
        },
        headers=headers,
    ).json()
    cancel = f"{live_server.url}/api/v1/authorization-requests/{created['id']}/cancel"
    foreign = httpx.post(
        cancel, headers=bearer(live_server, other.party.client_id, other.client_secret)
    )
    assert foreign.status_code == 404
    done = httpx.post(cancel, headers=headers)
    assert done.json() == {"status": "accepted", "id": created["id"], "requestStatus": "Cancelled"}
    again = httpx.post(cancel, headers=headers)
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "CH4006"
    third_party = add_party(db, seed=7, name="Tredje AS")
    refused = httpx.post(
        f"{live_server.url}/api/v1/authorization-requests",
        json={},
        headers=bearer(live_server, third_party.party.client_id, third_party.client_secret),
    )
    assert refused.status_code == 403
