"""URL-initiated third-party access (seed 000, Elhub BRS-NO-624).

1. ``GET /third-party-access/authorize?client_id=<GLN>&request_id=<UUID>&scope=Full|Limited``
   (optional ``redirect_uri``) — validated before login; anything wrong is an error
   page, never a redirect to an address that is not registered.
2. The end user logs in and sees the third party, the scope in plain words and
   their metering points (``/third-party-access/requests/{id}``).
3. They approve a subset (optionally with an end date, optionally lowering Full to
   Limited) or reject; the browser gets a 303 to the registered return address with
   ``?response=<JWS>``. Errors: ``EH088`` not approved, ``EH106`` no metering point,
   ``EH098`` request_id already used, ``EH111`` internal error.
4. ``GET /api/v1/third-party-access/requests/{request_id}`` gives the party the same
   result with its bearer token.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from consenthub.domain.access_requests import Scope, Status, lowered_scope
from consenthub.domain.identifiers import InvalidIdentifier, validate_gln, validate_uuid
from consenthub.domain.parties import ApiScope, Role
from consenthub.portal.login import require_login
from consenthub.registry import store as registry
from consenthub.services import Services, services
from consenthub.third_party_access import store
from consenthub.third_party_access.response import error_result, sign_response
from consenthub.token_service.bearer import Caller, require
from consenthub.web.errors import ApiError, FieldError
from consenthub.web.pages import N_, PageError, csrf_valid, render
from consenthub.web.responses import JSONResponse

log = logging.getLogger("consenthub.third_party_access")
router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1/third-party-access", tags=["third-party access"])

_PARAMETERS = ("client_id", "request_id", "scope", "redirect_uri")


def _bad_request(message: str, **params: str) -> PageError:
    return PageError(400, N_("This link cannot be used"), message, params=params)


def _single_params(request: Request) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in _PARAMETERS:
            if name in values:
                raise _bad_request(N_("The parameter %(name)s is given more than once."), name=name)
            values[name] = value
    return values


def _resolve(hub: Services, params: dict[str, str]) -> tuple[registry.PartyRecord, str, Scope, str]:
    """Party, request_id, scope and return address, or an error page."""
    try:
        gln = validate_gln(params.get("client_id", ""))
    except InvalidIdentifier:
        raise _bad_request(N_("client_id must be the third party's GLN (13 digits).")) from None
    with hub.database.read() as conn:
        party = registry.find_by_gln(conn, gln)
        urls = registry.return_urls(conn, party.id) if party else []
    if party is None or not party.active or Role.THIRD_PARTY not in party.roles:
        raise _bad_request(N_("The third party is not registered with the hub."))
    redirect_uri = params.get("redirect_uri")
    if redirect_uri is None:
        if len(urls) != 1:
            raise _bad_request(N_("The third party must say which return address to use."))
        redirect_uri = urls[0]
    elif redirect_uri not in urls:
        raise _bad_request(N_("The return address is not registered for this third party."))
    try:
        request_id = validate_uuid(params.get("request_id", ""))
    except InvalidIdentifier:
        raise _bad_request(N_("request_id must be a UUID.")) from None
    scope_text = params.get("scope", "")
    if scope_text not in (Scope.FULL, Scope.LIMITED):
        raise _bad_request(N_("scope must be Full or Limited."))
    return party, request_id, Scope(scope_text), redirect_uri


def _return_to(redirect_uri: str, response_jws: str) -> RedirectResponse:
    parts = urlsplit(redirect_uri)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), ("response", response_jws)])
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=303)


def _send(
    hub: Services, *, gln: str, request_id: str, redirect_uri: str, result: dict[str, Any]
) -> RedirectResponse:
    jws = sign_response(
        hub.settings, hub.keys, receiver_gln=gln, request_id=request_id, result=result
    )
    return _return_to(redirect_uri, jws)


def _today(hub: Services) -> dt.date:
    return dt.datetime.now(hub.settings.zone).date()


@router.get("/third-party-access/authorize")
async def authorize(request: Request) -> Response:
    hub = services(request)
    party, request_id, scope, redirect_uri = await run_in_threadpool(
        _resolve, hub, _single_params(request)
    )
    assert party.gln is not None
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(hours=hub.settings.url_request_deadline_hours)

    def open_request() -> store.UrlRequest | None:
        with hub.database.write() as conn:
            created = store.create(
                conn,
                party_id=party.id,
                request_id=request_id,
                scope=scope,
                redirect_uri=redirect_uri,
                deadline=deadline,
            )
            if created is not None:
                return created
            existing = store.find(conn, party.id, request_id)
        # The same person coming back to a request still open continues it.
        user = request.session.get("user")
        if (
            existing is not None
            and existing.status == Status.PENDING
            and existing.scope == scope
            and existing.redirect_uri == redirect_uri
            and existing.end_user_id in (None, user and user["id"])
        ):
            return existing
        return None

    opened = await run_in_threadpool(open_request)
    if opened is None:
        return _send(
            hub,
            gln=party.gln,
            request_id=request_id,
            redirect_uri=redirect_uri,
            result={"error": error_result("EH098")},
        )
    return RedirectResponse(f"/third-party-access/requests/{opened.id}", status_code=303)


def _load_for(hub: Services, internal_id: str, end_user_id: int) -> store.UrlRequest:
    try:
        validate_uuid(internal_id)
    except InvalidIdentifier:
        raise PageError(404, N_("Request not found"), N_("There is no such request.")) from None
    with hub.database.write() as conn:
        found = store.load(conn, internal_id)
        if found is None:
            raise PageError(404, N_("Request not found"), N_("There is no such request."))
        if not store.bind_end_user(conn, internal_id, end_user_id):
            raise PageError(
                403,
                N_("This request is not yours"),
                N_("The request was opened by another person."),
            )
    return found


def _resend(hub: Services, found: store.UrlRequest) -> RedirectResponse:
    """A decided request: send the stored result again (the first redirect may have failed)."""
    result = found.response or {"error": error_result("EH088")}
    return _send(
        hub,
        gln=found.party_gln,
        request_id=found.request_id,
        redirect_uri=found.redirect_uri,
        result=result,
    )


def _page(
    request: Request,
    found: store.UrlRequest,
    points: list[store.OwnedMeteringPoint],
    status_code: int = 200,
    **extra: Any,
) -> Response:
    template = "third_party_access.html" if points else "no_metering_points.html"
    return render(
        request,
        template,
        status_code=status_code,
        req=found,
        points=points,
        today=_today(services(request)),
        **extra,
    )


@router.get("/third-party-access/requests/{internal_id}")
async def show(request: Request, internal_id: str) -> Response:
    user = require_login(request)
    if isinstance(user, RedirectResponse):
        return user
    hub = services(request)
    found = await run_in_threadpool(_load_for, hub, internal_id, user["id"])
    if found.status != Status.PENDING:
        return _resend(hub, found)

    def owned() -> list[store.OwnedMeteringPoint]:
        with hub.database.read() as conn:
            return store.current_metering_points(conn, user["id"], _today(hub))

    return _page(request, found, await run_in_threadpool(owned))


def _end_date(form: FormData, today: dt.date) -> tuple[dt.date | None, str | None]:
    text = str(form.get("end_date") or "").strip()
    if not text:
        return None, None
    try:
        end = dt.date.fromisoformat(text)
    except ValueError:
        return None, N_("Enter the date as YYYY-MM-DD.")
    if end <= today:
        return None, N_("The end date must be after today.")
    return end, None


def _decide(
    hub: Services,
    internal_id: str,
    end_user_id: int,
    action: str,
    chosen_gsrns: list[str],
    scope_choice: str | None,
    end: dt.date | None,
) -> store.UrlRequest | tuple[store.UrlRequest, dict[str, Any]]:
    """One transaction: lock the request, check it is still pending and this person's,
    then grant or refuse. Returns the result to send, or the request when it was already
    decided (a concurrent decision won)."""
    with hub.database.write() as conn:
        found = store.load(conn, internal_id, lock=True)
        if found is None or found.end_user_id != end_user_id:
            raise PageError(404, N_("Request not found"), N_("There is no such request."))
        if found.status != Status.PENDING:
            return found
        actor = f"end_user:{end_user_id}"
        today = _today(hub)
        points = store.current_metering_points(conn, end_user_id, today)
        if not points:
            result: dict[str, Any] = {"error": error_result("EH106")}
            store.refuse(conn, found, result["error"], actor)
        elif action == "approve":
            by_gsrn = {point.gsrn: point for point in points}
            chosen = [by_gsrn[gsrn] for gsrn in dict.fromkeys(chosen_gsrns)]
            scope = lowered_scope(found.scope, scope_choice)
            contracts = store.approve(conn, found, end_user_id, chosen, scope, end, today)
            result = {"scope": scope.value, "contracts": contracts}
        else:
            result = {"error": error_result("EH088")}
            store.refuse(conn, found, result["error"], actor)
    return found, result


@router.post("/third-party-access/requests/{internal_id}")
async def decide(request: Request, internal_id: str) -> Response:
    form = await request.form()
    if not csrf_valid(request, str(form.get("csrf_token") or "")):
        raise PageError(403, N_("The form has expired"), N_("Reload the page and try again."))
    user = require_login(request)
    if isinstance(user, RedirectResponse):
        return user
    hub = services(request)
    found = await run_in_threadpool(_load_for, hub, internal_id, user["id"])
    if found.status != Status.PENDING:
        return _resend(hub, found)
    action = str(form.get("action") or "")
    chosen = [str(value) for value in form.getlist("metering_point")]
    today = _today(hub)
    if action == "approve":

        def owned() -> list[store.OwnedMeteringPoint]:
            with hub.database.read() as conn:
                return store.current_metering_points(conn, user["id"], today)

        points = await run_in_threadpool(owned)
        end, end_error = _end_date(form, today)
        own = {point.gsrn for point in points}
        problem = None
        if points and not chosen:
            problem = N_("Choose at least one metering point, or reject the request.")
        elif any(gsrn not in own for gsrn in chosen):
            problem = N_("You can only give access to your own metering points.")
        if points and (problem or end_error):
            return _page(
                request,
                found,
                points,
                status_code=422,
                problem=problem,
                end_error=end_error,
                chosen=set(chosen),
                end_date=str(form.get("end_date") or ""),
            )
    elif action not in ("reject", "close"):
        raise PageError(400, N_("Unknown choice"), N_("Reload the page and try again."))
    else:
        end = None
    try:
        outcome = await run_in_threadpool(
            _decide,
            hub,
            internal_id,
            user["id"],
            action,
            chosen,
            str(form.get("scope") or "") or None,
            end,
        )
    except PageError:
        raise
    except Exception:
        # EH111: the third party hears "internal error, try again later"; the trace is logged.
        log.exception("approval failed", extra={"access_request": internal_id})
        return _send(
            hub,
            gln=found.party_gln,
            request_id=found.request_id,
            redirect_uri=found.redirect_uri,
            result={"error": error_result("EH111")},
        )
    if isinstance(outcome, store.UrlRequest):
        return _resend(hub, outcome)
    decided, result = outcome
    return _send(
        hub,
        gln=decided.party_gln,
        request_id=decided.request_id,
        redirect_uri=decided.redirect_uri,
        result=result,
    )


ThirdPartyCaller = Annotated[Caller, Depends(require(ApiScope.THIRD_PARTY_ACCESS))]


def _result(hub: Services, caller: Caller, request_id: str) -> dict[str, Any]:
    with hub.database.read() as conn:
        found = store.find(conn, caller.party_id, request_id)
    if found is None:
        raise ApiError("CH4001")
    body: dict[str, Any] = {
        "request_id": found.request_id,
        "status": found.status.value,
        "scope": found.scope.value,
        "created": found.created_at.isoformat(),
        "decided": found.decided_at.isoformat() if found.decided_at else None,
        "response": None,
    }
    if found.response is not None:
        body.update(found.response)
        body["response"] = sign_response(
            hub.settings,
            hub.keys,
            receiver_gln=found.party_gln,
            request_id=found.request_id,
            result=found.response,
        )
    return body


@api_router.get("/requests/{request_id}", summary="Result of a URL-initiated access request")
async def get_result(request: Request, caller: ThirdPartyCaller, request_id: str) -> JSONResponse:
    try:
        canonical = validate_uuid(request_id)
    except InvalidIdentifier:
        raise ApiError("CH2001", fields=[FieldError("request_id", "must be a UUID")]) from None
    return JSONResponse(await run_in_threadpool(_result, services(request), caller, canonical))
