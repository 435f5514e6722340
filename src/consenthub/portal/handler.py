"""Min side (SPEC §9): the person's pending requests, grants, history and access log; the
one decision page for a pending request of any process; ending a grant.

A process whose requests are decided here supplies a ``DecisionFlow``: its wording,
what the person may change, and what happens after the answer (BRS-NO-624 sends the
browser back to the third party; others return to Min side).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from consenthub import access_requests, grants
from consenthub.access_requests import AccessRequest, Answer, DecisionView
from consenthub.domain.access import Decision, Process, Status
from consenthub.domain.errors import Code, DomainError, FieldError
from consenthub.domain.messages import N_
from consenthub.login import require_login
from consenthub.portal import service
from consenthub.web.pages import csrf_valid, error_page, page_router, render
from consenthub.web.requests import services

log = logging.getLogger("consenthub.portal")
router = page_router()

Respond = Callable[[Request, AccessRequest], Awaitable[Response]]


@dataclass(frozen=True)
class DecisionFlow:
    """What a process supplies to the decision page."""

    process: Process
    # Template with the process's own words: what is asked and why.
    wording: str
    lets_person_lower_scope: bool
    lets_person_choose_end: bool
    # The answer after the person's decision.
    answered: Respond
    # The answer when the person opens (or answers) a request that is no longer pending.
    closed: Respond
    # The answer when the decision failed unexpectedly (EH111).
    failed: Respond
    # Template with what the request asks of one metering point, shown under it.
    point_note: str | None = None
    # The person came from the third party's page and may go back to it: a request opened
    # after it was answered says so, with a button that sends the answer again.
    returns_to_party: bool = False


async def back_to_minside(_request: Request, _answered: AccessRequest) -> Response:
    """After an answer to a request that has no third party's page to return to."""
    return RedirectResponse("/minside?notice=answered", status_code=303)


def _closed_error(closed: AccessRequest) -> DomainError:
    if closed.status is Status.EXPIRED:
        return DomainError(
            Code.REQUEST_EXPIRED, N_("The request passed its deadline before it was answered.")
        )
    return DomainError(
        Code.REQUEST_CLOSED, N_("This request has already been answered or withdrawn.")
    )


async def closed_page(_request: Request, closed: AccessRequest) -> Response:
    """A request no longer pending, said as a page: expired, or answered or withdrawn."""
    raise _closed_error(closed)


async def failed_page(_request: Request, _failed: AccessRequest) -> Response:
    raise DomainError(Code.EH111, N_("Something went wrong on our side. Try again later."))


def _flow(request: Request, process: Process) -> DecisionFlow:
    flows: dict[Process, DecisionFlow] = request.app.state.decision_flows
    return flows.get(process) or DecisionFlow(
        process,
        "decision/generic.html",
        lets_person_lower_scope=False,
        lets_person_choose_end=False,
        answered=back_to_minside,
        closed=closed_page,
        failed=failed_page,
    )


@router.get("/")
async def landing(request: Request) -> Response:
    """Min side's front page: whose service it is, what it is for, and the way to log in
    (a person who is logged in goes on to Min side)."""
    if request.session.get("user"):
        return RedirectResponse("/minside", status_code=303)
    return render(request, "landing.html")


@router.get("/minside")
async def overview(request: Request) -> Response:
    user = require_login(request)
    if isinstance(user, RedirectResponse):
        return user
    hub = services(request)
    return render(
        request,
        "minside.html",
        view=await run_in_threadpool(service.overview, hub, user["id"]),
        zone=hub.settings.zone,
        notice=request.query_params.get("notice"),
    )


async def _decision_page(
    request: Request,
    view: DecisionView,
    flow: DecisionFlow,
    *,
    problems: tuple[FieldError, ...] = (),
    form: dict[str, Any] | None = None,
) -> Response:
    template = "decision.html" if view.offered else "no_metering_points.html"
    party_id = view.request.party_id
    parties = await run_in_threadpool(service.parties, services(request), [party_id])
    return render(
        request,
        template,
        status_code=422 if problems else 200,
        view=view,
        req=view.request,
        party=parties.get(party_id),
        flow=flow,
        today=services(request).today(),
        zone=services(request).settings.zone,
        problems={problem.field: problem.rule for problem in problems},
        chosen=set((form or {}).get("chosen", ())),
        end_date=(form or {}).get("end_date", ""),
    )


@router.get("/minside/requests/{internal_id}")
async def show_request(request: Request, internal_id: str) -> Response:
    user = require_login(request)
    if isinstance(user, RedirectResponse):
        return user
    view = await run_in_threadpool(
        access_requests.open_for, services(request), internal_id, user["id"]
    )
    flow = _flow(request, view.request.process)
    if view.request.status is not Status.PENDING:
        if flow.returns_to_party:
            return await _closed_with_way_back(request, view.request)
        return await flow.closed(request, view.request)
    return await _decision_page(request, view, flow)


