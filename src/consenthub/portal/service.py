"""Use cases of Min side: what the person sees of their own requests, grants and reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from consenthub import access_requests, registry
from consenthub.access_requests import AccessRequest
from consenthub.domain.access import Status
from consenthub.domain.errors import DomainError
from consenthub.grants import EndUserGrant, end_user_grants, is_live
from consenthub.portal import store
from consenthub.portal.store import LogFilter, LogLine
from consenthub.registry import PartyRecord
from consenthub.services import Services
from consenthub.store import sessions

# The overview shows the latest reads; the access log page shows them all, a page at a time.
OVERVIEW_LOG_LINES = 10
Value = TypeVar("Value")
LOG_PAGE_SIZE = 25


@dataclass(frozen=True)
class Overview:
    pending: list[AccessRequest]
    active: list[EndUserGrant]
    ended: list[EndUserGrant]
    decided: list[AccessRequest]
    access_log: list[LogLine]
    # Reads in all: more than ``access_log`` shows when the person has many.
    access_log_total: int
    # Who each party is (name, GLN, organisation number, privacy policy), by id.
    parties: Mapping[int, PartyRecord]


def overview(hub: Services, end_user_id: int) -> Overview:
    """The person's pending requests (an expired one is history, never pending), who has
    access, what ended, and who read their data lately."""
    requests = access_requests.of_end_user(hub, end_user_id)
    today = hub.today()
    with hub.database.read() as conn:
        grants = end_user_grants(conn, end_user_id)
        log = store.access_log(conn, end_user_id, OVERVIEW_LOG_LINES)
        total = store.access_log_count(conn, end_user_id, LogFilter())
        parties = registry.parties_by_id(
            conn,
            [
                *(request.party_id for request in requests),
                *(grant.party_id for grant in grants),
            ],
        )
    return Overview(
        pending=[request for request in requests if request.status is Status.PENDING],
        active=[grant for grant in grants if is_live(grant.valid_to, grant.revoked, today)],
        ended=[grant for grant in grants if not is_live(grant.valid_to, grant.revoked, today)],
        decided=[request for request in requests if request.status is not Status.PENDING],
        access_log=log,
        access_log_total=total,
        parties=parties,
    )


@dataclass(frozen=True)
class AccessLogPage:
    lines: list[LogLine]
    page: int
    pages: int
    total: int
    only: LogFilter
    # What the filter offers: the parties (id, name) and metering points in the log.
    parties: list[tuple[int, str]]
    gsrns: list[str]


def _page_number(text: str | None) -> int:
    if not text:
        return 1
    if not text.isdigit() or not 1 <= int(text) <= 1_000_000:
        raise DomainError.invalid("page", "must be a page number from 1")
    return int(text)


def access_log_page(
    hub: Services, end_user_id: int, *, page: str | None, party: str | None, gsrn: str | None
) -> AccessLogPage:
    """One page of the person's reads, newest first, of one third party or metering point
    when asked; a filter value not in the person's own log is a ``CH2001`` naming it."""
    number = _page_number(page)
    with hub.database.read() as conn:
        parties, gsrns = store.access_log_choices(conn, end_user_id)
        only = LogFilter(
            party_id=_choice("party", party, {str(id_): id_ for id_, _ in parties}),
            gsrn=_choice("metering_point", gsrn, {point: point for point in gsrns}),
        )
        total = store.access_log_count(conn, end_user_id, only)
        pages = max(1, -(-total // LOG_PAGE_SIZE))
        if number > pages:
            raise DomainError.invalid("page", f"must be at most {pages}")
        lines = store.access_log(
            conn, end_user_id, LOG_PAGE_SIZE, only=only, offset=(number - 1) * LOG_PAGE_SIZE
        )
    return AccessLogPage(lines, number, pages, total, only, parties, gsrns)


def _choice(field: str, text: str | None, offered: Mapping[str, Value]) -> Value | None:
    if not text:
        return None
    if text not in offered:
        raise DomainError.invalid(field, "must be one of those in your access log")
    return offered[text]


def parties(hub: Services, party_ids: Iterable[int]) -> Mapping[int, PartyRecord]:
    """Who the parties are, by id: what every request and grant in Min side shows of its
    third party."""
    with hub.database.read() as conn:
        return registry.parties_by_id(conn, list(party_ids))


def end_all_sessions(hub: Services, end_user_id: int) -> int:
    """Log the person out of every browser (their sessions end for good)."""
    with hub.database.write() as conn:
        return sessions.end_all_of(conn, end_user_id, hub.now())
