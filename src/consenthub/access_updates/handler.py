"""HTTP of message-initiated access updates (seed 001, Elhub BRS-NO-622).

- ``POST /api/v1/third-party-access/updates``: message 34 "UpdateThirdPartyAccess" in,
  acknowledgement 37 ("294 Bekreftelse") out, one entry per item in the order sent.
- ``GET /api/v1/third-party-access/requests``: the party's requests of BRS-NO-622 and
  BRS-NO-624 with their outcomes, paged.
- The end user answers an ``add`` on Min side's decision page (``DECISION_FLOW``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from consenthub.access_requests import ITEMS, AccessRequest
from consenthub.access_updates import service
from consenthub.access_updates.schemas import MAX_BODY_BYTES, MAX_ITEMS, parse_message
from consenthub.domain.access import Process, Status
from consenthub.domain.errors import Code, DomainError, ItemResult
from consenthub.domain.parties import ApiScope
from consenthub.portal import DecisionFlow, back_to_minside, closed_page, failed_page
from consenthub.token_service import Caller, require
from consenthub.web.errors import preferred_language, return_message_error
from consenthub.web.paging import decode_cursor, encode_cursor
from consenthub.web.requests import services
from consenthub.web.responses import JSONResponse

router = APIRouter(prefix="/api/v1/third-party-access", tags=["third-party access"])
ThirdPartyCaller = Annotated[Caller, Depends(require(ApiScope.THIRD_PARTY_ACCESS))]
PROCESS_NAMES = {Process.MESSAGE: "BRS-NO-622", Process.URL: "BRS-NO-624"}
MAX_PAGE = 1000

_MESSAGE_EXAMPLE = {
    "messageId": "2f1c5f0e-8a0b-4d7e-9f5a-1c2b3d4e5f60",
    "items": [
        {"meteringPointId": "707057500000000018", "action": "add", "extendedStorage": True},
        {"meteringPointId": "707057500000000025", "action": "remove"},
        {"meteringPointId": "707057500000000032", "action": "update", "end": "2027-12-31"},
    ],
}


async def _body(request: Request) -> bytes:
    """The body, refused as soon as it passes the documented maximum."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise DomainError(Code.TOO_LARGE, f"the message is larger than {MAX_BODY_BYTES} bytes")
    return body


def _item(result: ItemResult, language: str) -> dict[str, Any]:
    item: dict[str, Any] = {"meteringPointId": result.key}
    if result.error is None:
        item["status"] = "accepted"
        if result.reference:
            item["requestId"] = result.reference
        return item
    item["status"] = "rejected"
    item["code"] = result.error.code.value
    item["message"] = result.error.spec.message(language)
    return item


@router.post(
    "/updates",
    summary="BRS-NO-622: update third-party access (message 34 in, acknowledgement 37 out)",
    description=(
        f"At most {MAX_ITEMS} items. Each item is `add` (a pending request the end user "
        "approves on Min side within 30 days; the contract starts at the move-in date), "
        "`remove` (the contract ends today) or `update` (a new start and/or end). The "
        "acknowledgement has one entry per item in the order sent, `accepted` (with the "
        "`requestId` of an add) or `rejected` with the seed's code: E10, EH010, EH016, "
        "EH017, EH098, or CH4101/CH4102. The same `messageId` again returns the first "
        "acknowledgement and changes nothing."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"example": _MESSAGE_EXAMPLE}},
        }
    },
)
async def update_access(request: Request, caller: ThirdPartyCaller) -> JSONResponse:
    message = parse_message(await _body(request))
    results = await run_in_threadpool(service.receive, services(request), caller.party_id, message)
    language = preferred_language(request.headers.get("accept-language"))
    return JSONResponse(
        {
            "messageId": message.message_id,
            "documentType": "37 Acknowledgement",
            "items": [_item(result, language) for result in results],
        }
    )


def _listed(found: AccessRequest) -> dict[str, Any]:
    item: dict[str, Any] = {
        "requestId": found.request_id,
        "process": PROCESS_NAMES[found.process],
        "status": found.status.value,
        "scope": found.scope.value,
        "created": found.created_at.isoformat(),
        "deadline": found.deadline.isoformat() if found.deadline else None,
        "decided": found.decided_at.isoformat() if found.decided_at else None,
    }
    if found.process is Process.MESSAGE:
        item["meteringPoints"] = sorted(found.details.get(ITEMS, {}))
    outcome = found.outcome
    if outcome is not None and outcome.error is not None:
        item["error"] = return_message_error(outcome.error)
    elif outcome is not None:
        item["contracts"] = outcome.as_json()["contracts"]
        if outcome.declined:
            item["declined"] = list(outcome.declined)
    return item


@router.get("/requests", summary="The party's requests of BRS-NO-622 and BRS-NO-624")
async def list_requests(
    request: Request,
    caller: ThirdPartyCaller,
    status: Annotated[Status | None, Query(description="Only requests in this status")] = None,
    after: Annotated[str | None, Query(description="The `next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size")] = 100,
) -> JSONResponse:
    page, next_cursor = await run_in_threadpool(
        lambda: service.requests(
            services(request),
            caller.party_id,
            status=status,
            after=decode_cursor(after),
            limit=limit,
        )
    )
    body: dict[str, Any] = {"requests": [_listed(found) for found in page]}
    if next_cursor is not None:
        body["next"] = encode_cursor(next_cursor)
    return JSONResponse(body)


DECISION_FLOW = DecisionFlow(
    process=Process.MESSAGE,
    wording="decision/message.html",
    lets_person_lower_scope=True,
    lets_person_choose_end=False,
    answered=back_to_minside,
    closed=closed_page,
    failed=failed_page,
    point_note="decision/message_point.html",
)

ROUTERS = (router,)
