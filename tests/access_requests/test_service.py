"""The one access-request lifecycle, at service level: the database, the services as a
server or worker builds them, a clock the tests move; no server and no login."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from consenthub import access_requests
from consenthub.access_requests import AccessRequest, Answer, NewAccessRequest, Outcome
from consenthub.domain.access import Decision, Process, Scope, Status
from consenthub.domain.errors import Code, DomainError
from consenthub.services import Services
from consenthub.store import audit
from consenthub.store.database import Database
from consenthub.store.tables import AuditEvent, Grant
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
DEADLINE = dt.timedelta(days=30)


@dataclass(frozen=True)
class World:
    party_id: int
    other_party_id: int
    kari: int
    ola: int
    kari_points: tuple[int, int]


@pytest.fixture
def world(db: Database) -> World:
    party = add_party(db, seed=1)
    other = add_party(db, seed=2, name="Annen AS")
    kari, ola = add_end_user(db, fnr(5, 5, 80)), add_end_user(db, fnr(7, 7, 77))
    first, second = add_metering_point(db, 11), add_metering_point(db, 12)
    add_supply(db, first, kari, MOVE_IN)
    add_supply(db, second, kari, dt.date(2023, 2, 1))
    return World(party.party.id, other.party.id, kari, ola, (first, second))


def create(
    hub: Services,
    party_id: int,
    *,
    scope: Scope = Scope.FULL,
    deadline: dt.timedelta | None = DEADLINE,
    process: Process = Process.URL,
    request_id: str | None = None,
    metering_point_ids: tuple[int, ...] = (),
) -> AccessRequest:
    created = access_requests.create(
        hub,
        NewAccessRequest(
            process=process,
            party_id=party_id,
            request_id=request_id or str(uuid.uuid4()),
            scope=scope,
            deadline=hub.now() + deadline if deadline else None,
            metering_point_ids=metering_point_ids,
        ),
        actor=f"party:{party_id}",
    )
    assert created is not None
    return created


def approve(*gsrns: str, scope: str | None = None, end: str = "") -> Answer:
    return Answer(Decision.APPROVE, chosen=gsrns, scope=scope, end_date=end)


def grants_of(db: Database) -> list[tuple[int, str, dt.date, dt.date | None]]:
    with db.read() as conn:
        rows = conn.execute(
            select(Grant.metering_point_id, Grant.scope, Grant.valid_from, Grant.valid_to).order_by(
                Grant.metering_point_id
            )
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def audit_actions(db: Database) -> list[str]:
    with db.read() as conn:
        assert audit.verify(conn).ok
        return list(conn.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


def test_a_request_id_is_used_once_per_party_and_process(hub: Services, world: World) -> None:
    request_id = str(uuid.uuid4())
    create(hub, world.party_id, request_id=request_id)
    again = NewAccessRequest(Process.URL, world.party_id, request_id, Scope.FULL, None)
    assert access_requests.create(hub, again, actor="party") is None
    # Another party, or another process of the same party, has its own request_ids.
    create(hub, world.other_party_id, request_id=request_id)
    create(hub, world.party_id, request_id=request_id, process=Process.MESSAGE)


def test_the_first_person_to_open_a_request_owns_it(hub: Services, world: World) -> None:
    request = create(hub, world.party_id)
    view = access_requests.open_for(hub, request.id, world.kari)
    assert view.request.end_user_id == world.kari
    assert [point.gsrn for point in view.offered] == [gsrn(11), gsrn(12)]
    with pytest.raises(DomainError) as raised:
        access_requests.open_for(hub, request.id, world.ola)
    assert raised.value.code is Code.REQUEST_NOT_YOURS
    with pytest.raises(DomainError) as raised:
        access_requests.decide(hub, request.id, world.ola, approve(gsrn(11)))
    assert raised.value.code is Code.REQUEST_NOT_YOURS
    with pytest.raises(DomainError) as raised:
        access_requests.open_for(hub, str(uuid.uuid4()), world.kari)
    assert raised.value.code is Code.REQUEST_NOT_FOUND


def test_a_request_for_named_metering_points_offers_only_those(hub: Services, world: World) -> None:
    request = create(hub, world.party_id, metering_point_ids=(world.kari_points[1],))
    view = access_requests.open_for(hub, request.id, world.kari)
    assert [point.gsrn for point in view.offered] == [gsrn(12)]


def test_the_page_shows_access_the_party_already_has(
    hub: Services, db: Database, world: World
) -> None:
    add_grant(db, world.party_id, world.kari_points[0], world.kari, MOVE_IN)
    add_grant(db, world.other_party_id, world.kari_points[1], world.kari, MOVE_IN)
    view = access_requests.open_for(hub, create(hub, world.party_id).id, world.kari)
    assert set(view.existing) == {gsrn(11)}
    assert view.existing[gsrn(11)].valid_to is None


def test_approving_a_subset_grants_from_each_move_in_date(
    hub: Services, db: Database, world: World
) -> None:
    request = create(hub, world.party_id)
    access_requests.open_for(hub, request.id, world.kari)
    decided = access_requests.decide(
        hub, request.id, world.kari, approve(gsrn(12), scope="Limited", end="2030-01-01")
    )
    assert decided.decided_now
    assert decided.request.status is Status.APPROVED
    outcome = decided.request.outcome
    assert outcome is not None
    assert outcome.scope is Scope.LIMITED
    assert [(c.metering_point_id, c.start, c.end) for c in outcome.contracts] == [
        (gsrn(12), dt.date(2023, 2, 1), dt.date(2030, 1, 1))
    ]
    assert grants_of(db) == [
        (world.kari_points[1], "Limited", dt.date(2023, 2, 1), dt.date(2030, 1, 1))
    ]
    assert audit_actions(db)[-2:] == ["grant.created", "access_request.approved"]
    assert access_requests.find(hub, world.party_id, Process.URL, request.request_id) == (
        decided.request
    )


def test_approving_again_never_shortens_an_open_ended_grant(
    hub: Services, db: Database, world: World
) -> None:
    add_grant(db, world.party_id, world.kari_points[0], world.kari, MOVE_IN)
    request = create(hub, world.party_id)
    access_requests.open_for(hub, request.id, world.kari)
    decided = access_requests.decide(
        hub, request.id, world.kari, approve(gsrn(11), gsrn(12), end="2030-01-01")
    )
    assert decided.request.outcome is not None
    assert [c.end for c in decided.request.outcome.contracts] == [None, dt.date(2030, 1, 1)]
    assert grants_of(db) == [
        (world.kari_points[0], "Full", MOVE_IN, None),
        (world.kari_points[1], "Full", dt.date(2023, 2, 1), dt.date(2030, 1, 1)),
    ]


def test_rejecting_is_eh088_and_grants_nothing(hub: Services, db: Database, world: World) -> None:
    request = create(hub, world.party_id)
    access_requests.open_for(hub, request.id, world.kari)
    decided = access_requests.decide(hub, request.id, world.kari, Answer(Decision.REJECT))
    assert decided.request.status is Status.REJECTED
    assert decided.request.outcome is not None
    assert decided.request.outcome.error is Code.EH088
    assert grants_of(db) == []
    assert audit_actions(db)[-1] == "access_request.rejected"


def test_nothing_to_give_is_recorded_as_closed_not_as_a_rejection(
    hub: Services, db: Database, world: World
) -> None:
    request = create(hub, world.party_id)
    access_requests.open_for(hub, request.id, world.ola)
    decided = access_requests.decide(hub, request.id, world.ola, Answer(Decision.REJECT))
    assert decided.request.status is Status.CLOSED
    assert decided.request.outcome is not None
    assert decided.request.outcome.error is Code.EH106
    assert audit_actions(db)[-1] == "access_request.closed"
    assert "access_request.rejected" not in audit_actions(db)


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        (approve(), "metering_point"),
        (approve(gsrn(13)), "metering_point"),
        (approve(gsrn(11), end="2001-01-01"), "end_date"),
        (approve(gsrn(11), end="tomorrow"), "end_date"),
    ],
    ids=["none chosen", "not offered", "end in the past", "end not a date"],
)
def test_a_broken_answer_names_the_field_and_changes_nothing(
    hub: Services, db: Database, world: World, answer: Answer, field: str
) -> None:
    add_metering_point(db, 13)
    request = create(hub, world.party_id)
    access_requests.open_for(hub, request.id, world.kari)
    events_before = audit_actions(db)
    with pytest.raises(DomainError) as raised:
        access_requests.decide(hub, request.id, world.kari, answer)
    assert raised.value.code is Code.INVALID_FIELDS
    assert [problem.field for problem in raised.value.fields] == [field]
    assert grants_of(db) == []
    assert audit_actions(db) == events_before
    found = access_requests.find(hub, world.party_id, Process.URL, request.request_id)
    assert found is not None
    assert found.status is Status.PENDING


def test_a_second_answer_gets_the_first_outcome(hub: Services, db: Database, world: World) -> None:
    request = create(hub, world.party_id)
    access_requests.open_for(hub, request.id, world.kari)
    first = access_requests.decide(hub, request.id, world.kari, approve(gsrn(11)))
    second = access_requests.decide(hub, request.id, world.kari, Answer(Decision.REJECT))
    assert not second.decided_now
    assert second.request.status is Status.APPROVED
    assert second.request.outcome == first.request.outcome
    assert len(grants_of(db)) == 1


@pytest.mark.parametrize(
    ("code", "status"), [(Code.EH088, Status.REJECTED), (Code.EH111, Status.CLOSED)]
)
def test_a_request_turned_back_ends_with_the_code_the_party_was_sent(
    hub: Services, db: Database, world: World, code: Code, status: Status
) -> None:
    request = create(hub, world.party_id)
    turned = access_requests.turn_back(hub, request.id, code, actor="browser")
    assert turned.decided_now
    assert (turned.request.status, turned.request.outcome) == (status, Outcome(error=code))
    found = access_requests.find(hub, world.party_id, Process.URL, request.request_id)
    assert found is not None
    assert (found.status, found.outcome) == (status, Outcome(error=code))
    assert audit_actions(db)[-1] == f"access_request.{status.value}"
    # No answer after it: the person's approval comes back as the request was left.
    access_requests.open_for(hub, request.id, world.kari)
    decided = access_requests.decide(hub, request.id, world.kari, approve(gsrn(11)))
    assert not decided.decided_now
    assert decided.request.outcome == Outcome(error=code)
    assert grants_of(db) == []


def test_turning_back_an_answered_or_expired_request_changes_nothing(
    hub: Services, db: Database, world: World, clock: MovableClock
) -> None:
    answered = create(hub, world.party_id)
    access_requests.open_for(hub, answered.id, world.kari)
    first = access_requests.decide(hub, answered.id, world.kari, approve(gsrn(11)))
    turned = access_requests.turn_back(hub, answered.id, Code.EH088, actor="browser")
    assert not turned.decided_now
    assert turned.request.outcome == first.request.outcome
    overdue = create(hub, world.party_id, deadline=dt.timedelta(hours=1))
    clock.advance(hours=1)
    turned = access_requests.turn_back(hub, overdue.id, Code.EH111, actor="browser")
    assert not turned.decided_now
    assert turned.request.status is Status.EXPIRED
    assert audit_actions(db)[-1] == "access_request.expired"
    with pytest.raises(ValueError, match="EH106"):
        access_requests.turn_back(hub, create(hub, world.party_id).id, Code.EH106, actor="x")


def test_a_request_past_its_deadline_is_expired_for_every_reader_and_never_approved(
    hub: Services, db: Database, world: World, clock: MovableClock
) -> None:
    request = create(hub, world.party_id, deadline=dt.timedelta(hours=24))
    access_requests.open_for(hub, request.id, world.kari)
    clock.advance(hours=23, minutes=59)
    assert access_requests.open_for(hub, request.id, world.kari).request.status is Status.PENDING
    clock.advance(minutes=1)
    # Expired at once for every reader, before anything recorded it.
    found = access_requests.find(hub, world.party_id, Process.URL, request.request_id)
    assert found is not None
    assert found.status is Status.EXPIRED
    assert found.outcome is not None
    assert found.outcome.error is Code.EH088
    assert access_requests.of_end_user(hub, world.kari)[0].status is Status.EXPIRED
    view = access_requests.open_for(hub, request.id, world.kari)
    assert view.request.status is Status.EXPIRED
    assert view.offered == []
    decided = access_requests.decide(hub, request.id, world.kari, approve(gsrn(11)))
    assert not decided.decided_now
    assert decided.request.status is Status.EXPIRED
    assert grants_of(db) == []
    # The attempt recorded the expiry; nothing is left for the worker.
    assert audit_actions(db)[-1] == "access_request.expired"
    assert access_requests.expire_due(hub) == 0


def test_expire_due_records_every_overdue_request_once(
    hub: Services, db: Database, world: World, clock: MovableClock
) -> None:
    overdue = [create(hub, world.party_id, deadline=dt.timedelta(days=1)) for _ in range(3)]
    later = create(hub, world.party_id, deadline=dt.timedelta(days=5))
    no_deadline = create(hub, world.party_id, deadline=None)
    clock.advance(days=2)
    assert access_requests.expire_due(hub) == 3
    assert access_requests.expire_due(hub) == 0
    statuses = {
        request.request_id: access_requests.find(
            hub, world.party_id, Process.URL, request.request_id
        )
        for request in [*overdue, later, no_deadline]
    }
    assert [statuses[r.request_id].status for r in overdue] == [Status.EXPIRED] * 3  # type: ignore[union-attr]
    assert statuses[later.request_id].status is Status.PENDING  # type: ignore[union-attr]
    assert statuses[no_deadline.request_id].status is Status.PENDING  # type: ignore[union-attr]
    assert audit_actions(db).count("access_request.expired") == 3


def test_only_the_creator_cancels_and_only_an_open_request(
    hub: Services, world: World, clock: MovableClock
) -> None:
    request = create(hub, world.party_id)
    with pytest.raises(DomainError) as raised:
        access_requests.cancel(hub, request.id, world.other_party_id, actor="party")
    assert raised.value.code is Code.REQUEST_NOT_FOUND
    cancelled = access_requests.cancel(hub, request.id, world.party_id, actor="party")
    assert cancelled.status is Status.CANCELLED
    with pytest.raises(DomainError) as raised:
        access_requests.cancel(hub, request.id, world.party_id, actor="party")
    assert raised.value.code is Code.REQUEST_CLOSED
    # A cancelled request can no longer be opened for a decision.
    assert access_requests.open_for(hub, request.id, world.kari).request.status is (
        Status.CANCELLED
    )
    overdue = create(hub, world.party_id, deadline=dt.timedelta(hours=1))
    clock.advance(hours=2)
    with pytest.raises(DomainError) as raised:
        access_requests.cancel(hub, overdue.id, world.party_id, actor="party")
    assert raised.value.code is Code.REQUEST_CLOSED
    found = access_requests.find(hub, world.party_id, Process.URL, overdue.request_id)
    assert found is not None
    assert found.status is Status.EXPIRED
