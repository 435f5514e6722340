"""Server-rendered pages: Jinja2 templates, Babel translations, language choice, CSRF.

Five languages (nb, nn, en, fi, sv: ``consenthub.i18n``). The language is chosen
by, in order: the switcher (``?lang=``, remembered in a cookie), the OIDC
``ui_locales`` / ``LanguageCode`` the flow was started with (kept in the session),
the browser's ``Accept-Language``, and the configured default. Catalogs are the
``.po`` files under ``translations/``, shared with the mail the worker sends.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Callable, Coroutine
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_time, get_datetime_format
from fastapi import APIRouter
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from consenthub.domain.errors import Code, DomainError
from consenthub.domain.messages import N_
from consenthub.i18n import LANGUAGE_NAMES, LANGUAGES, babel_locale, translations
from consenthub.observability import correlation_id
from consenthub.web.requests import services

LANGUAGE_COOKIE = "consenthub_lang"
# The 303 after a decision goes to a registered return address, which form-action
# must allow, so it admits http(s) targets besides this site.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; frame-ancestors 'none'; form-action 'self' http: https:"
)
TEMPLATES = Path(__file__).parent / "templates"


@cache
def environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    locale = babel_locale(language)
    gettext = translations(language).gettext

    def label(value: str) -> str:
        return gettext(LABELS.get(value) or value)

    env.filters["label"] = label
    env.filters["date"] = lambda value, zone=None: format_date(
        _local(value, zone), format="medium", locale=locale
    )
    env.filters["isodate"] = dt.date.fromisoformat
    env.filters["datetime"] = lambda value, zone=None: _date_and_time(value, zone, locale)
    return env


def _local(value: dt.date, zone: dt.tzinfo | None) -> dt.date:
    """A date as it is; an instant as the date and time it is in ``zone`` (naive: UTC)."""
    if not isinstance(value, dt.datetime):
        return value
    instant = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return instant.astimezone(zone) if zone else instant


def _date_and_time(value: dt.datetime, zone: dt.tzinfo | None, locale: str) -> str:
    """One format for instants on every page: the language's medium date (the one dates
    alone use too) and its short time, joined as the language joins them ("2. des. 2026,
    17:09", "Dec 2, 2026, 5:09 PM", "2.12.2026 17.09")."""
    instant = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    local = instant.astimezone(zone) if zone else instant
    return (
        str(get_datetime_format("medium", locale=locale))
        .replace("'", "")
        .replace("{1}", format_date(local, format="medium", locale=locale))
        .replace("{0}", format_time(local, format="short", locale=locale))
    )


LABELS = {
    "pending": N_("pending"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "expired": N_("expired"),
    "cancelled": N_("cancelled"),
    "closed": N_("closed: you had no metering point to give access to"),
    "Full": N_("Full"),
    "Limited": N_("Limited"),
    "meter_values": N_("Meter values"),
    "master_data": N_("Metering point details"),
    "metering_point_list": N_("List of metering points"),
}


def _normalise(tag: str) -> str | None:
    primary = tag.strip().lower().replace("_", "-").split("-")[0]
    if primary == "no":
        return "nb"
    return primary if primary in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        language = _normalise(tag)
        if language and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else None


def first_supported(locales: str | None) -> str | None:
    """First supported language of a space-separated list (``ui_locales``, ``LanguageCode``)."""
    for tag in (locales or "").split():
        language = _normalise(tag)
        if language:
            return language
    return None


def choose_language(request: Request) -> str:
    switched = request.query_params.get("lang")
    if switched in LANGUAGES:
        return switched
    cookie = request.cookies.get(LANGUAGE_COOKIE)
    if cookie in LANGUAGES:
        return cookie
    session_language = request.session.get("ui_locales")
    if session_language in LANGUAGES:
        return str(session_language)
    return from_accept_language(request.headers.get("accept-language")) or (
        services(request).settings.default_language
    )


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


def csrf_valid(request: Request, submitted: str | None) -> bool:
    expected = request.session.get("csrf")
    return bool(expected and submitted and hmac.compare_digest(str(expected), submitted))


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    language = choose_language(request)
    settings = services(request).settings
    context.setdefault("zone", settings.zone)
    page = (
        environment(language)
        .get_template(template)
        .render(
            request=request,
            lang=language,
            languages=LANGUAGE_NAMES,
            csrf=csrf_token(request),
            user=request.session.get("user"),
            hub_name=settings.hub_name,
            **context,
        )
    )
    response = HTMLResponse(
        page,
        status_code=status_code,
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=365 * 86400,
            httponly=True,
            samesite="lax",
            secure=services(request).settings.secure_cookies,
        )
    return response


# Where a person can try again after an error, by code.
_RETRY_URLS = {Code.LOGIN_FAILED: "/login"}


def error_page(request: Request, exc: DomainError, **more: Any) -> HTMLResponse:
    """The error as a page (never a redirect): the catalog's title for the code, the
    error's explanation (an untranslated msgid) or the catalog's message; ``more`` is
    what the page offers besides (``way_back``: a form back to the third party)."""
    spec = exc.spec
    page = render(
        request,
        "error.html",
        status_code=spec.status,
        title=spec.page_title or spec.message_en,
        message=exc.detail or spec.message_en,
        params=exc.params,
        code=spec.code.value,
        retry_url=_RETRY_URLS.get(exc.code),
        correlation_id=correlation_id.get(),
        **more,
    )
    # RFC 9110 §10.2.3: how long to wait before trying again (the database unavailable).
    if exc.retry_after is not None:
        page.headers["Retry-After"] = str(exc.retry_after)
    return page


class PageRoute(APIRoute):
    """A route whose ``DomainError`` is answered as a page, not as a JSON body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except DomainError as exc:
                return error_page(request, exc)

        return page_handler


# ``openapi_extra`` key of a page that belongs in the OpenAPI document (the public pages
# a third party links to); its value: the page's query parameters as (name, required,
# description). ``web/direct.py`` adds them to the document.
PAGE = "x-page"


def page_router() -> APIRouter:
    """A router for pages: not in the OpenAPI document, errors shown as pages."""
    return APIRouter(include_in_schema=False, route_class=PageRoute)
