"""Data API (SPEC §8): metering points and meter values, exactly as grants allow.

Scope follows Elhub's definition (BRS-NO-624): ``Limited`` shows meter values
and the minimum metering-point data needed to use them (id, grid area, the
windows the party may read); ``Full`` adds full master data (address,
settlement-point flag, extended storage) and contract data (the end user's
move-in / move-out dates inside the grant). An unknown metering point and one
the caller has no grant for get the same 404, so existence does not leak.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import Connection

from consenthub.config import Settings
from consenthub.data_api import store
from consenthub.domain.identifiers import InvalidIdentifier, validate_gsrn
from consenthub.domain.parties import ApiScope
from consenthub.domain.windows import DateWindow, Interval, to_intervals
from consenthub.observability import DATA_READS, correlation_id
from consenthub.services import Services, services
from consenthub.token_service.bearer import Caller, SignedToken, live, signed
from consenthub.web.errors import ApiError, FieldError
from consenthub.web.responses import JSONResponse

router = APIRouter(prefix="/api/v1", tags=["data"])

MAX_SPAN = dt.timedelta(days=366)
ReadToken = Annotated[SignedToken, Depends(signed(ApiScope.DATA_READ))]
Answer = TypeVar("Answer")
MeteringPointId = Annotated[
    str, Path(description="GSRN, 18 digits", examples=["707057500000000013"])
]


def _window_json(window: DateWindow) -> dict[str, str | None]:
    return {"from": window.start.isoformat(), "to": window.end.isoformat() if window.end else None}


def _master_data(access: store.MeteringPointAccess) -> dict[str, Any]:
    body: dict[str, Any] = {
        "meteringPointId": access.gsrn,
        "scope": "Full" if access.full else "Limited",
        "gridArea": access.grid_area,
        "access": [_window_json(window) for window in access.windows()],
    }
    if access.full:
        body.update(
            {
                "settlementPoint": access.settlement_point,
                "address": {
                    "street": access.address,
                    "postcode": access.postcode,
                    "city": access.city,
                },
                "extendedStorage": access.extended_storage,
                "contracts": [
                    {
                        "moveIn": window.start.isoformat(),
                        "moveOut": window.end.isoformat() if window.end else None,
                    }
                    for grant in access.grants
                    if grant.scope == "Full" and grant.windows
                    for window in access.supply_periods.get(grant.end_user_id, [])
                    if any(window.intersect(granted) for granted in grant.windows)
                ],
            }
        )
    return body


def _gsrn_or_404(value: str) -> str:
    try:
        return validate_gsrn(value)
    except InvalidIdentifier as exc:
        raise ApiError("CH2001", fields=[FieldError("id", f"GSRN {exc.rule}")]) from None


def _today(settings: Settings) -> dt.date:
    return dt.datetime.now(settings.zone).date()


async def _answer(
    hub: Services,
    token: SignedToken,
    read: Callable[[Connection, Caller], tuple[Answer, list[store.Read]]],
) -> Answer:
    """One transaction per request: the token's liveness, the grants, the data, and the
    access log entries, which are written before the data leaves (no answer without its
    log entry). One transaction instead of a read and a write one halves the commits."""

    def work(conn: Connection) -> Answer:
        caller = live(conn, token)
        answer, reads = read(conn, caller)
        store.log_reads(conn, caller.party_id, reads, correlation_id.get())
        return answer

    return await hub.database.transact(work)


def _list(
    hub: Services, conn: Connection, caller: Caller, after: str | None, limit: int
) -> tuple[dict[str, Any], list[store.Read]]:
    found, next_cursor = store.accessible_metering_points(
        conn, caller.party_id, _today(hub.settings), after=after, limit=limit
    )
    reads = [
        store.Read(end_user_id, access.id, "metering_point_list")
        for access in found
        for end_user_id in {grant.end_user_id for grant in access.grants if grant.windows}
    ]
    DATA_READS.labels("list").inc()
    body = {"meteringPoints": [_master_data(access) for access in found], "next": next_cursor}
    return body, reads


@router.get("/metering-points", summary="Metering points the caller may read")
async def list_metering_points(
    request: Request,
    token: ReadToken,
    after: Annotated[
        str | None, Query(description="Cursor: the `next` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> JSONResponse:
    if after is not None:
        after = _gsrn_or_404(after)
    hub = services(request)
    return JSONResponse(
        await _answer(hub, token, lambda conn, caller: _list(hub, conn, caller, after, limit))
    )


def _detail(
    hub: Services, conn: Connection, caller: Caller, gsrn: str
) -> tuple[dict[str, Any], list[store.Read]]:
    access = store.metering_point_access(conn, caller.party_id, gsrn, _today(hub.settings))
    if access is None:
        raise ApiError("CH3001")
    end_users = {grant.end_user_id for grant in access.grants if grant.windows}
    DATA_READS.labels("master_data").inc()
    reads = [store.Read(end_user_id, access.id, "master_data") for end_user_id in end_users]
    return _master_data(access), reads


@router.get("/metering-points/{id}", summary="Master data of one metering point")
async def get_metering_point(
    request: Request, token: ReadToken, id: MeteringPointId
) -> JSONResponse:
    gsrn = _gsrn_or_404(id)
    hub = services(request)
    return JSONResponse(
        await _answer(hub, token, lambda conn, caller: _detail(hub, conn, caller, gsrn))
    )


def parse_instant(name: str, value: str, zone: ZoneInfo) -> dt.datetime:
    """``YYYY-MM-DD`` (local midnight in the hub's zone) or ISO 8601 with an offset."""
    try:
        if len(value) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tzinfo=zone)
        instant = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(
            "CH2001",
            fields=[
                FieldError(name, "must be a date (YYYY-MM-DD) or an ISO 8601 date-time with offset")
            ],
        ) from None
    if instant.tzinfo is None:
        raise ApiError("CH2001", fields=[FieldError(name, "date-time needs a UTC offset")])
    return instant


