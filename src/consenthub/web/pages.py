"""Server-rendered pages: Jinja2 templates, Babel translations, language choice, CSRF.

Four languages (nb, nn, en, fi). The language is chosen by, in order: the
switcher (``?lang=``, remembered in a cookie), the OIDC ``ui_locales`` /
``LanguageCode`` the flow was started with (kept in the session), the
browser's ``Accept-Language``, and the configured default. Catalogs are the
``.po`` files under ``translations/``, compiled in memory at start-up.
"""

from __future__ import annotations

import hmac
import io
import secrets
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from consenthub.observability import correlation_id
from consenthub.services import services

LANGUAGES = ("nb", "nn", "en", "fi")
LANGUAGE_NAMES = {"nb": "Norsk bokmål", "nn": "Norsk nynorsk", "en": "English", "fi": "Suomi"}
LANGUAGE_COOKIE = "consenthub_lang"
# The 303 after a decision goes to a registered return address, which form-action
# must allow, so it admits http(s) targets besides this site.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; frame-ancestors 'none'; form-action 'self' http: https:"
)
TEMPLATES = Path(__file__).parent / "templates"
TRANSLATIONS = Path(__file__).parent.parent / "translations"


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


@cache
def translations(language: str) -> Translations:
    po_path = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return Translations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


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
    locale = "nb" if language == "nn" and not _has_locale("nn") else language
    gettext = translations(language).gettext

    def label(value: str) -> str:
        return gettext(LABELS.get(value) or value)

    env.filters["label"] = label
    env.filters["date"] = lambda value: format_date(value, format="medium", locale=locale)
    env.filters["datetime"] = lambda value, zone=None: format_datetime(
        value, format="short", tzinfo=zone, locale=locale
    )
    return env


LABELS = {
    "pending": N_("pending"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "expired": N_("expired"),
    "cancelled": N_("cancelled"),
    "Full": N_("Full"),
    "Limited": N_("Limited"),
    "meter_values": N_("Meter values"),
    "master_data": N_("Metering point details"),
    "metering_point_list": N_("List of metering points"),
}


def _has_locale(code: str) -> bool:
    try:
        Locale.parse(code)
    except (ValueError, UnknownLocaleError):
        return False
    return True


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
    page = (
        environment(language)
        .get_template(template)
        .render(
            request=request,
            lang=language,
            languages=LANGUAGE_NAMES,
            csrf=csrf_token(request),
            user=request.session.get("user"),
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


@dataclass
class PageError(Exception):
    """An error shown as a page (never a redirect): status, a title and an explanation.

    ``title`` and ``message`` are untranslated msgids (marked with ``N_``);
    ``params`` fill their ``%(name)s`` placeholders after translation.
    """

    status_code: int
    title: str
    message: str
    code: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    retry_url: str | None = None


async def page_error_handler(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, PageError)

    return render(
        request,
        "error.html",
        status_code=exc.status_code,
        title=exc.title,
        message=exc.message,
        params=exc.params,
        code=exc.code,
        retry_url=exc.retry_url,
        correlation_id=correlation_id.get(),
    )
