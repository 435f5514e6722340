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
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from consenthub.consent import service
from consenthub.domain.access import Status
from consenthub.domain.consent import AUTHORIZATION_DETAILS_TYPE
from consenthub.domain.errors import Code, DomainError
from consenthub.domain.messages import N_
from consenthub.login import require_login
from consenthub.token_service import TokenExtension
from consenthub.web.pages import csrf_valid, page_router, render
from consenthub.web.requests import services

pages = page_router()
# Altinn's ErrorMessage when the person declines.
DECLINED_MESSAGE = "The end user declined the consent request"


def _return_to(redirect_url: str, **answer: str) -> RedirectResponse:
    parts = urlsplit(redirect_url)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *answer.items()])
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=303)


@pages.get("/consent/request")
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
    view = await run_in_threadpool(service.open_request, services(request), internal_id, person)
    if view.request.status is not Status.PENDING:
        if view.request.status is Status.EXPIRED:
            raise DomainError(
                Code.REQUEST_EXPIRED, N_("The request passed its deadline before it was answered.")
            )
        raise DomainError(
            Code.REQUEST_CLOSED, N_("This request has already been answered or withdrawn.")
        )
    return render(request, "consent/request.html", view=view, zone=services(request).settings.zone)


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
    return render(
        request,
        "consent/list.html",
        consents=found,
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
    return render(request, "consent/withdraw.html", item=found, zone=hub.settings.zone)


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

ROUTERS = (pages,)
