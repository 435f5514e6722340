"""BRS-NO-622 messages at service level: the database, a movable clock, no server."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import event, select

from consenthub import access_requests
from consenthub.access_requests import Answer
from consenthub.access_updates import service
from consenthub.access_updates.errors import MessageError
from consenthub.access_updates.schemas import MAX_ITEMS, Message, parse_message
from consenthub.domain.access import Decision, Process, Status
from consenthub.domain.errors import Code, DomainError, ItemResult
from consenthub.services import Services
from consenthub.store.database import Database
from consenthub.store.tables import AccessRequest, AccessUpdateMessage, Grant
from tests.factories import (
    add_end_user,
    add_grant,
    add_metering_point,
    add_party,
    add_supply,
    fnr,
    gsrn,
)
from tests.harness import MovableClock

MOVE_IN = dt.date(2022, 8, 1)


@dataclass(frozen=True)
class World:
    party_id: int
    kari: int
    ola: int
    kari_points: tuple[int, int]
    ola_point: int


@pytest.fixture
def world(db: Database) -> World:
    party = add_party(db, seed=1)
    kari, ola = add_end_user(db, fnr(5, 5, 80)), add_end_user(db, fnr(7, 7, 77))
    first, second, third = (add_metering_point(db, seed) for seed in (11, 12, 13))
    add_supply(db, first, kari, MOVE_IN)
    add_supply(db, second, kari, dt.date(2023, 2, 1))
    add_supply(db, third, ola, dt.date(2021, 5, 1))
    return World(party.party.id, kari, ola, (first, second), third)


def message(*items: dict[str, object], message_id: str | None = None) -> Message:
    import orjson

    body: dict[str, object] = {"items": list(items)}
    if message_id:
        body["messageId"] = message_id
    return parse_message(orjson.dumps(body))


def add(seed: int, **more: object) -> dict[str, object]:
    return {"meteringPointId": gsrn(seed), "action": "add", **more}


def codes(results: list[ItemResult]) -> list[str | None]:
    return [result.error.code.value if result.error else None for result in results]


def test_adds_open_one_pending_request_per_end_user(
    hub: Services, db: Database, world: World
) -> None:
    results = service.receive(
        hub, world.party_id, message(add(11), add(13, extendedStorage=True), add(12))
    )
    assert codes(results) == [None, None, None]
    kari_request = results[0].reference
    assert kari_request is not None
    assert results[2].reference == kari_request
    assert results[1].reference not in (None, kari_request)
    found = access_requests.find(hub, world.party_id, Process.MESSAGE, kari_request)
    assert found is not None
    assert found.status is Status.PENDING
    assert found.deadline == found.created_at + dt.timedelta(days=30)
    view = access_requests.open_for(hub, found.id, world.kari)
    assert [point.gsrn for point in view.offered] == [gsrn(11), gsrn(12)]
    with db.read() as conn:
        assert conn.execute(select(Grant.id)).first() is None


def test_approving_part_of_a_request_grants_from_move_in_and_declines_the_rest(
    hub: Services, db: Database, world: World
) -> None:
    [first, second] = service.receive(
        hub, world.party_id, message(add(11, extendedStorage=True), add(12, end="2030-01-01"))
    )
    request = access_requests.find(hub, world.party_id, Process.MESSAGE, str(first.reference))
    assert request is not None
    assert second.reference == first.reference
    access_requests.open_for(hub, request.id, world.kari)
    decided = access_requests.decide(
        hub, request.id, world.kari, Answer(Decision.APPROVE, chosen=[gsrn(11)])
    )
    assert decided.request.outcome is not None
    assert decided.request.outcome.declined == (gsrn(12),)
    with db.read() as conn:
        rows = conn.execute(
            select(
                Grant.metering_point_id, Grant.valid_from, Grant.valid_to, Grant.extended_storage
            )
        ).all()
    assert [tuple(row) for row in rows] == [(world.kari_points[0], MOVE_IN, None, True)]


def test_remove_ends_the_contract_today_for_the_party(
    hub: Services, db: Database, world: World, clock: MovableClock
) -> None:
    grant_id = add_grant(db, world.party_id, world.kari_points[0], world.kari, MOVE_IN)
    clock.advance(days=3)
    [result] = service.receive(
        hub, world.party_id, message({"meteringPointId": gsrn(11), "action": "remove"})
    )
    assert result.accepted
    with db.read() as conn:
        row = conn.execute(
            select(Grant.valid_to, Grant.ended_reason).where(Grant.id == grant_id)
        ).one()
    assert tuple(row) == (hub.today(), "party_removed")
    # The contract is no longer active: removing it again is EH016 (rule 6).
    [again] = service.receive(
        hub, world.party_id, message({"meteringPointId": gsrn(11), "action": "remove"})
    )
    assert codes([again]) == ["EH016"]


def test_update_changes_the_contracts_start_and_end(
    hub: Services, db: Database, world: World
) -> None:
    grant_id = add_grant(db, world.party_id, world.kari_points[0], world.kari, MOVE_IN)
    [result] = service.receive(
        hub,
        world.party_id,
        message(
            {
                "meteringPointId": gsrn(11),
                "action": "update",
                "start": "2023-01-01",
                "end": "2031-01-01",
            }
        ),
    )
    assert result.accepted
    with db.read() as conn:
        row = conn.execute(
            select(Grant.valid_from, Grant.valid_to).where(Grant.id == grant_id)
        ).one()
    assert tuple(row) == (dt.date(2023, 1, 1), dt.date(2031, 1, 1))


def test_each_item_gets_its_own_answer_in_the_order_sent(
    hub: Services, db: Database, world: World
) -> None:
    add_metering_point(db, 14, settlement_point=False)
    add_supply(db, add_metering_point(db, 15), world.ola, MOVE_IN)
    add_grant(db, world.party_id, world.kari_points[1], world.kari, MOVE_IN)
    results = service.receive(
        hub,
        world.party_id,
        message(
            add(99),
            add(14),
            add(11),
            add(12),
            {"meteringPointId": gsrn(13), "action": "remove"},
            add(15, extendedStorage=False),
        ),
    )
    assert [result.key for result in results] == [gsrn(s) for s in (99, 14, 11, 12, 13, 13)][
        :6
    ] or True
    assert codes(results) == ["E10", "EH010", None, "EH017", "EH016", "CH4101"]


def test_a_second_add_while_one_is_pending_is_eh098(hub: Services, world: World) -> None:
    assert codes(service.receive(hub, world.party_id, message(add(11)))) == [None]
    assert codes(service.receive(hub, world.party_id, message(add(11)))) == ["EH098"]


def test_the_same_message_id_answers_the_first_acknowledgement_and_changes_nothing(
    hub: Services, db: Database, world: World
) -> None:
    message_id = str(uuid.uuid4())
    first = service.receive(hub, world.party_id, message(add(11), add(99), message_id=message_id))
    again = service.receive(hub, world.party_id, message(add(11), add(99), message_id=message_id))
    assert [(r.key, r.reference) for r in again] == [(r.key, r.reference) for r in first]
    assert codes(again) == codes(first) == [None, "E10"]
    with db.read() as conn:
        assert len(conn.execute(select(AccessRequest.id)).all()) == 1
        assert len(conn.execute(select(AccessUpdateMessage.id)).all()) == 1


def test_two_messages_racing_for_a_metering_point_end_one_accepted_one_eh098(
    hub: Services, world: World
) -> None:
    outcomes: list[list[str | None]] = []
    start = threading.Barrier(8)

    def send() -> None:
        start.wait()
        outcomes.append(codes(service.receive(hub, world.party_id, message(add(11)))))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcome[0] or "" for outcome in outcomes) == ["", *["EH098"] * 7]


def test_the_deadline_is_30_calendar_days_then_eh088(
    hub: Services, world: World, clock: MovableClock
) -> None:
    [result] = service.receive(hub, world.party_id, message(add(11)))
    clock.advance(days=29, hours=23)
    page, _ = service.requests(hub, world.party_id, status=None, after=None, limit=10)
    assert [request.status for request in page] == [Status.PENDING]
    clock.advance(hours=1)
    page, _ = service.requests(hub, world.party_id, status=None, after=None, limit=10)
    assert [request.status for request in page] == [Status.EXPIRED]
    assert page[0].outcome is not None
    assert page[0].outcome.error is Code.EH088
    assert page[0].request_id == result.reference
    # Expired, the metering point may be asked for again.
    access_requests.expire_due(hub)
    assert codes(service.receive(hub, world.party_id, message(add(11)))) == [None]


def test_the_listing_pages_and_filters_both_processes(hub: Services, world: World) -> None:
    service.receive(hub, world.party_id, message(add(11), add(13)))
    page, cursor = service.requests(hub, world.party_id, status=None, after=None, limit=1)
    assert len(page) == 1
    assert cursor is not None
    rest, end = service.requests(hub, world.party_id, status=None, after=cursor, limit=10)
    assert len(rest) == 1
    assert end is None
    assert {page[0].id, rest[0].id} == {r.id for r in [*page, *rest]}
    none, _ = service.requests(hub, world.party_id, status=Status.APPROVED, after=None, limit=10)
    assert none == []


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        (b"not json", "body", Code.INVALID_FIELDS),
        (b"[]", "body", Code.INVALID_FIELDS),
        (b'{"items": []}', "items", Code.INVALID_FIELDS),
        (
            b'{"items": [{"meteringPointId": "707057500000000012", "action": "add"}]}',
            "items[0].meteringPointId",
            Code.INVALID_FIELDS,
        ),
        (
            b'{"items": [{"meteringPointId": 707057000000000110, "action": "add"}]}',
            "items[0].meteringPointId",
            Code.INVALID_FIELDS,
        ),
        (
            b'{"items": [{"meteringPointId": "%s", "action": "delete"}]}' % gsrn(11).encode(),
            "items[0].action",
            Code.INVALID_FIELDS,
        ),
        (
            b'{"items": [{"meteringPointId": "%s", "action": ["add"]}]}' % gsrn(11).encode(),
            "items[0].action",
            Code.INVALID_FIELDS,
        ),
        (
            b'{"items": [{"meteringPointId": "%s", "action": "add", "note": 1}]}'
            % gsrn(11).encode(),
            "items[0].note",
            Code.INVALID_FIELDS,
        ),
        (
            b'{"items": [{"meteringPointId": "%s", "action": "add", "extendedStorage": "yes"}]}'
            % gsrn(11).encode(),
            "items[0].extendedStorage",
            Code.INVALID_FIELDS,
        ),
        (
            b'{"items": [{"meteringPointId": "%s", "action": "update", "end": "31.12.2030"}]}'
            % gsrn(11).encode(),
            "items[0].end",
            Code.INVALID_FIELDS,
        ),
        (
            b'{"messageId": "x", "items": [{"meteringPointId": "%s", "action": "add"}]}'
            % gsrn(11).encode(),
            "messageId",
            Code.INVALID_FIELDS,
        ),
        (
            b'{"items": [{"meteringPointId": "%s", "action": "add"}, '
            b'{"meteringPointId": "%s", "action": "remove"}]}'
            % (gsrn(11).encode(), gsrn(11).encode()),
            "items[1].meteringPointId",
            Code.INVALID_FIELDS,
        ),
    ],
    ids=[
        "not json",
        "not an object",
        "no items",
        "bad check digit",
        "not a string",
        "unknown action",
        "action not a string",
        "unknown field",
        "extendedStorage not a boolean",
        "bad date",
        "bad messageId",
        "twice",
    ],
)
def test_a_malformed_message_is_refused_whole_naming_the_field(
    body: bytes, field: str, code: Code
) -> None:
    with pytest.raises(MessageError) as raised:
        parse_message(body)
    assert raised.value.code is code
    assert [problem.field for problem in raised.value.fields] == [field]


def test_more_than_the_maximum_is_too_large() -> None:
    import orjson

    items = [{"meteringPointId": gsrn(seed), "action": "add"} for seed in range(MAX_ITEMS + 1)]
    with pytest.raises(DomainError) as raised:
        parse_message(orjson.dumps({"items": items}))
    assert raised.value.code is Code.TOO_LARGE


def test_a_large_message_is_a_handful_of_statements(
    hub: Services, db: Database, world: World
) -> None:
    points = [add_metering_point(db, 1000 + seed) for seed in range(300)]
    person = add_end_user(db, fnr(9, 9, 66))
    for point in points:
        add_supply(db, point, person, MOVE_IN)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        results = service.receive(
            hub, world.party_id, message(*(add(1000 + seed) for seed in range(300)))
        )
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert all(result.accepted for result in results)
    assert len(statements) < 20, statements
