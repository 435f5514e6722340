"""DH-831 / DH-851 at service level: the database, a movable clock, no server."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from consenthub import access_requests
from consenthub.access_requests import Answer
from consenthub.authorization_requests import service
from consenthub.authorization_requests.errors import RequestRejected
from consenthub.authorization_requests.schemas import parse_request
from consenthub.config import Settings
from consenthub.domain.access import Decision, Status
from consenthub.domain.errors import Code, DomainError
from consenthub.services import Services, build_services
from consenthub.store.database import Database
from consenthub.store.tables import AccessRequest, Grant, OutboxMessage
from tests.factories import add_end_user, add_metering_point, add_party, add_supply, gsrn
from tests.harness import MovableClock

HETU = "131052-308T"
OTHER = "010101-123N"
HELSINKI = "Europe/Helsinki"


@dataclass(frozen=True)
class World:
    seller: service.Seller
    other_seller: service.Seller
    customer: int
    points: tuple[int, int]


@pytest.fixture
def hub(settings: Settings, db: Database, clock: MovableClock) -> Services:
    return build_services(settings.model_copy(update={"hub_timezone": HELSINKI}), db, clock=clock)


@pytest.fixture
def world(db: Database) -> World:
    seller = add_party(db, seed=1, name="Sähkö Oy", roles=("seller",))
    other = add_party(db, seed=2, name="Toinen Oy", roles=("seller",))
    customer, neighbour = add_end_user(db, HETU), add_end_user(db, OTHER)
    first, second, theirs = (add_metering_point(db, seed) for seed in (21, 22, 23))
    add_supply(db, first, customer, dt.date(2020, 1, 1))
    add_supply(db, second, customer, dt.date(2021, 6, 1))
    add_supply(db, theirs, neighbour, dt.date(2020, 1, 1))
    return World(
        service.Seller(seller.party.id, "Sähkö Oy"),
        service.Seller(other.party.id, "Toinen Oy"),
        customer,
        (first, second),
    )


def asked(hub: Services, **fields: Any) -> bytes:
    body: dict[str, Any] = {
        "customer": HETU,
        "accountingPoints": [gsrn(21), gsrn(22)],
        "validFrom": hub.today().isoformat(),
    }
    body.update(fields)
    return orjson.dumps(body)


def create(hub: Services, world: World, **fields: Any) -> access_requests.AccessRequest:
    return service.create(
        hub, world.seller, parse_request(asked(hub, **fields), allow_synthetic_ids=False)
    )


def rejected(hub: Services, world: World, **fields: Any) -> list[tuple[str, str]]:
    with pytest.raises(RequestRejected) as raised:
        create(hub, world, **fields)
    return [(problem.code.value, problem.field) for problem in raised.value.problems]


def outbox(db: Database) -> list[tuple[str, dt.datetime, dt.datetime | None]]:
    with db.read() as conn:
        rows = conn.execute(
            select(OutboxMessage.event_type, OutboxMessage.due_at, OutboxMessage.voided_at)
            .where(OutboxMessage.channel == "mail")
            .order_by(OutboxMessage.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_an_accepted_request_is_open_for_its_customer_with_its_mails(
    hub: Services, db: Database, world: World
) -> None:
    reminder = hub.now() + dt.timedelta(days=3)
    created = create(
        hub,
        world,
        validTo=(hub.today() + dt.timedelta(days=365)).isoformat(),
        reason="Sähkösopimus",
        recipient={"name": "Maija", "email": "maija@example.fi", "language": "fi"},
        reminderAt=reminder.isoformat(),
    )
    assert created.status is Status.PENDING
    assert service.STATUS_NAMES[created.status] == "Open"
    assert created.end_user_id == world.customer
    view = access_requests.open_for(hub, created.id, world.customer)
    assert [point.gsrn for point in view.offered] == [gsrn(21), gsrn(22)]
    mails = outbox(db)
    assert [event for event, _, _ in mails] == [service.NOTICE, service.REMINDER]
    assert mails[1][1] == reminder
    with db.read() as conn:
        payload = conn.execute(select(OutboxMessage.payload)).scalars().first()
    assert payload is not None
    assert payload["to"] == "maija@example.fi"
    assert payload["context"]["link"].endswith(f"/minside/requests/{created.id}")
    assert HETU not in orjson.dumps(payload).decode()


def test_no_mail_without_a_recipient(hub: Services, db: Database, world: World) -> None:
    create(hub, world)
    assert outbox(db) == []


def test_a_rejected_request_names_every_rule_and_stores_nothing(
    hub: Services, db: Database, world: World
) -> None:
    problems = rejected(
        hub,
        world,
        accountingPoints=[gsrn(21), gsrn(23), gsrn(99)],
        validFrom=(hub.today() - dt.timedelta(days=1)).isoformat(),
        validTo=(hub.today() - dt.timedelta(days=1)).isoformat(),
        reminderAt=(hub.now() + dt.timedelta(days=1)).isoformat(),
        requestEndDate=(hub.today() + dt.timedelta(days=120)).isoformat(),
    )
    assert problems == [
        ("CH4201", "validFrom"),
        ("CH4203", "validTo"),
        ("CH4205", "requestEndDate"),
        ("CH4204", "reminderAt"),
        ("CH4202", "accountingPoints[1]"),
        ("CH4202", "accountingPoints[2]"),
    ]
    with db.read() as conn:
        assert conn.execute(select(AccessRequest.id)).first() is None
    assert outbox(db) == []


def test_another_customers_point_is_refused_without_saying_whose(
    hub: Services, world: World
) -> None:
    with pytest.raises(RequestRejected) as raised:
        create(hub, world, accountingPoints=[gsrn(23)])
    assert [(p.code, p.field) for p in raised.value.problems] == [
        (Code.ACCOUNTING_POINT_NOT_CUSTOMERS, "accountingPoints[0]")
    ]
    assert OTHER not in str(raised.value.fields)


def test_malformed_fields_are_all_named(hub: Services) -> None:
    body = orjson.dumps(
        {
            "customer": "131052-308X",
            "accountingPoints": ["123"],
            "validFrom": "1.1.2027",
            "recipient": {"name": "", "email": "not-an-address"},
            "extra": 1,
        }
    )
    with pytest.raises(RequestRejected) as raised:
        parse_request(body, allow_synthetic_ids=False)
    assert {problem.field for problem in raised.value.problems} == {
        "extra",
        "customer",
        "accountingPoints[0]",
        "validFrom",
        "recipient.name",
        "recipient.email",
    }


@pytest.mark.parametrize(
    ("local_now", "valid_from", "accepted"),
    [
        # 23:59 on 28 March in Helsinki is still 28 March: today is allowed, yesterday not.
        ("2026-03-28T23:59:00+02:00", "2026-03-28", True),
        ("2026-03-29T00:01:00+02:00", "2026-03-28", False),
        # Across the DST change (29 March, 03:00 → 04:00) the 90 days are calendar days.
        ("2026-03-29T04:30:00+03:00", "2026-06-27", True),
        ("2026-03-29T04:30:00+03:00", "2026-06-28", False),
    ],
)
def test_the_90_days_are_judged_in_the_hubs_time_zone(
    hub: Services,
    world: World,
    clock: MovableClock,
    local_now: str,
    valid_from: str,
    accepted: bool,
) -> None:
    clock.offset = dt.datetime.fromisoformat(local_now) - dt.datetime.now(dt.UTC)
    if accepted:
        assert create(hub, world, validFrom=valid_from).status is Status.PENDING
    else:
        assert ("CH4201", "validFrom") in rejected(hub, world, validFrom=valid_from)


def test_approval_grants_the_requested_period_on_the_points_kept(
    hub: Services, db: Database, world: World
) -> None:
    start = hub.today() + dt.timedelta(days=10)
    end = start + dt.timedelta(days=365)
    created = create(
        hub,
        world,
        validFrom=start.isoformat(),
        validTo=end.isoformat(),
        recipient={"name": "Maija", "email": "maija@example.fi"},
        reminderAt=(hub.now() + dt.timedelta(days=2)).isoformat(),
    )
    access_requests.open_for(hub, created.id, world.customer)
    decided = access_requests.decide(
        hub, created.id, world.customer, Answer(Decision.APPROVE, chosen=[gsrn(22)])
    )
    assert decided.request.status is Status.APPROVED
    with db.read() as conn:
        rows = conn.execute(select(Grant.metering_point_id, Grant.valid_from, Grant.valid_to)).all()
    assert [tuple(row) for row in rows] == [(world.points[1], start, end)]
    view = service.get(hub, world.seller.party_id, created.request_id)
    assert view.outcome is not None
    assert view.outcome.declined == (gsrn(21),)
    # The reminder of a request no longer open is never sent.
    assert [voided is not None for event, _, voided in outbox(db) if event == service.REMINDER] == [
        True
    ]


def test_only_the_creator_cancels_an_open_request_and_its_reminder_goes(
    hub: Services, db: Database, world: World
) -> None:
    created = create(
        hub,
        world,
        recipient={"name": "Maija", "email": "maija@example.fi"},
        reminderAt=(hub.now() + dt.timedelta(days=2)).isoformat(),
    )
    with pytest.raises(DomainError) as raised:
        service.cancel(hub, world.other_seller.party_id, created.request_id)
    assert raised.value.code is Code.REQUEST_NOT_FOUND
    cancelled = service.cancel(hub, world.seller.party_id, created.request_id)
    assert service.STATUS_NAMES[cancelled.status] == "Cancelled"
    # Neither the notice (not sent yet) nor the reminder goes out any more.
    assert [voided is not None for _, _, voided in outbox(db)] == [True, True]
    with pytest.raises(DomainError) as raised:
        service.cancel(hub, world.seller.party_id, created.request_id)
    assert raised.value.code is Code.REQUEST_CLOSED


def test_one_open_request_per_seller_and_accounting_point(hub: Services, world: World) -> None:
    create(hub, world, accountingPoints=[gsrn(21)])
    assert rejected(hub, world) == [("CH4206", "accountingPoints[0]")]
    # Another seller may ask for it meanwhile.
    other = service.create(
        hub, world.other_seller, parse_request(asked(hub), allow_synthetic_ids=False)
    )
    assert other.status is Status.PENDING


def test_the_listing_filters_by_status(hub: Services, world: World) -> None:
    open_one = create(hub, world, accountingPoints=[gsrn(21)])
    cancelled = create(hub, world, accountingPoints=[gsrn(22)])
    service.cancel(hub, world.seller.party_id, cancelled.request_id)
    page, _ = service.listing(
        hub, world.seller.party_id, status=Status.PENDING, after=None, limit=10
    )
    assert [request.request_id for request in page] == [open_one.request_id]
    page, _ = service.listing(hub, world.other_seller.party_id, status=None, after=None, limit=10)
    assert page == []


@pytest.mark.parametrize(
    "text",
    ["Customer 131052-308T moves in", "fnr 01017000027 per phone", "hetu 010594Y9032."],
)
@pytest.mark.parametrize("field", ["reason", "description"])
def test_free_text_with_a_national_id_is_refused_before_it_reaches_a_mail(
    field: str, text: str
) -> None:
    body = orjson.dumps(
        {"customer": HETU, "accountingPoints": [gsrn(21)], "validFrom": "2027-01-01", field: text}
    )
    with pytest.raises(RequestRejected) as raised:
        parse_request(body, allow_synthetic_ids=False)
    problems = [(problem.field, problem.rule) for problem in raised.value.problems]
    assert (field, "must not contain a national identity number") in problems
    assert "308T" not in str(problems)
    assert "00027" not in str(problems)


def test_free_text_with_other_numbers_is_kept() -> None:
    text = "Order 12345678901234, GSRN 707057500000000017, phone 4791234567"
    body = orjson.dumps(
        {"customer": HETU, "accountingPoints": [gsrn(21)], "validFrom": "2027-01-01"}
        | {"reason": text}
    )
    assert parse_request(body, allow_synthetic_ids=False).reason == text