async def _closed_with_way_back(request: Request, closed: AccessRequest) -> Response:
    """A request already answered (or expired) says so, and offers the way back to the
    third party: the form asks the flow to send the answer again."""
    return error_page(
        request,
        _closed_error(closed),
        way_back={
            "url": f"/minside/requests/{closed.id}",
            "fields": {"action": "close"},
            "party": closed.party_name,
        },
    )


def _answer(action: str, form: Any) -> Answer:
    decisions = {"approve": Decision.APPROVE, "reject": Decision.REJECT, "close": Decision.REJECT}
    if action not in decisions:
        raise DomainError(Code.UNKNOWN_CHOICE, N_("Reload the page and try again."))
    return Answer(
        decisions[action],
        chosen=[str(value) for value in form.getlist("metering_point")],
        scope=str(form.get("scope") or "") or None,
        end_date=str(form.get("end_date") or ""),
    )


@router.post("/minside/requests/{internal_id}")
async def decide(request: Request, internal_id: str) -> Response:
    form = await request.form()
    if not csrf_valid(request, str(form.get("csrf_token") or "")):
        raise DomainError(Code.FORM_EXPIRED, N_("Reload the page and try again."))
    user = require_login(request)
    if isinstance(user, RedirectResponse):
        return user
    hub = services(request)
    answer = _answer(str(form.get("action") or ""), form)
    try:
        decided = await run_in_threadpool(
            access_requests.decide, hub, internal_id, user["id"], answer
        )
    except DomainError as exc:
        if exc.code is not Code.INVALID_FIELDS:
            raise
        view = await run_in_threadpool(access_requests.open_for, hub, internal_id, user["id"])
        flow = _flow(request, view.request.process)
        if view.request.status is not Status.PENDING:
            return await flow.closed(request, view.request)
        return await _decision_page(
            request,
            view,
            flow,
            problems=exc.fields,
            form={"chosen": answer.chosen, "end_date": answer.end_date},
        )
    except Exception:
        # EH111: the third party hears "internal error, try again later"; the trace is logged.
        log.exception("decision failed", extra={"access_request": internal_id})
        view = await run_in_threadpool(access_requests.open_for, hub, internal_id, user["id"])
        return await _flow(request, view.request.process).failed(request, view.request)
    flow = _flow(request, decided.request.process)
    if not decided.decided_now:
        return await flow.closed(request, decided.request)
    return await flow.answered(request, decided.request)


@router.get("/minside/access-log")
async def access_log(request: Request) -> Response:
    """Every read of the person's data, newest first, a page at a time; of one third party
    or one metering point when the person filters (a plain GET form: no script needed)."""
    user = require_login(request)
    if isinstance(user, RedirectResponse):
        return user
    query = request.query_params
    only = {"party": query.get("party") or "", "metering_point": query.get("metering_point") or ""}
    log_page = await run_in_threadpool(
        lambda: service.access_log_page(
            services(request),
            user["id"],
            page=query.get("page"),
            party=only["party"],
            gsrn=only["metering_point"],
        )
    )
    filters = {name: value for name, value in only.items() if value}

    def page_url(number: int) -> str:
        return "/minside/access-log?" + urlencode({**filters, "page": number})

    return render(
        request,
        "access_log.html",
        log=log_page,
        newer_url=page_url(log_page.page - 1) if log_page.page > 1 else None,
        older_url=page_url(log_page.page + 1) if log_page.page < log_page.pages else None,
    )


@router.get("/minside/grants/{grant_id}/end")
async def confirm_end_grant(request: Request, grant_id: int) -> Response:
    user = require_login(request)
    if isinstance(user, RedirectResponse):
        return user
    hub = services(request)
    grant = await run_in_threadpool(grants.end_user_grant, hub, grant_id, user["id"])
    parties = await run_in_threadpool(service.parties, hub, [grant.party_id])
    return render(
        request,
        "end_grant.html",
        grant=grant,
        party=parties.get(grant.party_id),
        today=hub.today(),
    )


@router.post("/minside/grants/{grant_id}/end")
async def end_grant(request: Request, grant_id: int, csrf_token: str = Form("")) -> Response:
    if not csrf_valid(request, csrf_token):
        raise DomainError(Code.FORM_EXPIRED, N_("Reload the page and try again."))
    user = require_login(request)
    if isinstance(user, RedirectResponse):
        return user
    await run_in_threadpool(grants.end_by_end_user, services(request), grant_id, user["id"])
    return RedirectResponse("/minside?notice=ended", status_code=303)


@router.post("/minside/sessions/end")
async def end_all_sessions(request: Request, csrf_token: str = Form("")) -> Response:
    """ "Log out on all devices": every session of the person ends, this one too."""
    if not csrf_valid(request, csrf_token):
        raise DomainError(Code.FORM_EXPIRED, N_("Reload the page and try again."))
    user = require_login(request)
    if isinstance(user, RedirectResponse):
        return user
    await run_in_threadpool(service.end_all_sessions, services(request), user["id"])
    request.session.clear()
    return RedirectResponse("/logged-out", status_code=303)


ROUTERS = (router,)
