"""Use cases of the one access-request lifecycle (SPEC §2): create, bind to the person
who opens it, show it, decide it (approve a subset / reject) in one transaction, cancel,
expire. Every process's requests go through these; each function owns its transaction.

A request past its deadline is expired for every reader at once (``rules.effective_status``),
whether or not ``expire_due`` has recorded it yet, and can never be approved.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from consenthub import grants
from consenthub.access_requests import rules, store
from consenthub.access_requests.store import AccessRequest, NewAccessRequest, Outcome
from consenthub.domain.access import Decision, Process, Status
from consenthub.domain.errors import Code, DomainError
from consenthub.domain.messages import N_
from consenthub.services import Services

# How many expired requests one transaction of ``expire_due`` records.
EXPIRY_BATCH = 500
# In a request's details: what it asks per metering point, by GSRN (``{"start": …,
# "end": "YYYY-MM-DD" | None, "extendedStorage": bool}``; a missing start is the
# person's move-in date).
ITEMS = "items"


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


@dataclass(frozen=True)
class DecisionView:
    """What the decision page shows: the request, the metering points the person may give
    access to, and the access the party already has on them."""

    request: AccessRequest
    offered: list[store.OwnedMeteringPoint]
    existing: dict[str, grants.LiveGrant]


@dataclass(frozen=True)
class Answer:
    """The person's answer, as the decision form sends it."""

    decision: Decision
    chosen: Sequence[str] = ()
    scope: str | None = None
    end_date: str | None = None


@dataclass(frozen=True)
class Decided:
    """The request after the decision (or as another decision left it)."""

    request: AccessRequest
    decided_now: bool


def _actor(end_user_id: int) -> str:
    return f"end_user:{end_user_id}"


def _effective(request: AccessRequest, now: dt.datetime) -> AccessRequest:
    status = rules.effective_status(request.status, request.deadline, now)
    if status is request.status:
        return request
    return dataclasses.replace(request, status=status, outcome=Outcome(error=Code.EH088))


def create(hub: Services, new: NewAccessRequest, *, actor: str) -> AccessRequest | None:
    """A new pending request; None when the party already used this ``request_id`` in the
    process."""
    with hub.database.write() as conn:
        internal_id = store.insert_request(conn, new, now=hub.now(), actor=actor)
        return None if internal_id is None else store.load(conn, internal_id)


def find(hub: Services, party_id: int, process: Process, request_id: str) -> AccessRequest | None:
    """The party's request by its own ``request_id``, with its effective status."""
    with hub.database.read() as conn:
        found = store.find(conn, party_id, process, request_id)
    return None if found is None else _effective(found, hub.now())


def get(hub: Services, internal_id: str) -> AccessRequest | None:
    """A request by its internal id, with its effective status."""
    with hub.database.read() as conn:
        found = store.load(conn, internal_id)
    return None if found is None else _effective(found, hub.now())


def _offered(
    conn: Connection, request: AccessRequest, end_user_id: int, today: dt.date
) -> list[store.OwnedMeteringPoint]:
    requested = store.requested_metering_points(conn, request.id)
    return store.current_metering_points(conn, end_user_id, today, among=requested or None)


def open_for(hub: Services, internal_id: str, end_user_id: int) -> DecisionView:
    """The request as its person opens it: bound to them at first sight (nobody else can
    ever open it), with what they may give and what the party already has."""
    today = hub.today()
    with hub.database.write() as conn:
        found = store.load(conn, internal_id)
        if found is None:
            raise DomainError(Code.REQUEST_NOT_FOUND, N_("There is no such request."))
        if not store.bind_end_user(conn, internal_id, end_user_id):
            raise DomainError(
                Code.REQUEST_NOT_YOURS, N_("The request was opened by another person.")
            )
        request = _effective(dataclasses.replace(found, end_user_id=end_user_id), hub.now())
        if not rules.may_be_decided(request.status):
            return DecisionView(request, [], {})
        offered = _offered(conn, request, end_user_id, today)
        live = grants.live_grants(
            conn,
            party_id=request.party_id,
            end_user_id=end_user_id,
            metering_point_ids=[point.id for point in offered],
            today=today,
        )
    by_id = {point.id: point.gsrn for point in offered}
    existing = {by_id[metering_point_id]: grant for metering_point_id, grant in live.items()}
    return DecisionView(request, offered, existing)


