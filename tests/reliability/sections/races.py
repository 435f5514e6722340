"""Concurrent identical requests and conflicting answers, as concurrent service calls on
separate connections (on SQLite each thread group on a ``Database`` of its own, so that the
race is decided by SQLite's lock and not by the in-process writer lock).

- 50 openings of one BRS-NO-624 ``request_id``: one request.
- 50 approvals of one request: one decision, its grant, audit event and outbox events once.
- 50 BRS-NO-622 messages adding one metering point: one accepted, the rest ``EH098``.
- 50 exchanges of one consent authorization code: one token; the replays revoke the
  consent once.
- approve vs cancel (DH-851), approve vs expire (the deadline passed for the expiring
  worker's clock), withdraw vs code exchange: one consistent outcome each — the request's
  status, its audit trail, its grants and its outbox events agree.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from consenthub import access_requests
from consenthub.access_requests import Answer, NewAccessRequest
from consenthub.access_updates import service as access_updates
from consenthub.access_updates.rules import Action
from consenthub.access_updates.schemas import Item, Message
from consenthub.authorization_requests import service as authorization_requests
from consenthub.config import Settings
from consenthub.consent import service as consent
from consenthub.domain.access import Decision, Process, Scope, Status
from consenthub.domain.errors import DomainError
from consenthub.services import Services, build_services
from consenthub.store.database import Database
from consenthub.store.tables import AccessRequest, AuditEvent, Consent, Grant, OutboxMessage
from consenthub.url_access import service as url_access
from tests.conftest import TEST_SECRET_KEY
from tests.consent.parties import add_consumer, add_nav
from tests.factories import gln
from tests.harness import MovableClock
from tests.reliability import traffic
from tests.reliability.processes import prepared

TITLE = "races"
SAME = 50
SQLITE_DATABASES = 5
TERMINAL = ("approved", "rejected", "expired", "cancelled", "closed")


class Race:
    """The hubs the racing threads use, and the tally."""

    def __init__(self, backend: str, database_url: str, workdir: Path) -> None:
        self.settings = Settings(
            database_url=database_url,
            secret_key=TEST_SECRET_KEY,
            secret_key_file=workdir / "unused.key",
            environment="test",
            base_url="http://127.0.0.1:8000",
            allow_synthetic_ids=True,
        )
        self.database = prepared(database_url)
        count = SQLITE_DATABASES if backend == "sqlite" else 1
        self.databases = [self.database] + [Database(database_url) for _ in range(count - 1)]
        self.clock = MovableClock()
        self.later = MovableClock()
        self.later.advance(days=2)
        self.hubs = [build_services(self.settings, db, clock=self.clock) for db in self.databases]
        self.late_hubs = [
            build_services(self.settings, db, clock=self.later) for db in self.databases
        ]
        self.scenarios = 0
        self.attempts = 0
        self.inconsistent = 0
        self.problems: list[str] = []

    @property
    def hub(self) -> Services:
        return self.hubs[0]

    def at_once(
        self, calls: Sequence[Callable[[Services], Any]], *, late: Sequence[bool] = ()
    ) -> list[Any]:
        """Every call at the same moment, each on a hub of its own turn; the result or the
        ``DomainError`` it raised."""
        barrier = threading.Barrier(len(calls))

        def one(index: int) -> Any:
            hubs = self.late_hubs if index < len(late) and late[index] else self.hubs
            barrier.wait(timeout=30)
            try:
                return calls[index](hubs[index % len(hubs)])
            except DomainError as exc:
                return exc

        self.attempts += len(calls)
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            return list(pool.map(one, range(len(calls))))

    def check(self, scenario: str, problems: list[str]) -> None:
        self.inconsistent += bool(problems)
        self.problems += [f"{scenario}: {problem}" for problem in problems]

    def close(self) -> None:
        for database in self.databases:
            database.dispose()


def _count(race: Race, query: Any) -> int:
    with race.database.read() as conn:
        return int(conn.execute(query).scalar_one())


def _events(race: Race, internal_id: str) -> list[str]:
    with race.database.read() as conn:
        return list(
            conn.execute(
                select(AuditEvent.action)
                .where(AuditEvent.subject == f"access_request:{internal_id}")
                .order_by(AuditEvent.id)
            ).scalars()
        )


def _outbox(race: Race, event_type: str, key: str, value: str) -> int:
    with race.database.read() as conn:
        payloads = conn.execute(
            select(OutboxMessage.payload).where(OutboxMessage.event_type == event_type)
        ).scalars()
        return sum(1 for payload in payloads if payload["data"].get(key) == value)


def _decision_agrees(race: Race, internal_id: str, party_id: int) -> list[str]:
    """One terminal status, recorded once in the audit trail and the outbox, and grants
    exactly when it is an approval."""
    with race.database.read() as conn:
        status = conn.execute(
            select(AccessRequest.status).where(AccessRequest.id == internal_id)
        ).scalar_one()
        grants = conn.execute(
            select(func.count()).select_from(Grant).where(Grant.access_request_id == internal_id)
        ).scalar_one()
    terminal = [
        action for action in _events(race, internal_id) if action.split(".")[-1] in TERMINAL
    ]
    told = _outbox(race, f"access_request.{status}", "id", internal_id)
    problems = []
    if terminal != [f"access_request.{status}"]:
        problems.append(f"status {status} but audit events {terminal}")
    if told != 1:
        problems.append(f"status {status} told {told} times")
    if (status == "approved") != (grants > 0):
        problems.append(f"status {status} with {grants} grants")
    return problems


def _new_request(
    race: Race, party_id: int, person: traffic.Person, process: Process, hours: float = 24
) -> str:
    created = access_requests.create(
        race.hub,
        NewAccessRequest(
            process=process,
            party_id=party_id,
            request_id=str(uuid.uuid4()),
            scope=Scope.FULL,
            deadline=race.clock() + dt.timedelta(hours=hours),
            details={"redirect_uri": "https://app.example.no/callback"},
            metering_point_ids=(person.metering_point_id,),
            end_user_id=person.end_user_id,
        ),
        actor=f"party:{party_id}",
    )
    assert created is not None
    access_requests.open_for(race.hub, created.id, person.end_user_id)
    return created.id


def _approve(person: traffic.Person, internal_id: str) -> Callable[[Services], Any]:
    return lambda hub: access_requests.decide(
        hub, internal_id, person.end_user_id, Answer(Decision.APPROVE, chosen=[person.gsrn])
    )


def _same_request_id(race: Race, party: Any) -> None:
    link = url_access.Link(
        party.party, gln(1), str(uuid.uuid4()), Scope.FULL, "https://app.example.no/callback"
    )
    race.at_once([lambda hub: url_access.open_link(hub, link, None)] * SAME)
    rows = _count(
        race,
        select(func.count())
        .select_from(AccessRequest)
        .where(AccessRequest.request_id == link.request_id),
    )
    race.check("one request_id opened 50 times", [] if rows == 1 else [f"{rows} requests"])


def _same_approval(race: Race, party: Any, person: traffic.Person) -> None:
    internal_id = _new_request(race, party.party.id, person, Process.URL)
    results = race.at_once([_approve(person, internal_id)] * SAME)
    decided = sum(1 for r in results if isinstance(r, access_requests.Decided) and r.decided_now)
    problems = [] if decided == 1 else [f"{decided} approvals accepted"]
    problems += _decision_agrees(race, internal_id, party.party.id)
    if _outbox(race, "grant.started", "meteringPointId", person.gsrn) != 1:
        problems.append("grant.started not told once")
    race.check("one request approved 50 times", problems)


def _same_point(race: Race, party: Any, person: traffic.Person) -> None:
    def send(hub: Services) -> Any:
        item = Item(person.gsrn, Action.ADD, None, None, None)
        return access_updates.receive(hub, party.party.id, Message(str(uuid.uuid4()), [item]))

    results = race.at_once([send] * SAME)
    accepted = sum(1 for [r] in results if not isinstance(r, DomainError) and r.accepted)
    refused = sorted({r.error.code.value for [r] in results if r.error is not None})
    pending = _count(
        race,
        select(func.count())
        .select_from(AccessRequest)
        .where(
            AccessRequest.party_id == party.party.id,
            AccessRequest.process == Process.MESSAGE.value,
            AccessRequest.status == Status.PENDING.value,
        ),
    )
    problems = [] if accepted == 1 and refused == ["EH098"] else [f"{accepted} accepted, {refused}"]
    if pending != 1:
        problems.append(f"{pending} pending requests")
    race.check("one metering point in 50 messages", problems)


def _consent_state(race: Race, consent_id: str) -> Any:
    with race.database.read() as conn:
        return conn.execute(select(Consent).where(Consent.id == consent_id)).one()


def _same_code(race: Race, consumer: Any, person: traffic.Person) -> None:
    consent_id, code = traffic.accepted_consent(race.hub, person)
    results = race.at_once(
        [lambda hub: asyncio.run(consent.exchange_code(hub, consumer.party, {"code": code}))] * SAME
    )
    tokens = sum(1 for r in results if isinstance(r, dict))
    state = _consent_state(race, consent_id)
    problems = [] if tokens == 1 else [f"{tokens} tokens"]
    if state.code_used_at is None or state.revoked_at is None:
        problems.append("the code is not recorded used, or the replayed consent not revoked")
    if (told := _outbox(race, "consent.revoked", "consentId", consent_id)) != 1:
        problems.append(f"consent.revoked told {told} times")
    race.check("one consent code exchanged 50 times", problems)


def _approve_or_cancel(race: Race, party: Any, person: traffic.Person) -> None:
    internal_id = _new_request(race, party.party.id, person, Process.AUTHORIZATION_REQUEST)
    request_id = access_requests.get(race.hub, internal_id)
    assert request_id is not None
    approved, cancelled = race.at_once(
        [
            _approve(person, internal_id),
            lambda hub: authorization_requests.cancel(hub, party.party.id, request_id.request_id),
        ]
    )
    won = [
        isinstance(approved, access_requests.Decided) and approved.decided_now,
        not isinstance(cancelled, DomainError),
    ]
    problems = [] if sum(won) == 1 else [f"approve and cancel both {'won' if all(won) else 'lost'}"]
    problems += _decision_agrees(race, internal_id, party.party.id)
    race.check("approve vs cancel", problems)


def _approve_or_expire(race: Race, party: Any, person: traffic.Person) -> None:
    internal_id = _new_request(race, party.party.id, person, Process.URL)
    approved, _ = race.at_once(
        [_approve(person, internal_id), access_requests.expire_due], late=[False, True]
    )
    problems = [] if isinstance(approved, access_requests.Decided) else [f"approve: {approved!r}"]
    problems += _decision_agrees(race, internal_id, party.party.id)
    race.check("approve vs expire", problems)


def _withdraw_or_exchange(race: Race, consumer: Any, person: traffic.Person) -> None:
    consent_id, code = traffic.accepted_consent(race.hub, person)
    withdrawn, exchanged = race.at_once(
        [
            lambda hub: consent.withdraw(hub, consent_id, person.end_user_id),
            lambda hub: asyncio.run(consent.exchange_code(hub, consumer.party, {"code": code})),
        ]
    )
    state = _consent_state(race, consent_id)
    problems = []
    if isinstance(withdrawn, DomainError) or state.withdrawn_at is None:
        problems.append(f"the withdrawal did not hold: {withdrawn!r}")
    if isinstance(exchanged, dict) != (state.code_used_at is not None):
        problems.append(
            f"exchange {type(exchanged).__name__} but code_used_at {state.code_used_at}"
        )
    if (told := _outbox(race, "consent.revoked", "consentId", consent_id)) != 1:
        problems.append(f"consent.revoked told {told} times")
    race.check("withdraw vs token exchange", problems)


def run(backend: str, database_url: str, quick: bool) -> tuple[list[tuple[str, int]], list[str]]:
    pairs = 5 if quick else 25
    with tempfile.TemporaryDirectory() as workdir:
        race = Race(backend, database_url, Path(workdir))
        try:
            party, _ = traffic.add_third_party(race.database, webhook_url="http://127.0.0.1:9/hook")
            add_nav(race.database)
            consumer = add_consumer(race.database, webhook_url="http://127.0.0.1:9/hook")
            persons = traffic.add_persons(race.database, 4 + 3 * pairs)
            scenarios: list[Callable[[], None]] = [
                lambda: _same_request_id(race, party),
                lambda: _same_approval(race, party, persons[0]),
                lambda: _same_point(race, party, persons[1]),
                lambda: _same_code(race, consumer, persons[2]),
            ]
            for scenario in scenarios:
                scenario()
            for index in range(pairs):
                first = persons[4 + 3 * index :]
                _approve_or_cancel(race, party, first[0])
                _approve_or_expire(race, party, first[1])
                _withdraw_or_exchange(race, consumer, first[2])
            race.scenarios = len(scenarios) + 3 * pairs
        finally:
            race.close()
    return [
        ("scenarios", race.scenarios),
        ("attempts", race.attempts),
        ("inconsistent", race.inconsistent),
    ], race.problems
