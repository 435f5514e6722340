"""Use cases of Min side: what the person sees of their own requests, grants and reads."""

from __future__ import annotations

from dataclasses import dataclass

from consenthub import access_requests
from consenthub.access_requests import AccessRequest
from consenthub.domain.access import Status
from consenthub.grants import EndUserGrant, is_live
from consenthub.portal import store
from consenthub.portal.store import LogLine
from consenthub.services import Services
from consenthub.store import sessions

ACCESS_LOG_LIMIT = 200


@dataclass(frozen=True)
class Overview:
    pending: list[AccessRequest]
    active: list[EndUserGrant]
    ended: list[EndUserGrant]
    decided: list[AccessRequest]
    access_log: list[LogLine]


def overview(hub: Services, end_user_id: int) -> Overview:
    """The person's pending requests (an expired one is history, never pending), who has
    access, what ended, and who read their data."""
    requests = access_requests.of_end_user(hub, end_user_id)
    today = hub.today()
    with hub.database.read() as conn:
        grants = store.grants_of(conn, end_user_id)
        log = store.access_log(conn, end_user_id, ACCESS_LOG_LIMIT)
    return Overview(
        pending=[request for request in requests if request.status is Status.PENDING],
        active=[grant for grant in grants if is_live(grant.valid_to, grant.revoked, today)],
        ended=[grant for grant in grants if not is_live(grant.valid_to, grant.revoked, today)],
        decided=[request for request in requests if request.status is not Status.PENDING],
        access_log=log,
    )


def end_all_sessions(hub: Services, end_user_id: int) -> int:
    """Log the person out of every browser (their sessions end for good)."""
    with hub.database.write() as conn:
        return sessions.end_all_of(conn, end_user_id, hub.now())
