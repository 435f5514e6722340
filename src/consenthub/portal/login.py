"""End-user login with OpenID Connect: authorization code flow with PKCE (S256), nonce
and state, against the configured provider (ID-porten in production; the demo and
the tests run a local provider process). The national identity number comes from
the ``pid`` claim (configurable) and is kept in the database, never in the session
cookie or a URL: the session holds the internal end-user id.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.starlette_client import OAuthError
from fastapi import APIRouter, Form, Request
from sqlalchemy import Connection, insert, select, update
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from consenthub.domain.identifiers import (
    InvalidIdentifier,
    mask_national_id,
    validate_end_user_id,
)
from consenthub.portal.oidc import PROVIDER
from consenthub.services import Services, services
from consenthub.store.tables import EndUser, string_length
from consenthub.web.pages import N_, PageError, csrf_valid, first_supported

log = logging.getLogger("consenthub.login")
router = APIRouter(include_in_schema=False)


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
        raise PageError(
            503, N_("Login is not available"), N_("No login provider is configured for this hub.")
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
        raise PageError(
            503,
            N_("Login is not available"),
            N_("The login provider cannot be reached. Try again later."),
        ) from None


_NAME_LENGTH = string_length(EndUser.__table__.c.name)


def display_name(claim: object) -> str | None:
    """The ``name`` claim fit to show and store: control characters and lone surrogates
    (which PostgreSQL or the UTF-8 encoder refuse) become spaces, whitespace runs one
    space, cut to the column's length; None when nothing is left. The provider is
    trusted with who the person is, not with the shape of a display name."""
    if not isinstance(claim, str):
        return None
    printable = "".join(
        " " if unicodedata.category(char) in ("Cc", "Cs") else char for char in claim
    )
    name = " ".join(printable.split())[:_NAME_LENGTH].rstrip()
    return name or None


def _upsert_end_user(conn: Connection, national_id: str, kind: str, name: str | None) -> int:
    existing = conn.execute(
        select(EndUser.id).where(EndUser.national_id == national_id)
    ).scalar_one_or_none()
    if existing is not None:
        if name:
            conn.execute(update(EndUser).where(EndUser.id == existing).values(name=name))
        return int(existing)
    return int(
        conn.execute(
            insert(EndUser)
            .values(national_id=national_id, kind=kind, name=name)
            .returning(EndUser.id)
        ).scalar_one()
    )


@router.get("/login/callback")
async def callback(request: Request) -> Response:
    hub = services(request)
    client = _client(hub)
    try:
        token = await client.authorize_access_token(request)
    except OAuthError as exc:
        log.info("login failed", extra={"error": exc.error, "description": exc.description})
        raise PageError(
            400,
            N_("Login failed"),
            N_("The login was cancelled or could not be completed."),
            retry_url="/login",
        ) from None
    claims: dict[str, Any] = dict(token.get("userinfo") or {})
    raw_id = claims.get(hub.settings.oidc_national_id_claim)
    try:
        national_id, kind = validate_end_user_id(
            str(raw_id or ""), allow_synthetic=hub.settings.allow_synthetic_ids
        )
    except InvalidIdentifier:
        log.warning(
            "login without a valid national identity number",
            extra={"claim": hub.settings.oidc_national_id_claim},
        )
        raise PageError(
            403,
            N_("Login failed"),
            N_("Your login did not identify you with a national identity number."),
        ) from None
    name = display_name(claims.get("name"))

    def store() -> int:
        with hub.database.write() as conn:
            return _upsert_end_user(conn, national_id, kind.value, name)

    end_user_id = await run_in_threadpool(store)
    target = local_path(request.session.pop("next", None))
    ui_locales = request.session.get("ui_locales")
    request.session.clear()  # a fresh session at privilege change
    request.session["user"] = {
        "id": end_user_id,
        "name": name,
        "masked": mask_national_id(national_id),
    }
    if ui_locales:
        request.session["ui_locales"] = ui_locales
    elif first_supported(claims.get("locale")):
        request.session["ui_locales"] = first_supported(claims.get("locale"))
    log.info("end user logged in", extra={"end_user_id": end_user_id})
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
async def logout(request: Request, csrf_token: str = Form("")) -> Response:
    if not csrf_valid(request, csrf_token):
        raise PageError(403, N_("The form has expired"), N_("Reload the page and try again."))
    request.session.clear()
    return RedirectResponse("/", status_code=303)
