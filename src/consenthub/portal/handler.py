"""Min side: the end user's pending requests, grants, history and access log (SPEC §9)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from consenthub.portal import store
from consenthub.portal.login import require_login
from consenthub.services import services
from consenthub.web.pages import N_, PageError, csrf_valid, render

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> Response:
    return RedirectResponse("/minside", status_code=303)


@router.get("/minside")
async def overview(request: Request) -> Response:
    user = require_login(request)
    if isinstance(user, RedirectResponse):
        return user
    hub = services(request)
    today = dt.datetime.now(hub.settings.zone).date()

    def load() -> store.Overview:
        with hub.database.read() as conn:
            return store.overview(conn, user["id"], today)

    return render(
        request,
        "minside.html",
        view=await run_in_threadpool(load),
        zone=hub.settings.zone,
        notice=request.query_params.get("notice"),
    )


@router.post("/minside/grants/{grant_id}/end")
async def end_grant(request: Request, grant_id: int, csrf_token: str = Form("")) -> Response:
    if not csrf_valid(request, csrf_token):
        raise PageError(403, N_("The form has expired"), N_("Reload the page and try again."))
    user = require_login(request)
    if isinstance(user, RedirectResponse):
        return user
    hub = services(request)
    today = dt.datetime.now(hub.settings.zone).date()

    def end() -> bool:
        with hub.database.write() as conn:
            return store.end_grant(conn, grant_id, user["id"], today)

    if not await run_in_threadpool(end):
        raise PageError(404, N_("Access not found"), N_("There is no such access to end."))
    return RedirectResponse("/minside?notice=ended", status_code=303)
