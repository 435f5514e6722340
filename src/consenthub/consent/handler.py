"""HTTP of Altinn consent (seed 002).

1. ``GET /consent/request?Resources=…&CoveredBy=…&RedirectUrl=…&ValidToDate=…&…`` — the
   consumer's link, judged before login; anything wrong is an error page naming the
   parameter, never a redirect. A valid link becomes a pending request and the browser
   goes on to its page, whose address carries no identity number.
2. ``/consent/requests/{id}`` — after login, the consent page in the requested language;
   accept or decline. The browser then gets a 303 to ``RedirectUrl`` with
   ``AuthorizationCode=<code>&Status=OK``, or ``Status=Failed&ErrorMessage=…``.
3. ``POST /sts/Token`` with ``grant_type=authorization_code`` (``TOKEN_EXTENSION``):
   the code for a consent token; a fresh one later with RFC 9396
   ``authorization_details``.
4. Min side ``/minside/consents``: the person's consents, and withdrawing one.
5. ``POST /api/v1/consent-requests`` (bearer, scope ``consent``): the same request by
   API under the consumer's own ``id`` — 201 with ``Location`` when new, 200 for an
   ``id`` used before — and ``GET /api/v1/consent-requests/{id}``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from fastapi import APIRouter, Depends, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from consenthub.consent import service
from consenthub.domain.consent import AUTHORIZATION_DETAILS_TYPE
from consenthub.domain.errors import Code, DomainError
from consenthub.domain.messages import N_
from consenthub.domain.parties import ApiScope
from consenthub.login import require_login
from consenthub.portal import parties
from consenthub.services import Services
from consenthub.token_service import Caller, TokenExtension, require
from consenthub.web.pages import PAGE, csrf_valid, page_router, render
from consenthub.web.requests import services
from consenthub.web.responses import JSONResponse

pages = page_router()
api = APIRouter(prefix="/api/v1/consent-requests", tags=["consent requests"])
ConsumerCaller = Annotated[Caller, Depends(require(ApiScope.CONSENT))]
MAX_BODY_BYTES = 64 * 1024
_EXAMPLE = {
    "id": "6f1c1c1e-4b5e-4f0e-9a49-5d0c7f0b6a11",
    "Resources": "5252_1",
    "RedirectUrl": "https://forsikring.example.no/samtykke/svar",
    "ValidToDate": "2027-06-30 23:59:59",
    "LanguageCode": "nb-NO",
    "DelegationContext": "NAVN_SELSKAP trenger visse personopplysninger om deg fra NAV.",
    "5252_1_fraOgMed": "01.01.2026",
    "5252_1_tilOgMed": "31.12.2026",
}
# Altinn's ErrorMessage when the person declines.
DECLINED_MESSAGE = "The end user declined the consent request"


def _return_to(redirect_url: str, **answer: str) -> RedirectResponse:
    parts = urlsplit(redirect_url)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *answer.items()])
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=303)


@pages.get(
    "/consent/request",
    summary="Seed 002: the consent link a consent consumer sends a person to",
    description="Validated parameter by parameter; anything wrong is an error page naming it.",
    openapi_extra={
        PAGE: [
            ("Resources", True, "Comma-separated registered resources"),
            ("CoveredBy", True, "The consumer's organisation number"),
            ("OfferedBy", False, "The person's national id or an organisation number"),
            ("RedirectUrl", True, "An https address of the consumer"),
            ("ValidToDate", True, "When the consent ends"),
            ("ResponseType", True, "code"),
            ("LanguageCode", False, "nb, nn or en"),
            ("DelegationContext", False, "The purpose text's parameters"),
            ("UserToken", False, "Binds the request to one person"),
        ]
    },
)
async def consent_request(request: Request) -> Response:
    hub = services(request)
    link = await run_in_threadpool(service.resolve_request, hub, request.query_params.multi_items())
    internal_id = await run_in_threadpool(service.create_request, hub, link)
    if link.language:
        # Seed 002: LanguageCode chooses the page's language, through login too.
        request.session["ui_locales"] = link.language
    return RedirectResponse(f"/consent/requests/{internal_id}", status_code=303)


async def _logged_in_person(request: Request, internal_id: str) -> int | Response:
    """The person, if logged in as the one the link's ``UserToken`` names; otherwise the
    way to (a new) login, which comes back here."""
    user = require_login(request)
    if isinstance(user, RedirectResponse):
        return user
    end_user_id = int(user["id"])
    if not await run_in_threadpool(service.is_for, services(request), internal_id, end_user_id):
        language = request.session.get("ui_locales")
        request.session.clear()
        if language:
            request.session["ui_locales"] = language
        # Seed 002: "blir brukeren bedt om å logge inn på nytt".
        again = require_login(request)
        assert isinstance(again, RedirectResponse)  # the session was just cleared
        return again
    return end_user_id


@pages.get("/consent/requests/{internal_id}")
async def show_consent(request: Request, internal_id: str) -> Response:
    person = await _logged_in_person(request, internal_id)
    if isinstance(person, Response):
        return person
    hub = services(request)
    view = await run_in_threadpool(service.open_request, hub, internal_id, person)
    consumer = await run_in_threadpool(parties, hub, [view.request.party_id])
    return render(
        request, "consent/request.html", view=view, parties=consumer, zone=hub.settings.zone
    )


@pages.post("/consent/requests/{internal_id}")
async def answer_consent(
    request: Request, internal_id: str, csrf_token: str = Form(""), action: str = Form("")
) -> Response:
    if not csrf_valid(request, csrf_token):
        raise DomainError(Code.FORM_EXPIRED, N_("Reload the page and try again."))
    if action not in ("accept", "decline"):
        raise DomainError(Code.UNKNOWN_CHOICE, N_("Reload the page and try again."))
    person = await _logged_in_person(request, internal_id)
    if isinstance(person, Response):
        return person
    answered = await run_in_threadpool(
        service.answer, services(request), internal_id, person, action == "accept"
    )
    if answered.code is None:
        return _return_to(answered.redirect_url, Status="Failed", ErrorMessage=DECLINED_MESSAGE)
    return _return_to(answered.redirect_url, AuthorizationCode=answered.code, Status="OK")


@pages.get("/minside/consents")
async def list_consents(request: Request) -> Response:
    user = require_login(request)
    if isinstance(user, RedirectResponse):
        return user
    hub = services(request)
    found = await run_in_threadpool(service.consents_of, hub, int(user["id"]))
    consumers = await run_in_threadpool(parties, hub, [item.consent.party_id for item in found])
    return render(
        request,
        "consent/list.html",
        consents=found,
        parties=consumers,
        zone=hub.settings.zone,
        notice=request.query_params.get("notice"),
    )


@pages.get("/minside/consents/{consent_id}/withdraw")
async def confirm_withdraw(request: Request, consent_id: str) -> Response:
    user = require_login(request)
    if isinstance(user, RedirectResponse):
        return user
    hub = services(request)
    found = await run_in_threadpool(service.live_consent_of, hub, consent_id, int(user["id"]))
    consumer = await run_in_threadpool(parties, hub, [found.consent.party_id])
    return render(
        request, "consent/withdraw.html", item=found, parties=consumer, zone=hub.settings.zone
    )


@pages.post("/minside/consents/{consent_id}/withdraw")
async def withdraw(request: Request, consent_id: str, csrf_token: str = Form("")) -> Response:
    if not csrf_valid(request, csrf_token):
        raise DomainError(Code.FORM_EXPIRED, N_("Reload the page and try again."))
    user = require_login(request)
    if isinstance(user, RedirectResponse):
        return user
    await run_in_threadpool(service.withdraw, services(request), consent_id, int(user["id"]))
    return RedirectResponse("/minside/consents?notice=withdrawn", status_code=303)


TOKEN_EXTENSION = TokenExtension(
    grant_type="authorization_code",
    authorization_details_type=AUTHORIZATION_DETAILS_TYPE,
    issue_from_grant=service.exchange_code,
    issue_from_details=service.fresh_token,
    introspect=service.introspect,
)


def _api_view(hub: Services, found: service.ApiRequest) -> dict[str, Any]:
    request = found.request
    return {
        "id": request.request_id,
        "status": request.status.value,
        "viewUri": f"{hub.settings.base_url}/consent/requests/{request.id}",
        "resources": request.details[service.RESOURCES],
        "validTo": request.details[service.VALID_TO],
        "expiresAt": request.deadline.isoformat() if request.deadline else None,
        "created": request.created_at.isoformat(),
        "decided": request.decided_at.isoformat() if request.decided_at else None,
        "consentId": found.consent_id,
    }


def _document(body: bytes) -> dict[str, str]:
    if len(body) > MAX_BODY_BYTES:
        raise DomainError(Code.TOO_LARGE, f"the request is larger than {MAX_BODY_BYTES} bytes")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise DomainError.invalid("body", "must be a JSON object") from None
    if not isinstance(document, dict) or not all(
        isinstance(value, str) for value in document.values()
    ):
        raise DomainError.invalid("body", "must be a JSON object of string values")
    return document


@api.post(
    "",
    summary="Altinn consent: ask a person for consent (the link's parameters as JSON)",
    status_code=201,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"example": _EXAMPLE}}}
    },
    responses={
        200: {"description": "The request made before with this id"},
        201: {"description": "Created: send the person to viewUri"},
    },
)
async def create_by_api(request: Request, caller: ConsumerCaller) -> JSONResponse:
    hub = services(request)
    document = _document(await request.body())
    request_id = document.pop("id", "")
    found, created = await run_in_threadpool(
        service.create_from_api, hub, caller.client_id, request_id, document
    )
    view = _api_view(hub, found)
    if not created:
        return JSONResponse(view)
    return JSONResponse(view, status_code=201, headers={"Location": f"{api.prefix}/{view['id']}"})


@api.get("/{request_id}", summary="One of the consumer's consent requests")
async def get_by_api(request: Request, caller: ConsumerCaller, request_id: str) -> JSONResponse:
    hub = services(request)
    found = await run_in_threadpool(service.of_consumer, hub, caller.party_id, request_id)
    return JSONResponse(_api_view(hub, found))


ROUTERS = (pages, api)
