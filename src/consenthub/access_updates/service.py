"""Use cases of message-initiated access updates (seed 001, Elhub BRS-NO-622).

A message is judged and carried out in one transaction, set-based: the facts of all its
metering points (with the party's pending requests on them) in one statement, one INSERT
each for the requests its adds open (one per end user), their items and audit events,
one UPDATE for its removals, one for its updates. Two messages racing for a metering point: the
unique pending key lets one commit; the other is judged again and answers ``EH098``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from consenthub import access_requests, grants
from consenthub.access_requests import AccessRequest, NewAccessRequest
from consenthub.access_updates import rules, store
from consenthub.access_updates.rules import Action, ItemAsked, PointFacts
from consenthub.access_updates.schemas import Item, Message
from consenthub.domain.access import EndReason, Process, Scope, Status
from consenthub.domain.errors import Code, DomainError, ItemResult
from consenthub.services import Services

_UNREGISTERED = PointFacts(
    registered=False,
    settlement_point=False,
    end_user_id=None,
    move_in=None,
    contract=None,
    pending=False,
)
# Scope of a contract BRS-NO-622 asks for; the end user may lower it on the page.
REQUESTED_SCOPE = Scope.FULL


def receive(hub: Services, party_id: int, message: Message) -> list[ItemResult]:
    """The acknowledgement of a message: one result per item, in the order sent. A
    ``messageId`` seen before from this party gets its first acknowledgement again and
    changes nothing."""
    if message.message_id is not None:
        with hub.database.read() as conn:
            earlier = store.acknowledgement(conn, party_id, message.message_id)
        if earlier is not None:
            return earlier
    try:
        return _carry_out(hub, party_id, message)
    except IntegrityError:
        # Another message took a metering point (or this messageId) first: judged again,
        # that item is now EH098, or the first acknowledgement is returned.
        if message.message_id is not None:
            with hub.database.read() as conn:
                earlier = store.acknowledgement(conn, party_id, message.message_id)
            if earlier is not None:
                return earlier
        return _carry_out(hub, party_id, message)


def _asked(item: Item) -> ItemAsked:
    return ItemAsked(item.action, item.start, item.end, item.extended_storage)


def _carry_out(hub: Services, party_id: int, message: Message) -> list[ItemResult]:
    now, today = hub.now(), hub.today()
    actor = f"party:{party_id}"
    with hub.database.write() as conn:
        facts = store.point_facts(
            conn, party_id, [item.metering_point_id for item in message.items], today
        )
        codes: list[Code | None] = []
        adds: dict[int, list[tuple[int, Item]]] = defaultdict(list)
        removals: list[int] = []
        changes: list[grants.ContractDates] = []
        for item in message.items:
            metering_point_id, point = facts.get(item.metering_point_id, (0, _UNREGISTERED))
            code = rules.judge(_asked(item), point)
            codes.append(code)
            if code is not None:
                continue
            if item.action is Action.ADD:
                assert point.end_user_id is not None
                adds[point.end_user_id].append((metering_point_id, item))
            elif item.action is Action.REMOVE:
                assert point.contract is not None
                removals.append(point.contract.grant_id)
            else:
                assert point.contract is not None
                changes.append(
                    grants.ContractDates(
                        point.contract.grant_id,
                        item.start or point.contract.valid_from,
                        item.end if item.end is not None else point.contract.valid_to,
                    )
                )
        request_ids = _open_requests(conn, party_id, adds, now, actor)
        grants.end_grants(conn, removals, today, reason=EndReason.PARTY_REMOVED, actor=actor)
        grants.change_dates(conn, changes, actor=actor)
        results = [
            ItemResult(item.metering_point_id, reference=request_ids.get(item.metering_point_id))
            if code is None
            else ItemResult(item.metering_point_id, DomainError(code))
            for item, code in zip(message.items, codes, strict=True)
        ]
        if message.message_id is not None:
            store.save_message(conn, party_id, message.message_id, results, now)
    return results


def _open_requests(
    conn: Connection,
    party_id: int,
    adds: dict[int, list[tuple[int, Item]]],
    now: dt.datetime,
    actor: str,
) -> dict[str, str]:
    """One pending request per end user for their metering points (seed 001: the end user
    approves in the portal, within 30 calendar days); the request_id by GSRN."""
    # Items asking the same share one dict of terms: a message of 10,000 adds would
    # otherwise build 10,000 of them, each one more object for the garbage collector.
    terms: dict[tuple[dt.date | None, bool], dict[str, Any]] = {}

    def terms_of(item: Item) -> dict[str, Any]:
        key = (item.end, bool(item.extended_storage))
        found = terms.get(key)
        if found is None:
            found = terms[key] = {
                "end": item.end.isoformat() if item.end else None,
                "extendedStorage": key[1],
            }
        return found

    news = [
        NewAccessRequest(
            process=Process.MESSAGE,
            party_id=party_id,
            request_id=str(uuid.uuid4()),
            scope=REQUESTED_SCOPE,
            deadline=now + rules.APPROVAL_DEADLINE,
            details={
                access_requests.ITEMS: {item.metering_point_id: terms_of(item) for _, item in items}
            },
            metering_point_ids=tuple(metering_point_id for metering_point_id, _ in items),
            end_user_id=end_user_id,
        )
        for end_user_id, items in adds.items()
    ]
    access_requests.open_requests(conn, news, now=now, actor=actor)
    return {gsrn: new.request_id for new in news for gsrn in new.details[access_requests.ITEMS]}


def requests(
    hub: Services,
    party_id: int,
    *,
    status: Status | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> tuple[list[AccessRequest], tuple[dt.datetime, str] | None]:
    """The party's third-party access requests of both processes (BRS-NO-622 and
    BRS-NO-624) with their outcomes, oldest first."""
    return access_requests.of_party(
        hub,
        party_id,
        [Process.MESSAGE, Process.URL],
        status=status,
        after=after,
        limit=limit,
    )