def decide(hub: Services, internal_id: str, end_user_id: int, answer: Answer) -> Decided:
    """The person's answer, in one transaction: lock the request, check it is theirs and
    still open (an expired one is recorded as expired, never approved), then grant or
    refuse. A request another answer already closed comes back as that answer left it.

    Raises ``DomainError(INVALID_FIELDS)`` naming the form field when the answer breaks a
    rule (no metering point chosen, one not offered, a bad end date); nothing changes.
    """
    now = hub.now()
    today = hub.today()
    actor = _actor(end_user_id)
    with hub.database.write() as conn:
        found = _locked(conn, internal_id, end_user_id)
        if (left := _no_longer_open(conn, found, now)) is not None:
            return left
        offered = _offered(conn, found, end_user_id, today)
        if not offered:
            outcome = Outcome(error=Code.EH106)
            store.finish(conn, found, Status.CLOSED, outcome, now=now, actor=actor)
            status = Status.CLOSED
        elif answer.decision is Decision.APPROVE:
            by_gsrn = {point.gsrn: point for point in offered}
            chosen, chosen_error = rules.chosen_metering_points(answer.chosen, by_gsrn)
            end, end_error = rules.chosen_end_date(answer.end_date, today)
            problems = [problem for problem in (chosen_error, end_error) if problem]
            if problems:
                raise DomainError(Code.INVALID_FIELDS, fields=problems)
            scope = rules.lowered_scope(found.scope, answer.scope)
            asked = found.details.get(ITEMS, {})
            contracts = grants.approve(
                conn,
                party_id=found.party_id,
                end_user_id=end_user_id,
                points=[
                    grants.ApprovedPoint(
                        by_gsrn[gsrn].id,
                        gsrn,
                        _date(asked.get(gsrn, {}).get("start")) or by_gsrn[gsrn].move_in,
                        _date(asked.get(gsrn, {}).get("end")),
                        bool(asked.get(gsrn, {}).get("extendedStorage")),
                    )
                    for gsrn in chosen
                ],
                scope=scope,
                end=end,
                access_request_id=found.id,
                today=today,
                actor=actor,
            )
            declined = tuple(point.gsrn for point in offered if point.gsrn not in chosen)
            outcome = Outcome(scope=scope, contracts=tuple(contracts), declined=declined)
            store.finish(conn, found, Status.APPROVED, outcome, now=now, actor=actor)
            status = Status.APPROVED
        else:
            outcome = Outcome(error=Code.EH088)
            store.finish(conn, found, Status.REJECTED, outcome, now=now, actor=actor)
            status = Status.REJECTED
    decided = dataclasses.replace(found, status=status, outcome=outcome, decided_at=now)
    return Decided(decided, decided_now=True)


def settle(
    conn: Connection, internal_id: str, end_user_id: int, decision: Decision, *, now: dt.datetime
) -> Decided:
    """The person's answer to a request of a process that grants no metering point (Altinn
    consent), in the caller's transaction, so that the process records what was given
    with it. Locks the request and checks it as ``decide`` does; a request no longer
    pending comes back as it was left (an expired one recorded as expired)."""
    found = _locked(conn, internal_id, end_user_id)
    if (left := _no_longer_open(conn, found, now)) is not None:
        return left
    if decision is Decision.APPROVE:
        status, outcome = Status.APPROVED, Outcome(scope=found.scope)
    else:
        status, outcome = Status.REJECTED, Outcome(error=Code.EH088)
    store.finish(conn, found, status, outcome, now=now, actor=_actor(end_user_id))
    decided = dataclasses.replace(found, status=status, outcome=outcome, decided_at=now)
    return Decided(decided, decided_now=True)


def turn_back(hub: Services, internal_id: str, code: Code, *, actor: str) -> Decided:
    """The person went back to the third party without answering (after a failed login),
    and the party was told ``code``: the request ends with that outcome
    (``rules.turned_back_status``), in one transaction that locks it and records its audit
    event and its webhook event, so that no later answer can contradict what the party
    heard. A request no longer pending comes back as it was left (an expired one recorded
    as expired)."""
    status = rules.turned_back_status(code)
    if status is None:
        raise ValueError(f"{code.value} does not end a request")
    now = hub.now()
    outcome = Outcome(error=code)
    with hub.database.write() as conn:
        found = _locked(conn, internal_id, None)
        if (left := _no_longer_open(conn, found, now)) is not None:
            return left
        store.finish(conn, found, status, outcome, now=now, actor=actor)
    turned_back = dataclasses.replace(found, status=status, outcome=outcome, decided_at=now)
    return Decided(turned_back, decided_now=True)


