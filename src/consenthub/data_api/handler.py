"""Data API (SPEC §8): metering points and meter values, exactly as grants allow.

Scope follows Elhub's definition (BRS-NO-624): ``Limited`` shows meter values
and the minimum metering-point data needed to use them (id, grid area, the
windows the party may read); ``Full`` adds full master data (address,
settlement-point flag, extended storage) and contract data (the end user's
move-in / move-out dates inside the grant). An unknown metering point and one
the caller has no grant for get the same 404, so existence does not leak.

The endpoints take only the request and read their own parameters: they are
served directly, without FastAPI's per-request machinery (``ConsentHub.serve_directly``),
and describe their parameters to the OpenAPI document themselves.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from sqlalchemy import Connection

from consenthub.config import Settings
from consenthub.data_api import store
from consenthub.domain.identifiers import InvalidIdentifier, validate_gsrn
from consenthub.domain.parties import ApiScope
from consenthub.domain.windows import DateWindow, Interval, to_intervals
from consenthub.observability import DATA_READS, correlation_id
from consenthub.services import Services, services
from consenthub.token_service.bearer import Caller, SignedToken, caller_of, live, signed
from consenthub.web.errors import ApiError, FieldError
from consenthub.web.responses import JSONResponse

router = APIRouter(prefix="/api/v1", tags=["data"])

MAX_SPAN = dt.timedelta(days=366)
# Years a ``from``/``to`` may name, as written. Shifting such an instant to UTC or to
# the hub's zone, or a day further, stays inside what ``datetime`` and epoch seconds
# can hold (years 1..9999); no meter value lies before 1970 (docs/decisions.md).
EARLIEST_YEAR, LATEST_YEAR = 1970, 9998
Answer = TypeVar("Answer")
MAX_PAGE = 10_000


def _parameter(name: str, where: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path" or schema.pop("required", False),
        "description": description,
        "schema": {"type": "string", **schema},
    }


_METERING_POINT_ID = _parameter(
    "id", "path", "GSRN, 18 digits", examples=["707057500000000013"], pattern="^[0-9]{18}$"
)


def _openapi(*parameters: dict[str, Any]) -> dict[str, Any]:
    return {"parameters": list(parameters), "security": [{"bearer": []}]}


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


@functools.lru_cache(maxsize=65_536)
def local_time(epoch: int, zone: ZoneInfo) -> str:
    """ISO 8601 local time with offset. Remembered: values are read by the same hours
    over and over (yesterday, last month), and converting costs more than the rest of
    building a value; 65,536 hours are seven years of them."""
    return dt.datetime.fromtimestamp(epoch, zone).isoformat()


def _valid_gsrn(value: str, field: str = "id") -> str:
    try:
        return validate_gsrn(value)
    except InvalidIdentifier as exc:
        raise ApiError("CH2001", fields=[FieldError(field, f"GSRN {exc.rule}")]) from None


def _today(settings: Settings) -> dt.date:
    return dt.datetime.now(settings.zone).date()


async def _answer(
    hub: Services,
    token: SignedToken,
    read: Callable[[Connection, SignedToken], tuple[Answer, Caller, list[store.Read]]],
    *,
    one_metering_point: bool,
) -> Answer:
    """The token's liveness (``read`` asks it, with its own statement or as part of its
    first one), the grants, the data, and then the access log entries, written before
    the data leaves: there is no answer without its log entry. A read of one metering
    point logs in one statement and runs as ``Database.reads_and_one_write``; a list
    page may log thousands of entries and runs in one transaction."""

    def work(conn: Connection) -> Answer:
        answer, caller, reads = read(conn, token)
        store.log_reads(conn, caller.party_id, reads, correlation_id.get())
        return answer

    if one_metering_point:
        return await hub.database.reads_and_one_write(work)
    return await hub.database.transact(work)


def _list(
    hub: Services, conn: Connection, token: SignedToken, after: str | None, limit: int
) -> tuple[dict[str, Any], Caller, list[store.Read]]:
    caller = live(conn, token)
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
    return body, caller, reads


def _page_size(value: str | None) -> int:
    if value is None:
        return 1000
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise ApiError("CH2001", fields=[FieldError("limit", f"an integer from 1 to {MAX_PAGE}")])
    return int(value)


@router.get(
    "/metering-points",
    summary="Metering points the caller may read",
    openapi_extra=_openapi(
        _parameter("after", "query", "Cursor: the `next` of the previous page"),
        _parameter("limit", "query", f"Page size, 1 to {MAX_PAGE}", type="integer", default=1000),
    ),
)
async def list_metering_points(request: Request) -> JSONResponse:
    token = await signed(request, ApiScope.DATA_READ)
    after = request.query_params.get("after")
    if after is not None:
        after = _valid_gsrn(after, "after")
    limit = _page_size(request.query_params.get("limit"))
    hub = services(request)
    return JSONResponse(
        await _answer(
            hub,
            token,
            lambda conn, token: _list(hub, conn, token, after, limit),
            one_metering_point=False,
        )
    )


def _access(
    hub: Services, conn: Connection, token: SignedToken, gsrn: str
) -> tuple[Caller, store.MeteringPointAccess]:
    """The caller, if its token is live, and what it may see of ``gsrn``: one statement."""
    party_id, access = store.live_metering_point_access(
        conn, token.claims, gsrn, _today(hub.settings)
    )
    caller = caller_of(token, party_id)
    if access is None:
        raise ApiError("CH3001")
    return caller, access


def _detail(
    hub: Services, conn: Connection, token: SignedToken, gsrn: str
) -> tuple[dict[str, Any], Caller, list[store.Read]]:
    caller, access = _access(hub, conn, token, gsrn)
    end_users = {grant.end_user_id for grant in access.grants if grant.windows}
    DATA_READS.labels("master_data").inc()
    reads = [store.Read(end_user_id, access.id, "master_data") for end_user_id in end_users]
    return _master_data(access), caller, reads


@router.get(
    "/metering-points/{id}",
    summary="Master data of one metering point",
    openapi_extra=_openapi(_METERING_POINT_ID),
)
async def get_metering_point(request: Request) -> JSONResponse:
    token = await signed(request, ApiScope.DATA_READ)
    gsrn = _valid_gsrn(request.path_params["id"])
    hub = services(request)
    return JSONResponse(
        await _answer(
            hub,
            token,
            lambda conn, token: _detail(hub, conn, token, gsrn),
            one_metering_point=True,
        )
    )


def parse_instant(name: str, value: str, zone: ZoneInfo) -> dt.datetime:
    """``YYYY-MM-DD`` (local midnight in the hub's zone) or ISO 8601 with an offset,
    in the years ``EARLIEST_YEAR`` to ``LATEST_YEAR``."""
    try:
        if len(value) == 10:
            instant = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tzinfo=zone)
        else:
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
    if not EARLIEST_YEAR <= instant.year <= LATEST_YEAR:
        raise ApiError(
            "CH2001",
            fields=[FieldError(name, f"year must be from {EARLIEST_YEAR} to {LATEST_YEAR}")],
        )
    return instant


def _values(
    hub: Services,
    conn: Connection,
    token: SignedToken,
    gsrn: str,
    start: dt.datetime,
    end: dt.datetime,
) -> tuple[dict[str, Any], Caller, list[store.Read]]:
    zone = hub.settings.zone
    requested = Interval(int(start.timestamp()), int(end.timestamp()))
    caller, access = _access(hub, conn, token, gsrn)
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
                "from": local_time(i.start, zone),
                "to": local_time(i.end, zone),
            }
            for i in intervals
        ],
        "values": [
            {"start": local_time(start_ts, zone), "kwh": wh / 1000} for start_ts, wh in values
        ],
    }
    return body, caller, reads


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None:
        raise ApiError("CH2001", fields=[FieldError(name, "is required")])
    return value


@router.get(
    "/metering-points/{id}/values",
    summary="Meter values of one metering point",
    openapi_extra=_openapi(
        _METERING_POINT_ID,
        _parameter("from", "query", "YYYY-MM-DD or ISO 8601 with offset", required=True),
        _parameter("to", "query", "YYYY-MM-DD or ISO 8601 with offset (exclusive)", required=True),
    ),
)
async def get_values(request: Request) -> JSONResponse:
    token = await signed(request, ApiScope.DATA_READ)
    hub = services(request)
    gsrn = _valid_gsrn(request.path_params["id"])
    start = parse_instant("from", _required(request, "from"), hub.settings.zone)
    end = parse_instant("to", _required(request, "to"), hub.settings.zone)
    if end <= start:
        raise ApiError("CH2001", fields=[FieldError("to", "must be after from")])
    if end - start > MAX_SPAN:
        raise ApiError("CH2001", fields=[FieldError("to", "at most 366 days after from")])
    return JSONResponse(
        await _answer(
            hub,
            token,
            lambda conn, token: _values(hub, conn, token, gsrn, start, end),
            one_metering_point=True,
        )
    )


# Served without FastAPI's routing and dependency injection: see the module docstring.
direct_routes = [route for route in router.routes if isinstance(route, APIRoute)]
