"""End-user login with OpenID Connect: authorization code flow with PKCE (S256), nonce
and state, against the configured provider (ID-porten in production; the demo and
the tests run a local provider process). The national identity number comes from
the ``pid`` claim (configurable) and is kept in the database, never in the session
cookie or a URL: the session holds the internal end-user id.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.starlette_client import OAuthError
from fastapi import Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from consenthub import access_requests
from consenthub.domain.access import Process, Status
from consenthub.domain.errors import Code, DomainError
from consenthub.domain.messages import N_
from consenthub.login import service
from consenthub.oidc import PROVIDER
from consenthub.services import Services
from consenthub.web.pages import csrf_valid, error_page, first_supported, page_router, render
from consenthub.web.requests import services

log = logging.getLogger("consenthub.login")
router = page_router()
ROUTERS = (router,)
# The decision page a login began from (the ``next`` that ``require_login`` kept).
_REQUEST_PAGE = re.compile(r"/minside/requests/([A-Za-z0-9-]{1,64})")
# OpenID Connect's answer when the person cancelled at the provider (RFC 6749 §4.1.2.1).
_CANCELLED = "access_denied"


def local_path(candidate: str | None) -> str:
    """Only a path on this site may be a post-login target (no open redirect)."""
    if (
        not candidate
        or not candidate.startswith("/")
        or candidate.startswith("//")
        or "\\" in candidate
    ):
        return "/minside"
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return "/minside"
    return candidate


def require_login(request: Request) -> dict[str, Any] | RedirectResponse:
    user = request.session.get("user")
    if user:
        return dict(user)
    request.session["next"] = local_path(
        request.url.path + (f"?{request.url.query}" if request.url.query else "")
    )
    return RedirectResponse("/login", status_code=303)


def _client(hub: Services) -> Any:
    client = hub.oauth.create_client(PROVIDER)
    if client is None:
        raise DomainError(
            Code.LOGIN_UNAVAILABLE, N_("No login provider is configured for this hub.")
        )
    return client


@router.get("/login")
async def login(request: Request) -> Response:
    hub = services(request)
    client = _client(hub)
    redirect_uri = f"{hub.settings.base_url}/login/callback"
    extra: dict[str, str] = {}
    language = request.session.get("ui_locales") or request.cookies.get("consenthub_lang")
    if language:
        extra["ui_locales"] = str(language)
    if hub.settings.oidc_acr_values:
        extra["acr_values"] = hub.settings.oidc_acr_values
    try:
        return await client.authorize_redirect(request, redirect_uri, **extra)  # type: ignore[no-any-return]
    except Exception:
        log.exception("login provider unreachable")
        raise DomainError(
            Code.LOGIN_UNAVAILABLE, N_("The login provider cannot be reached. Try again later.")
        ) from None


@router.get("/login/callback")
async def callback(request: Request) -> Response:
    hub = services(request)
    client = _client(hub)
    try:
        token = await client.authorize_access_token(request)
    except OAuthError as exc:
        log.info("login failed", extra={"error": exc.error, "description": exc.description})
        failed = DomainError(
            Code.LOGIN_FAILED, N_("The login was cancelled or could not be completed.")
        )
        return error_page(request, failed, way_back=await _way_back(request, hub, exc.error))
    claims: dict[str, Any] = dict(token.get("userinfo") or {})
    person = await run_in_threadpool(service.log_in, hub, claims)
    target = local_path(request.session.pop("next", None))
    ui_locales = request.session.get("ui_locales")
    request.session.clear()  # a fresh session at privilege change
    request.session["user"] = {
        "id": person.end_user_id,
        "name": person.name,
        "masked": person.masked_id,
    }
    if ui_locales:
        request.session["ui_locales"] = ui_locales
    elif first_supported(claims.get("locale")):
        request.session["ui_locales"] = first_supported(claims.get("locale"))
    log.info("end user logged in", extra={"end_user_id": person.end_user_id})
    return RedirectResponse(target, status_code=303)


async def _way_back(request: Request, hub: Services, error: str | None) -> dict[str, Any] | None:
    """When the failed login began from a BRS-NO-624 link that is still open: the form
    that takes the person back to the third party, which hears ``EH088`` when the person
    cancelled at the provider and ``EH111`` for any other failure (a state that does not
    match, the provider's error)."""
    started = _REQUEST_PAGE.fullmatch(str(request.session.get("next") or ""))
    if started is None:
        return None
    found = await run_in_threadpool(access_requests.get, hub, started.group(1))
    if found is None or found.process is not Process.URL or found.status is not Status.PENDING:
        return None
    code = Code.EH088 if error == _CANCELLED else Code.EH111
    return {
        "url": f"/third-party-access/requests/{found.id}/abandon",
        "fields": {"code": code.value},
        "party": found.party_name,
    }


@router.post("/logout")
async def logout(request: Request, csrf_token: str = Form("")) -> Response:
    if not csrf_valid(request, csrf_token):
        raise DomainError(Code.FORM_EXPIRED, N_("Reload the page and try again."))
    request.session.clear()
    return RedirectResponse("/logged-out", status_code=303)


@router.get("/logged-out")
async def logged_out(request: Request) -> Response:
    """Where logging out ends: it says so, and offers a new login (not the provider's
    login page straight away)."""
    return render(request, "logged_out.html")