def _locked(conn: Connection, internal_id: str, end_user_id: int | None) -> AccessRequest:
    """The request, locked for its answer; it must be ``end_user_id``'s unless None (the
    browser that turns back has nobody logged in)."""
    found = store.load(conn, internal_id, lock=True)
    if found is None:
        raise DomainError(Code.REQUEST_NOT_FOUND, N_("There is no such request."))
    if end_user_id is not None and found.end_user_id != end_user_id:
        raise DomainError(Code.REQUEST_NOT_YOURS, N_("The request was opened by another person."))
    return found


def _no_longer_open(conn: Connection, found: AccessRequest, now: dt.datetime) -> Decided | None:
    """A request that can no longer be answered, as it was left (an expired one recorded
    as expired, never approved); None while it is open."""
    if rules.effective_status(found.status, found.deadline, now) is Status.EXPIRED:
        if found.status is Status.PENDING:
            _expire(conn, found, now)
        return Decided(_effective(found, now), decided_now=False)
    if not rules.may_be_decided(found.status):
        return Decided(found, decided_now=False)
    return None


def _expire(conn: Connection, request: AccessRequest, now: dt.datetime) -> None:
    store.finish(conn, request, Status.EXPIRED, Outcome(error=Code.EH088), now=now, actor="hub")


def expire_due(hub: Services) -> int:
    """Record as expired every pending request past its deadline; returns how many. Safe
    with several workers at once (rows locked, skipped by the others on PostgreSQL)."""
    now = hub.now()
    expired = 0
    while True:
        with hub.database.write() as conn:
            due = store.pending_past_deadline(conn, now, EXPIRY_BATCH)
            for request in due:
                _expire(conn, request, now)
        expired += len(due)
        if len(due) < EXPIRY_BATCH:
            return expired


def cancel(hub: Services, internal_id: str, party_id: int, *, actor: str) -> AccessRequest:
    """The party withdraws its own open request (DH-851). Another party's request is not
    found; a closed one (answered, expired, cancelled) cannot be cancelled."""
    now = hub.now()
    with hub.database.write() as conn:
        found = store.load(conn, internal_id, lock=True)
        if found is None or found.party_id != party_id:
            raise DomainError(Code.REQUEST_NOT_FOUND)
        status = rules.effective_status(found.status, found.deadline, now)
        if status is Status.EXPIRED and found.status is Status.PENDING:
            _expire(conn, found, now)
        elif rules.may_be_decided(status):
            store.finish(conn, found, Status.CANCELLED, None, now=now, actor=actor)
            status = Status.CANCELLED
            return dataclasses.replace(found, status=status, decided_at=now)
    # Raised after the transaction, so that a just recorded expiry is kept.
    raise DomainError(Code.REQUEST_CLOSED, f"the request is {status.value}")


def of_party(
    hub: Services,
    party_id: int,
    processes: Sequence[Process],
    *,
    status: Status | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> tuple[list[AccessRequest], tuple[dt.datetime, str] | None]:
    """A page of the party's requests of these processes with their effective status,
    oldest first, and the cursor of the next page (None on the last)."""
    now = hub.now()
    with hub.database.read() as conn:
        found = store.of_party(
            conn, party_id, processes, status=status, now=now, after=after, limit=limit + 1
        )
    page = [_effective(request, now) for request in found[:limit]]
    more = len(found) > limit
    return page, (page[-1].created_at, page[-1].id) if more and page else None


def of_end_user(hub: Services, end_user_id: int) -> list[AccessRequest]:
    """The person's requests with their effective status, newest first."""
    with hub.database.read() as conn:
        found = store.of_end_user(conn, end_user_id)
    now = hub.now()
    return [_effective(request, now) for request in found]


def listing(
    hub: Services, *, status: Status | None, process: Process | None, limit: int
) -> list[AccessRequest]:
    """Every party's requests with their effective status, newest first."""
    now = hub.now()
    with hub.database.read() as conn:
        found = store.listing(conn, status=status, process=process, now=now, limit=limit)
    return [_effective(request, now) for request in found]