def _values(
    hub: Services,
    conn: Connection,
    caller: Caller,
    gsrn: str,
    start: dt.datetime,
    end: dt.datetime,
) -> tuple[dict[str, Any], list[store.Read]]:
    zone = hub.settings.zone
    requested = Interval(int(start.timestamp()), int(end.timestamp()))
    access = store.metering_point_access(conn, caller.party_id, gsrn, _today(hub.settings))
    if access is None:
        raise ApiError("CH3001")
    intervals = to_intervals(access.windows(), zone, requested)
    values = store.meter_values(conn, access.id, intervals)
    requested_days = DateWindow(
        start.astimezone(zone).date(), end.astimezone(zone).date() + dt.timedelta(days=1)
    )
    reads = [
        store.Read(end_user_id, access.id, "meter_values", start, end)
        for end_user_id in access.end_users_in(requested_days)
    ]
    DATA_READS.labels("values").inc()
    body = {
        "meteringPointId": gsrn,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "unit": "kWh",
        "periods": [
            {
                "from": dt.datetime.fromtimestamp(i.start, zone).isoformat(),
                "to": dt.datetime.fromtimestamp(i.end, zone).isoformat(),
            }
            for i in intervals
        ],
        "values": [
            {"start": dt.datetime.fromtimestamp(start_ts, zone).isoformat(), "kwh": wh / 1000}
            for start_ts, wh in values
        ],
    }
    return body, reads


@router.get("/metering-points/{id}/values", summary="Meter values of one metering point")
async def get_values(
    request: Request,
    token: ReadToken,
    id: MeteringPointId,
    from_: Annotated[str, Query(alias="from", description="YYYY-MM-DD or ISO 8601 with offset")],
    to: Annotated[str, Query(description="YYYY-MM-DD or ISO 8601 with offset (exclusive)")],
) -> JSONResponse:
    hub = services(request)
    gsrn = _gsrn_or_404(id)
    start = parse_instant("from", from_, hub.settings.zone)
    end = parse_instant("to", to, hub.settings.zone)
    if end <= start:
        raise ApiError("CH2001", fields=[FieldError("to", "must be after from")])
    if end - start > MAX_SPAN:
        raise ApiError("CH2001", fields=[FieldError("to", "at most 366 days after from")])
    return JSONResponse(
        await _answer(hub, token, lambda conn, caller: _values(hub, conn, caller, gsrn, start, end))
    )
