"""HTTP of URL-initiated third-party access (seed 000, Elhub BRS-NO-624).

1. ``GET /third-party-access/authorize?client_id=<GLN>&request_id=<UUID>&scope=Full|Limited``
   (optional ``redirect_uri``) — validated before login; anything wrong is an error
   page, never a redirect to an address that is not registered.
2. The end user logs in and answers on the one decision page of Min side
   (``/minside/requests/{id}``), which this process supplies with its wording and with
   what happens after the answer (``DECISION_FLOW``).
3. The browser gets a 303 to the registered return address with ``?response=<JWS>``.
   Errors: ``EH088`` not approved (or the deadline passed), ``EH106`` no metering
   point, ``EH098`` request_id already used, ``EH111`` internal error.
4. ``GET /api/v1/third-party-access/requests/{request_id}`` gives the party the same
   result with its bearer token.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from consenthub import access_requests
from consenthub.access_requests import AccessRequest, Outcome
from consenthub.domain.access import Process
from consenthub.domain.errors import Code, DomainError
from consenthub.domain.messages import N_
from consenthub.domain.parties import ApiScope
from consenthub.portal import DecisionFlow
from consenthub.services import Services
from consenthub.token_service import Caller, require
from consenthub.url_access import service
from consenthub.url_access.response import sign_response
from consenthub.web.errors import return_message_error
from consenthub.web.pages import PAGE, csrf_valid, page_router
from consenthub.web.requests import services
from consenthub.web.responses import JSONResponse

pages = page_router()
api_router = APIRouter(prefix="/api/v1/third-party-access", tags=["third-party access"])


def _result(outcome: Outcome) -> dict[str, Any]:
    """The payload fields of an outcome: ``scope`` and ``contracts``, or ``error``."""
    if outcome.error is not None:
        return {"error": return_message_error(outcome.error)}
    return {key: value for key, value in outcome.as_json().items() if key in ("scope", "contracts")}


def _signed(hub: Services, *, gln: str, request_id: str, outcome: Outcome) -> str:
    return sign_response(
        hub.settings,
        hub.keys,
        receiver_gln=gln,
        request_id=request_id,
        result=_result(outcome),
        now=hub.now(),
    )


def _return_to(redirect_uri: str, response_jws: str) -> RedirectResponse:
    parts = urlsplit(redirect_uri)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), ("response", response_jws)])
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=303)


def _send(hub: Services, request: AccessRequest, outcome: Outcome) -> RedirectResponse:
    assert request.party_gln is not None  # BRS-NO-624 parties are found by their GLN
    jws = _signed(hub, gln=request.party_gln, request_id=request.request_id, outcome=outcome)
    return _return_to(service.return_address(request), jws)


@pages.get(
    "/third-party-access/authorize",
    summary="BRS-NO-624: the link a third party sends a person to",
    description="Validated before login; anything wrong is an error page, never a redirect "
    "to an address that is not registered. The answer returns to the registered address "
    "with `?response=<JWS>`.",
    openapi_extra={
        PAGE: [
            ("client_id", True, "The third party's GLN"),
            ("request_id", True, "The third party's UUID for this request"),
            ("scope", True, "Full or Limited"),
            ("redirect_uri", False, "One of the party's registered return addresses"),
        ]
    },
)
async def authorize(request: Request) -> Response:
    hub = services(request)
    link = await run_in_threadpool(service.resolve_link, hub, request.query_params.multi_items())
    user = request.session.get("user")
    opened = await run_in_threadpool(service.open_link, hub, link, user and user["id"])
    if opened is None:
        jws = _signed(
            hub, gln=link.party_gln, request_id=link.request_id, outcome=Outcome(error=Code.EH098)
        )
        return _return_to(link.redirect_uri, jws)
    return RedirectResponse(f"/minside/requests/{opened.id}", status_code=303)


# What a person who could not log in may tell the third party (seed 000 §4.5).
_ABANDON_CODES = {Code.EH088.value: Code.EH088, Code.EH111.value: Code.EH111}


@pages.post("/third-party-access/requests/{internal_id}/abandon")
async def abandon(
    request: Request, internal_id: str, csrf_token: str = Form(""), code: str = Form("")
) -> Response:
    """After a failed login, back to the third party with ``EH088`` (the person cancelled)
    or ``EH111``: only from the browser whose login began at this request's link. The
    request ends with that answer (rejected or closed, ``service.abandon``), so that a later
    login cannot send the party a second one; a request already answered sends its
    answer again."""
    if not csrf_valid(request, csrf_token) or code not in _ABANDON_CODES:
        raise DomainError(Code.FORM_EXPIRED, N_("Reload the page and try again."))
    hub = services(request)
    found = await run_in_threadpool(access_requests.get, hub, internal_id)
    if (
        found is None
        or found.process is not Process.URL
        or request.session.get("next") != f"/minside/requests/{internal_id}"
    ):
        raise DomainError(Code.NOT_FOUND, N_("There is no such request."))
    request.session.pop("next", None)
    left = await run_in_threadpool(service.abandon, hub, internal_id, _ABANDON_CODES[code])
    return await _answered(request, left)


async def _answered(request: Request, answered: AccessRequest) -> Response:
    """After the person's answer, or when they open a request already closed: back to the
    third party with the outcome (sent again, in case the first redirect failed)."""
    return _send(services(request), answered, answered.outcome or Outcome(error=Code.EH088))


async def _failed(request: Request, failed: AccessRequest) -> Response:
    """The decision failed unexpectedly and changed nothing: the request ends with
    ``EH111`` before the party is told so, so that the person cannot answer it later and
    send the party a second, different answer for the same ``request_id``."""
    hub = services(request)
    left = await run_in_threadpool(service.abandon, hub, failed.id, Code.EH111)
    return await _answered(request, left)


DECISION_FLOW = DecisionFlow(
    process=Process.URL,
    wording="decision/url.html",
    lets_person_lower_scope=True,
    lets_person_choose_end=True,
    answered=_answered,
    closed=_answered,
    failed=_failed,
    returns_to_party=True,
)

ThirdPartyCaller = Annotated[Caller, Depends(require(ApiScope.THIRD_PARTY_ACCESS))]


def _result_body(hub: Services, caller: Caller, request_id: str) -> dict[str, Any]:
    found = service.result(hub, caller.party_id, request_id)
    body: dict[str, Any] = {
        "request_id": found.request_id,
        "status": found.status.value,
        "scope": found.scope.value,
        "created": found.created_at.isoformat(),
        "decided": found.decided_at.isoformat() if found.decided_at else None,
        "response": None,
    }
    if found.outcome is not None:
        assert found.party_gln is not None
        body.update(_result(found.outcome))
        body["response"] = _signed(
            hub, gln=found.party_gln, request_id=found.request_id, outcome=found.outcome
        )
    return body


@api_router.get("/requests/{request_id}", summary="Result of a URL-initiated access request")
async def get_result(request: Request, caller: ThirdPartyCaller, request_id: str) -> JSONResponse:
    return JSONResponse(
        await run_in_threadpool(_result_body, services(request), caller, request_id)
    )


ROUTERS = (api_router, pages)
