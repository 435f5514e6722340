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
import re
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute

from consenthub.data_api import service, store
from consenthub.domain.errors import DomainError
from consenthub.domain.identifiers import InvalidIdentifier, validate_gsrn
from consenthub.domain.parties import ApiScope
from consenthub.domain.windows import DateWindow
from consenthub.token_service import signed
from consenthub.web.requests import services
from consenthub.web.responses import JSONResponse

router = APIRouter(prefix="/api/v1", tags=["data"])

MAX_SPAN = dt.timedelta(days=366)
# Years a ``from``/``to`` may name, as written. Shifting such an instant to UTC or to
# the hub's zone, or a day further, stays inside what ``datetime`` and epoch seconds
# can hold (years 1..9999); no meter value lies before 1970 (docs/decisions.md).
EARLIEST_YEAR, LATEST_YEAR = 1970, 9998
MAX_PAGE = 10_000
# A count as written: ASCII digits only (``str.isdigit`` also takes "²", which ``int``
# refuses), and few enough that any such number fits the databases' 64-bit integers.
_WHOLE_NUMBER = re.compile("[0-9]{1,18}")


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
        raise DomainError.invalid(field, f"GSRN {exc.rule}") from None


def _whole_number(value: str) -> int | None:
    return int(value) if _WHOLE_NUMBER.fullmatch(value) else None


def _page_size(value: str | None) -> int:
    if value is None:
        return 1000
    size = _whole_number(value)
    if size is None or not 1 <= size <= MAX_PAGE:
        raise DomainError.invalid("limit", f"an integer from 1 to {MAX_PAGE}")
    return size


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
    page = await service.metering_points(services(request), token, after=after, limit=limit)
    return JSONResponse(
        {
            "meteringPoints": [_master_data(access) for access in page.points],
            "next": page.next_cursor,
        }
    )


@router.get(
    "/metering-points/{id}",
    summary="Master data of one metering point",
    openapi_extra=_openapi(_METERING_POINT_ID),
)
async def get_metering_point(request: Request) -> JSONResponse:
    token = await signed(request, ApiScope.DATA_READ)
    gsrn = _valid_gsrn(request.path_params["id"])
    return JSONResponse(_master_data(await service.metering_point(services(request), token, gsrn)))


def parse_instant(name: str, value: str, zone: ZoneInfo) -> dt.datetime:
    """``YYYY-MM-DD`` (local midnight in the hub's zone) or ISO 8601 with an offset,
    in the years ``EARLIEST_YEAR`` to ``LATEST_YEAR``."""
    try:
        if len(value) == 10:
            instant = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tzinfo=zone)
        else:
            instant = dt.datetime.fromisoformat(value)
    except ValueError:
        raise DomainError.invalid(
            name, "must be a date (YYYY-MM-DD) or an ISO 8601 date-time with offset"
        ) from None
    if instant.tzinfo is None:
        raise DomainError.invalid(name, "date-time needs a UTC offset")
    if not EARLIEST_YEAR <= instant.year <= LATEST_YEAR:
        raise DomainError.invalid(name, f"year must be from {EARLIEST_YEAR} to {LATEST_YEAR}")
    return instant


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None:
        raise DomainError.invalid(name, "is required")
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
        raise DomainError.invalid("to", "must be after from")
    if end - start > MAX_SPAN:
        raise DomainError.invalid("to", "at most 366 days after from")
    found = await service.meter_values(hub, token, gsrn, start, end)
    zone = hub.settings.zone
    return JSONResponse(
        {
            "meteringPointId": gsrn,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "unit": "kWh",
            "periods": [
                {"from": local_time(i.start, zone), "to": local_time(i.end, zone)}
                for i in found.intervals
            ],
            "values": [
                {"start": local_time(start_ts, zone), "kwh": wh / 1000}
                for start_ts, wh in found.values
            ],
        }
    )


# Served without FastAPI's routing and dependency injection: see the module docstring.
DIRECT_ROUTES = tuple(route for route in router.routes if isinstance(route, APIRoute))
ROUTERS = (router,)
