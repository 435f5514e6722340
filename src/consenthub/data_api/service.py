"""Use cases of the data API (SPEC §8): what one party may read, and the access log entry
of every read, written in the same transaction before the data leaves.

A read of one metering point is one ``Database.reads_and_one_write`` (its log entries
are one statement); a list page may log thousands of entries and runs in one
transaction (``Database.transact``). The token's liveness is asked inside the same
transaction, by its own statement or as part of the first one.

The grants API (a party's own grants and how each stands) reads no end-user data, so it
writes no access-log entry; its token is checked by the route (``require``) before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection

from consenthub import grants
from consenthub.data_api import store
from consenthub.data_api.store import MeteringPointAccess, PartyGrant
from consenthub.domain.access import EndReason
from consenthub.domain.errors import Code, DomainError
from consenthub.domain.windows import DateWindow, Interval, to_intervals
from consenthub.grants import GrantStatus, grant_standing
from consenthub.observability import DATA_READS, correlation_id
from consenthub.services import Services
from consenthub.token_service import Caller, SignedToken, caller_of, live

Found = TypeVar("Found")


@dataclass(frozen=True)
class MeteringPointPage:
    points: list[MeteringPointAccess]
    next_cursor: str | None


@dataclass(frozen=True)
class MeterValues:
    access: MeteringPointAccess
    # The parts of the asked period the party may read.
    intervals: list[Interval]
    # ``(start epoch second, watt-hours)``, in time order.
    values: Sequence[tuple[int, int]]


def _logged(
    read: Callable[[Connection], tuple[Found, Caller, list[store.Read]]],
) -> Callable[[Connection], Found]:
    def work(conn: Connection) -> Found:
        found, caller, reads = read(conn)
        store.log_reads(conn, caller.party_id, reads, correlation_id.get())
        return found

    return work


def _access(
    hub: Services, conn: Connection, token: SignedToken, gsrn: str
) -> tuple[Caller, MeteringPointAccess]:
    """The caller, if its token is live, and what it may see of ``gsrn``: one statement."""
    party_id, access = store.live_metering_point_access(conn, token.claims, gsrn, hub.today())
    caller = caller_of(token, party_id)
    if access is None:
        raise DomainError(Code.METERING_POINT_NOT_READABLE)
    return caller, access


async def metering_points(
    hub: Services, token: SignedToken, *, after: str | None, limit: int
) -> MeteringPointPage:
    """A page of the metering points the caller may read, by GSRN after ``after``."""

    def read(conn: Connection) -> tuple[MeteringPointPage, Caller, list[store.Read]]:
        caller = live(conn, token)
        found, next_cursor = store.accessible_metering_points(
            conn, caller.party_id, hub.today(), after=after, limit=limit
        )
        reads = [
            store.Read(end_user_id, access.id, "metering_point_list")
            for access in found
            for end_user_id in {grant.end_user_id for grant in access.grants if grant.windows}
        ]
        DATA_READS.labels("list").inc()
        return MeteringPointPage(found, next_cursor), caller, reads

    return await hub.database.transact(_logged(read))


async def metering_point(hub: Services, token: SignedToken, gsrn: str) -> MeteringPointAccess:
    """Master data of one metering point, as far as the caller's grants open it."""

    def read(conn: Connection) -> tuple[MeteringPointAccess, Caller, list[store.Read]]:
        caller, access = _access(hub, conn, token, gsrn)
        end_users = {grant.end_user_id for grant in access.grants if grant.windows}
        DATA_READS.labels("master_data").inc()
        reads = [store.Read(end_user_id, access.id, "master_data") for end_user_id in end_users]
        return access, caller, reads

    return await hub.database.reads_and_one_write(_logged(read))


async def meter_values(
    hub: Services, token: SignedToken, gsrn: str, start: dt.datetime, end: dt.datetime
) -> MeterValues:
    """Meter values of ``[start, end)`` inside the windows the caller's grants open,
    clipped to each granting end user's supply period."""
    zone = hub.settings.zone
    requested = Interval(int(start.timestamp()), int(end.timestamp()))
    requested_days = DateWindow(
        start.astimezone(zone).date(), end.astimezone(zone).date() + dt.timedelta(days=1)
    )

    def read(conn: Connection) -> tuple[MeterValues, Caller, list[store.Read]]:
        caller, access = _access(hub, conn, token, gsrn)
        intervals = to_intervals(access.windows(), zone, requested)
        values = store.meter_values(conn, access.id, intervals)
        reads = [
            store.Read(end_user_id, access.id, "meter_values", start, end)
            for end_user_id in access.end_users_in(requested_days)
        ]
        DATA_READS.labels("values").inc()
        return MeterValues(access, intervals, values), caller, reads

    return await hub.database.reads_and_one_write(_logged(read))


@dataclass(frozen=True)
class ReportedGrant:
    """One of the caller's grants with its status and how it ended (SPEC §8)."""

    grant: PartyGrant
    status: GrantStatus
    ended_reason: EndReason | None


@dataclass(frozen=True)
class GrantPage:
    grants: list[ReportedGrant]
    # The id of the page's last grant when more follow; None on the last page.
    next_cursor: int | None


def _reported(grant: PartyGrant, today: dt.date) -> ReportedGrant:
    standing = grant_standing(
        grant.valid_from, grant.valid_to, grant.ended_reason, grant.revoked, today
    )
    return ReportedGrant(grant, standing.status, standing.ended_reason)


def party_grants(
    hub: Services,
    caller: Caller,
    *,
    status: GrantStatus | None,
    after: int | None,
    limit: int,
) -> GrantPage:
    """A page of the caller's grants from every process, by id after ``after``, with
    only those of ``status`` when it is given: so that a party that missed an event can
    reconcile."""
    today = hub.today()
    with hub.database.read() as conn:
        found, next_cursor = store.party_grants(
            conn, caller.party_id, today, status=status, after=after, limit=limit
        )
    return GrantPage([_reported(grant, today) for grant in found], next_cursor)


def party_grant(hub: Services, caller: Caller, grant_id: int) -> ReportedGrant:
    """One of the caller's grants; an unknown id and another party's grant answer alike,
    so that ids cannot be probed."""
    with hub.database.read() as conn:
        found = store.party_grant(conn, caller.party_id, grant_id)
    if found is None:
        raise DomainError(Code.GRANT_UNKNOWN)
    return _reported(found, hub.today())


def end_party_grant(hub: Services, caller: Caller, grant_id: int) -> ReportedGrant:
    """The party ends its own live grant today (DH-831: the seller ends an authorization;
    BRS-NO-622's ``remove`` is the same for a third party): reason ``party_removed``, the
    data up to today stays readable, the end user sees it in Min side. An ended, another
    party's or unknown grant is not found."""
    today = hub.today()
    with hub.database.write() as conn:
        found = store.party_grant(conn, caller.party_id, grant_id)
        if found is None or not grants.is_live(found.valid_to, found.revoked, today):
            raise DomainError(Code.GRANT_UNKNOWN)
        grants.end_grants(
            conn,
            [grant_id],
            today,
            reason=EndReason.PARTY_REMOVED,
            actor=f"party:{caller.party_id}",
        )
        ended = store.party_grant(conn, caller.party_id, grant_id)
    assert ended is not None
    return _reported(ended, today)
