"""HTTP of authorization requests from a seller (seed 003, Fingrid Datahub DH-831 / DH-851).

- ``POST /api/v1/authorization-requests``: the request; the ACK is accepted (201, with
  the request's ``id``) or rejected (422) with every rule it broke.
- ``GET /api/v1/authorization-requests`` and ``…/{id}``: the seller's own requests.
- ``POST /api/v1/authorization-requests/{id}/cancel`` (DH-851).
- The customer answers on Min side's decision page (``DECISION_FLOW``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from consenthub.access_requests import ITEMS, AccessRequest
from consenthub.authorization_requests import service
from consenthub.authorization_requests.errors import Problem, RequestRejected
from consenthub.authorization_requests.schemas import parse_request
from consenthub.domain.access import Process
from consenthub.domain.errors import Code, DomainError, error
from consenthub.domain.parties import ApiScope
from consenthub.portal import DecisionFlow, back_to_minside, closed_page, failed_page
from consenthub.token_service import Caller, require
from consenthub.web.errors import preferred_language
from consenthub.web.paging import decode_cursor, encode_cursor
from consenthub.web.requests import services
from consenthub.web.responses import JSONResponse

router = APIRouter(prefix="/api/v1/authorization-requests", tags=["authorization requests"])
SellerCaller = Annotated[Caller, Depends(require(ApiScope.AUTHORIZATION_REQUESTS))]
MAX_BODY_BYTES = 256 * 1024
MAX_PAGE = 1000

_EXAMPLE = {
    "customer": "131052-308T",
    "accountingPoints": ["643000000000000016"],
    "validFrom": "2027-01-01",
    "validTo": "2027-12-31",
    "reason": "Electricity contract",
    "description": "We read your consumption to offer you a spot-price contract.",
    "recipient": {"name": "Maija Meikäläinen", "email": "maija@example.fi", "language": "fi"},
    "reminderAt": "2026-12-10T09:00:00+02:00",
}


def _rejected(request: Request, rejected: RequestRejected, status_code: int) -> JSONResponse:
    language = preferred_language(request.headers.get("accept-language"))
    return JSONResponse(
        {
            "status": "rejected",
            "errors": [
                {
                    "code": problem.code.value,
                    "field": problem.field,
                    "message": problem.rule or error(problem.code).message(language),
                }
                for problem in rejected.problems
            ],
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def _view(found: AccessRequest) -> dict[str, Any]:
    """The seller's view of its request: what it asked and what became of it; never the
    customer's identity."""
    details = found.details
    view: dict[str, Any] = {
        "id": found.request_id,
        "status": service.STATUS_NAMES[found.status],
        "accountingPoints": sorted(details.get(ITEMS, {})),
        "validFrom": details.get("validFrom"),
        "validTo": details.get("validTo"),
        "reason": details.get("reason"),
        "description": details.get("description"),
        "expiresAt": found.deadline.isoformat() if found.deadline else None,
        "created": found.created_at.isoformat(),
        "decided": found.decided_at.isoformat() if found.decided_at else None,
    }
    if found.outcome is not None and found.outcome.error is None:
        view["authorizations"] = [
            {
                "accountingPoint": contract.metering_point_id,
                "validFrom": contract.start.isoformat(),
                "validTo": contract.end.isoformat() if contract.end else None,
            }
            for contract in found.outcome.contracts
        ]
        view["removedByCustomer"] = list(found.outcome.declined)
    return view


@router.post(
    "",
    summary="DH-831: ask a customer for an authorization",
    status_code=201,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"example": _EXAMPLE}}}
    },
    responses={
        201: {"description": "Accepted: the ACK with the request's id"},
        422: {"description": "Rejected: every rule the request broke, nothing stored"},
    },
)
async def create(request: Request, caller: SellerCaller) -> JSONResponse:
    hub = services(request)
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise DomainError(Code.TOO_LARGE, f"the request is larger than {MAX_BODY_BYTES} bytes")
    seller = service.Seller(caller.party_id, str(caller.claims.get("client_name", "")))
    try:
        asked = parse_request(body, allow_synthetic_ids=hub.settings.allow_synthetic_ids)
        created = await run_in_threadpool(service.create, hub, seller, asked)
    except RequestRejected as rejected:
        return _rejected(request, rejected, 422)
    return JSONResponse(
        {"status": "accepted", "id": created.request_id, "requestStatus": "Open"},
        status_code=201,
        headers={"Location": f"{router.prefix}/{created.request_id}"},
    )


@router.get("", summary="The seller's authorization requests")
async def listing(
    request: Request,
    caller: SellerCaller,
    status: Annotated[
        str | None, Query(description="Open, Approved, Rejected, Expired or Cancelled")
    ] = None,
    after: Annotated[str | None, Query(description="The `next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size")] = 100,
) -> JSONResponse:
    if status is not None and status not in service.STATUSES_BY_NAME:
        raise DomainError.invalid(
            "status", "must be Open, Approved, Rejected, Expired or Cancelled"
        )
    cursor = decode_cursor(after)
    page, next_cursor = await run_in_threadpool(
        lambda: service.listing(
            services(request),
            caller.party_id,
            status=service.STATUSES_BY_NAME[status] if status else None,
            after=cursor,
            limit=limit,
        )
    )
    body: dict[str, Any] = {"authorizationRequests": [_view(found) for found in page]}
    if next_cursor is not None:
        body["next"] = encode_cursor(next_cursor)
    return JSONResponse(body)


@router.get("/{request_id}", summary="One of the seller's authorization requests")
async def get(request: Request, caller: SellerCaller, request_id: str) -> JSONResponse:
    found = await run_in_threadpool(service.get, services(request), caller.party_id, request_id)
    return JSONResponse(_view(found))


@router.post("/{request_id}/cancel", summary="DH-851: cancel an open authorization request")
async def cancel(request: Request, caller: SellerCaller, request_id: str) -> JSONResponse:
    try:
        cancelled = await run_in_threadpool(
            service.cancel, services(request), caller.party_id, request_id
        )
    except DomainError as exc:
        if exc.code is not Code.REQUEST_CLOSED:
            raise
        return _rejected(request, RequestRejected([Problem(exc.code, "id")]), 409)
    return JSONResponse(
        {"status": "accepted", "id": cancelled.request_id, "requestStatus": "Cancelled"}
    )


DECISION_FLOW = DecisionFlow(
    process=Process.AUTHORIZATION_REQUEST,
    wording="decision/authorization.html",
    lets_person_lower_scope=False,
    lets_person_choose_end=False,
    answered=back_to_minside,
    closed=closed_page,
    failed=failed_page,
)

ROUTERS = (router,)
