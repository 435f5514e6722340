"""Data API (SPEC §8): metering points and meter values, exactly as grants allow.

Scope follows Elhub's definition (BRS-NO-624): ``Limited`` shows meter values
and the minimum metering-point data needed to use them (id, grid area, the
windows the party may read); ``Full`` adds full master data (address,
settlement-point flag, extended storage) and contract data (the end user's
move-in / move-out dates inside the grant). An unknown metering point and one
the caller has no grant for get the same 404, so existence does not leak.

The metering-point endpoints take only the request and read their own parameters: they
are served directly, without FastAPI's per-request machinery
(``ConsentHub.serve_directly``), and describe their parameters to the OpenAPI document
themselves. The grants API (``/api/v1/grants``) is no hot path: its routes are FastAPI's
own, with the bearer check as a dependency and response models for the document.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse as StarletteJSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from consenthub.data_api import service, store
from consenthub.domain.access import EndReason, Scope
from consenthub.domain.dates import calendar_date
from consenthub.domain.errors import DomainError
from consenthub.domain.identifiers import InvalidIdentifier, validate_gsrn
from consenthub.domain.parties import ApiScope
from consenthub.domain.windows import DateWindow
from consenthub.grants import GrantStatus
from consenthub.token_service import Caller, require, signed
from consenthub.web.requests import services
from consenthub.web.responses import JSONResponse

router = APIRouter(prefix="/api/v1", tags=["data"])

MAX_SPAN = dt.timedelta(days=366)
# Years a ``from``/``to`` may name, as written. Shifting such an instant to UTC or to
# the hub's zone, or a day further, stays inside what ``datetime`` and epoch seconds
# can hold (years 1..9999); no meter value lies before 1970 (docs/decisions.md).
EARLIEST_YEAR, LATEST_YEAR = 1970, 9998
MAX_PAGE = 10_000
DEFAULT_GRANT_PAGE, MAX_GRANT_PAGE = 100, 1000
# A count or a grant id as written: ASCII digits only (``str.isdigit`` also takes "²",
# which ``int`` refuses), and few enough that any such number fits the databases'
# 64-bit integers.
_WHOLE_NUMBER = re.compile("[0-9]{1,18}")
_GRANT_ID_PATTERN = f"^{_WHOLE_NUMBER.pattern}$"


def _parameter(name: str, where: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path" or schema.pop("required", False),
        "description": description,
        "schema": {"type": "string", **schema},
    }


_METERING_POINT_ID = _parameter(
    "id", "path", "GSRN, 18 digits", examples=["707057500000000018"], pattern="^[0-9]{18}$"
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


def _page_size(value: str | None, *, default: int = 1000, maximum: int = MAX_PAGE) -> int:
    if value is None:
        return default
    size = _whole_number(value)
    if size is None or not 1 <= size <= maximum:
        raise DomainError.invalid("limit", f"an integer from 1 to {maximum}")
    return size


_WINDOW = {
    "type": "object",
    "required": ["from", "to"],
    "properties": {"from": {"type": "string"}, "to": {"type": ["string", "null"]}},
}
_MASTER_DATA = {
    "type": "object",
    "required": ["meteringPointId", "scope", "gridArea", "access"],
    "properties": {
        "meteringPointId": {"type": "string", "pattern": "^[0-9]{18}$"},
        "scope": {"enum": ["Full", "Limited"]},
        "gridArea": {"type": ["string", "null"]},
        "access": {"type": "array", "items": _WINDOW},
        "settlementPoint": {"type": "boolean"},
        "address": {"type": "object"},
        "extendedStorage": {"type": "boolean"},
        "contracts": {"type": "array", "items": {"type": "object"}},
    },
}
_POINT_LIST = {
    "type": "object",
    "required": ["meteringPoints"],
    "properties": {
        "meteringPoints": {"type": "array", "items": _MASTER_DATA},
        "next": {"type": "string", "description": "Cursor of the next page, when one follows"},
    },
}
_VALUES = {
    "type": "object",
    "required": ["meteringPointId", "from", "to", "unit", "periods", "values"],
    "properties": {
        "meteringPointId": {"type": "string"},
        "from": {"type": "string"},
        "to": {"type": "string"},
        "unit": {"const": "kWh"},
        "periods": {"type": "array", "items": _WINDOW},
        "values": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["start", "kwh"],
                "properties": {"start": {"type": "string"}, "kwh": {"type": "number"}},
            },
        },
    },
}


def _answer(schema: dict[str, Any], description: str) -> dict[int | str, Any]:
    return {200: {"description": description, "content": {"application/json": {"schema": schema}}}}


@router.get(
    "/metering-points",
    summary="Metering points the caller may read",
    openapi_extra=_openapi(
        _parameter("after", "query", "Cursor: the `next` of the previous page"),
        _parameter("limit", "query", f"Page size, 1 to {MAX_PAGE}", type="integer", default=1000),
    ),
    responses=_answer(_POINT_LIST, "A page of metering points"),
)
async def list_metering_points(request: Request) -> JSONResponse:
    token = await signed(request, ApiScope.DATA_READ)
    after = request.query_params.get("after")
    if after is not None:
        after = _valid_gsrn(after, "after")
    limit = _page_size(request.query_params.get("limit"))
    page = await service.metering_points(services(request), token, after=after, limit=limit)
    body: dict[str, Any] = {"meteringPoints": [_master_data(access) for access in page.points]}
    if page.next_cursor is not None:
        body["next"] = page.next_cursor
    return JSONResponse(body)


@router.get(
    "/metering-points/{id}",
    summary="Master data of one metering point",
    openapi_extra=_openapi(_METERING_POINT_ID),
    responses=_answer(_MASTER_DATA, "Master data, by the grant's scope"),
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
            date = calendar_date(value)
            if date is None:
                raise ValueError(value)
            instant = dt.datetime.combine(date, dt.time(), tzinfo=zone)
        else:
            instant = dt.datetime.fromisoformat(value)
    except ValueError:
        if " " in value and value.count(":") >= 2:
            # "2026-11-29T10:00:00+01:00" typed into a URL unencoded: its "+" arrives as " ".
            raise DomainError.invalid(
                name, "has a space where the offset's + should be: write + as %2B in a URL"
            ) from None
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
    responses=_answer(_VALUES, "Hourly values inside the caller's grant windows"),
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


# FastAPI puts a response model in the OpenAPI document only for a response class it
# knows as JSON, which the house ``JSONResponse`` (orjson, a plain ``Response``) is not.
grants_router = APIRouter(
    prefix="/api/v1/grants", tags=["data"], default_response_class=StarletteJSONResponse
)
DataReader = Annotated[Caller, Depends(require(ApiScope.DATA_READ))]


class GrantItem(BaseModel):
    """One of the caller's grants (SPEC §8): ids, dates, terms and status, never who
    granted it."""

    model_config = ConfigDict(validate_by_name=True)

    id: int
    metering_point_id: str = Field(alias="meteringPointId", description="GSRN")
    scope: Scope
    valid_from: dt.date = Field(alias="validFrom")
    valid_to: dt.date | None = Field(
        alias="validTo", description="Exclusive; null while it runs without end"
    )
    status: GrantStatus
    ended_reason: EndReason | None = Field(
        alias="endedReason", description="How it ended; null while it is Active"
    )
    extended_storage: bool = Field(
        alias="extendedStorage",
        description="BRS-NO-622 extendedStorage: values kept longer while the grant lasts",
    )
    access_request_id: str | None = Field(
        alias="accessRequestId",
        description="The hub's id of the access request that started or last changed it "
        "(the `id` of that request's webhook events); null when no request did",
    )
    created: dt.datetime = Field(description="When the hub recorded the grant")


class GrantList(BaseModel):
    grants: list[GrantItem]
    next: str | None = Field(
        default=None,
        # Issue 15: the last page carries no cursor at all.
        exclude_if=lambda cursor: cursor is None,
        description="Present only when more grants follow: pass it as `after` for the "
        "next page. It is the id of the page's last grant.",
    )


_GRANT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "`CH2001`: a parameter is invalid; `errors` names it"},
    401: {"description": "`CH1101`/`CH1102`: no token, or one that is invalid or revoked"},
    403: {"description": "`CH1103`: the token lacks `data:read`"},
}


def _grant_item(found: service.ReportedGrant) -> GrantItem:
    grant = found.grant
    return GrantItem(
        id=grant.id,
        metering_point_id=grant.gsrn,
        scope=grant.scope,
        valid_from=grant.valid_from,
        valid_to=grant.valid_to,
        status=found.status,
        ended_reason=found.ended_reason,
        extended_storage=grant.extended_storage,
        access_request_id=grant.access_request_id,
        created=grant.created_at,
    )


def _grant_id(value: str, field: str) -> int:
    grant_id = _whole_number(value)
    if grant_id is None:
        raise DomainError.invalid(field, "a grant id: digits only, at most 18")
    return grant_id


def _status(value: str | None) -> GrantStatus | None:
    if value is None:
        return None
    try:
        return GrantStatus(value)
    except ValueError:
        raise DomainError.invalid(
            "status", "one of " + ", ".join(status.value for status in GrantStatus)
        ) from None


@grants_router.get(
    "",
    summary="The caller's grants from every process, with status",
    response_model=GrantList,
    responses=_GRANT_ERRORS,
    openapi_extra=_openapi(
        _parameter(
            "status",
            "query",
            "Only grants of this status",
            enum=[status.value for status in GrantStatus],
        ),
        _parameter(
            "after",
            "query",
            "Cursor: the `next` of the previous page (a grant id; the page holds the "
            "grants with larger ids)",
            pattern=_GRANT_ID_PATTERN,
        ),
        _parameter(
            "limit",
            "query",
            f"Page size, 1 to {MAX_GRANT_PAGE}",
            type="integer",
            minimum=1,
            maximum=MAX_GRANT_PAGE,
            default=DEFAULT_GRANT_PAGE,
        ),
    ),
)
async def list_grants(request: Request, caller: DataReader) -> GrantList:
    query = request.query_params
    status = _status(query.get("status"))
    cursor = query.get("after")
    after = None if cursor is None else _grant_id(cursor, "after")
    limit = _page_size(query.get("limit"), default=DEFAULT_GRANT_PAGE, maximum=MAX_GRANT_PAGE)
    page = await run_in_threadpool(
        functools.partial(
            service.party_grants, services(request), caller, status=status, after=after, limit=limit
        )
    )
    return GrantList(
        grants=[_grant_item(found) for found in page.grants],
        next=None if page.next_cursor is None else str(page.next_cursor),
    )


@grants_router.get(
    "/{id}",
    summary="One of the caller's grants, with status",
    response_model=GrantItem,
    responses=_GRANT_ERRORS
    | {404: {"description": "`CH3002`: the caller has no grant with this id"}},
    openapi_extra=_openapi(
        _parameter("id", "path", "Grant id", examples=["42"], pattern=_GRANT_ID_PATTERN)
    ),
)
async def get_grant(request: Request, caller: DataReader) -> GrantItem:
    grant_id = _grant_id(request.path_params["id"], "id")
    found = await run_in_threadpool(service.party_grant, services(request), caller, grant_id)
    return _grant_item(found)


@grants_router.post(
    "/{id}/end",
    summary="End one of the caller's live grants today",
    description="The party ends its own grant (e.g. a seller ends a DH-831 authorization): "
    "it ends today, the data valid up to today stays readable, `endedReason` is "
    "`party_removed`, and the end user sees it in Min side.",
    response_model=GrantItem,
    responses=_GRANT_ERRORS
    | {404: {"description": "`CH3002`: the caller has no live grant with this id"}},
    openapi_extra=_openapi(
        _parameter("id", "path", "Grant id", examples=["42"], pattern=_GRANT_ID_PATTERN)
    ),
)
async def end_grant(request: Request, caller: DataReader) -> GrantItem:
    grant_id = _grant_id(request.path_params["id"], "id")
    ended = await run_in_threadpool(service.end_party_grant, services(request), caller, grant_id)
    return _grant_item(ended)


# Served without FastAPI's routing and dependency injection: see the module docstring.
# The grants API is not among them: it uses both.
DIRECT_ROUTES = tuple(route for route in router.routes if isinstance(route, APIRoute))
ROUTERS = (router, grants_router)
