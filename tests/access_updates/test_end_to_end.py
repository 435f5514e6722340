"""BRS-NO-622 end to end over real sockets: the party's message, the person's answer in
Min side after a real OIDC login, the acknowledgement, the request listing, the
webhooks, and the data the approved contract opens."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from consenthub import registry
from consenthub.config import Settings
from consenthub.services import build_services
from consenthub.store.database import Database
from consenthub.worker import Worker
from tests.conftest import TEST_SECRET_KEY
from tests.factories import (
    add_end_user,
    add_hourly_values,
    add_metering_point,
    add_party,
    add_supply,
    fnr,
    gsrn,
)
from tests.harness import EventLoopThread, LiveServer, MovableClock, bearer
from tests.login_flow import csrf_of, login, register_person
from tests.webhook_receiver import Receiver

OSLO = ZoneInfo("Europe/Oslo")
MOVE_IN = dt.date(2022, 8, 1)


def test_a_message_answered_in_min_side_reaches_the_party_everywhere(
    portal_server: LiveServer,
    db: Database,
    oidc_issuer: str,
    settings: Settings,
    clock: MovableClock,
    receiver: tuple[Receiver, str],
) -> None:
    party = add_party(db, seed=1)
    target, url = receiver
    with db.write() as conn:
        endpoint = registry.set_webhook(
            conn, TEST_SECRET_KEY.encode(), party.party.client_id, url, now=clock()
        )
    assert endpoint.new_secret is not None
    target.secrets.append(endpoint.new_secret)
    kari, earlier = add_end_user(db, fnr(5, 5, 80)), add_end_user(db, fnr(7, 7, 77))
    first, second = add_metering_point(db, 11), add_metering_point(db, 12)
    add_supply(db, first, earlier, dt.date(2020, 1, 1), MOVE_IN)
    add_supply(db, first, kari, MOVE_IN)
    add_supply(db, second, kari, dt.date(2023, 2, 1))
    # The day before Kari moved in (the earlier resident's) and her first day.
    add_hourly_values(db, first, dt.datetime(2022, 7, 31, tzinfo=OSLO), 48)
    register_person(oidc_issuer, "kari", pid=fnr(5, 5, 80), name="Kari Nordmann")
    headers = bearer(portal_server, party.party.client_id, party.client_secret)

    sent = httpx.post(
        f"{portal_server.url}/api/v1/third-party-access/updates",
        json={
            "messageId": "6f3b2a9e-1c4d-4e5f-8a7b-9c0d1e2f3a4b",
            "items": [
                {"meteringPointId": gsrn(11), "action": "add", "extendedStorage": True},
                {"meteringPointId": gsrn(12), "action": "add"},
            ],
        },
        headers=headers,
    )
    assert sent.status_code == 200, sent.text
    acknowledgement = sent.json()
    assert acknowledgement["documentType"] == "37 Acknowledgement"
    assert [(item["meteringPointId"], item["status"]) for item in acknowledgement["items"]] == [
        (gsrn(11), "accepted"),
        (gsrn(12), "accepted"),
    ]
    request_id = acknowledgement["items"][0]["requestId"]
    assert acknowledgement["items"][1]["requestId"] == request_id

    with httpx.Client() as person:
        login(person, portal_server, "kari")
        minside = person.get(f"{portal_server.url}/minside?lang=en").text
        [page_path] = re.findall(r'href="(/minside/requests/[0-9a-f-]+)"', minside)
        page = person.get(f"{portal_server.url}{page_path}?lang=en").text
        assert gsrn(11) in page
        assert gsrn(12) in page
        assert "10 years instead of 3" in page.split(gsrn(11))[-1].split(gsrn(12))[0]
        answered = person.post(
            f"{portal_server.url}{page_path}",
            data={"csrf_token": csrf_of(page), "action": "approve", "metering_point": gsrn(11)},
            follow_redirects=False,
        )
        assert answered.status_code == 303
        assert answered.headers["location"] == "/minside?notice=answered"
        # The extended storage the party asked for is shown with the access it has.
        active = person.get(f"{portal_server.url}/minside?lang=en").text.split('id="active"')[1]
        assert "Meter values kept 10 years" in active.split('id="history"')[0]

    listing = httpx.get(
        f"{portal_server.url}/api/v1/third-party-access/requests", headers=headers
    ).json()
    [listed] = listing["requests"]
    assert "next" not in listing
    assert listed["requestId"] == request_id
    assert listed["process"] == "BRS-NO-622"
    assert listed["status"] == "approved"
    assert listed["contracts"] == [
        {"meteringPointId": gsrn(11), "start": MOVE_IN.isoformat(), "end": None}
    ]
    assert listed["declined"] == [gsrn(12)]

    worker_settings = settings.model_copy(update={"webhook_allow_private": True})
    background = EventLoopThread()
    worker = Worker(build_services(worker_settings, db, clock=clock))
    try:
        background.run(worker.deliver_due())
        background.run(worker.close())
    finally:
        background.close()
    received = [(item.type, item.data) for item in target.accepted()]
    assert [kind for kind, _ in received] == ["grant.started", "access_request.approved"]
    assert received[0][1]["meteringPointId"] == gsrn(11)
    assert received[1][1]["requestId"] == request_id
    assert all(item.verified for item in target.received)

    values: dict[str, Any] = httpx.get(
        f"{portal_server.url}/api/v1/metering-points/{gsrn(11)}/values",
        params={"from": "2022-07-31", "to": "2022-08-02"},
        headers=headers,
    ).json()
    assert len(values["values"]) == 24
    assert values["values"][0]["start"].startswith("2022-08-01T00:00:00")
    unapproved = httpx.get(
        f"{portal_server.url}/api/v1/metering-points/{gsrn(12)}", headers=headers
    )
    assert unapproved.status_code == 404
