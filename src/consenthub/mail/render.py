"""A mail in its recipient's language: Jinja2 templates under ``templates/`` (each mail as
``<template>.txt`` and ``<template>.html``; HTML autoescaped), the portal's Babel
catalogs, dates in the language's own format and instants in the hub's time zone.

What a template shows is read from the mail's context here, by name and type, so a
template never meets a value it does not expect. Anything shaped like a national
identity number is masked in every part, as in the logs: the seller's free text
(reason, description) is the one way such a number could get into a mail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time, get_datetime_format
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from consenthub.config import Settings
from consenthub.domain.messages import N_
from consenthub.i18n import LANGUAGES, babel_locale, translations
from consenthub.mail.message import Mail, MailError, RenderedMail
from consenthub.observability import mask_personal_ids

TEMPLATES = Path(__file__).parent / "templates"
# Every mail the hub sends, by template, with its subject.
SUBJECTS = {
    "authorization_request_notice": N_("%(party)s asks for access to your electricity data"),
    "authorization_request_reminder": N_("Reminder: %(party)s is waiting for your answer"),
}


@cache
def _environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def render(mail: Mail, settings: Settings) -> RenderedMail:
    """The mail's subject, text and HTML, in its language (the hub's default language
    when it names none the hub speaks). Raises ``MailError`` when it cannot be made."""
    subject = SUBJECTS.get(mail.template)
    if subject is None:
        raise MailError(f"no such mail template: {mail.template!r}")
    language = mail.language if mail.language in LANGUAGES else settings.default_language
    values = _values(mail, language, settings)
    # A subject is one header line, whatever the seller's name holds.
    values["subject"] = " ".join(
        (translations(language).gettext(subject) % {"party": values["seller"]}).split()
    )
    env = _environment(language)
    return RenderedMail(
        language=language,
        subject=mask_personal_ids(values["subject"]),
        text=mask_personal_ids(env.get_template(f"{mail.template}.txt").render(values)),
        html=mask_personal_ids(env.get_template(f"{mail.template}.html").render(values)),
    )


def _values(mail: Mail, language: str, settings: Settings) -> dict[str, Any]:
    context = mail.context
    locale = babel_locale(language)
    valid_from = _date(context, "valid_from")
    valid_to = _date(context, "valid_to")
    deadline = _instant(context, "expires_at")
    points = context.get("accounting_points")
    if not isinstance(points, list) or not all(isinstance(point, str) for point in points):
        raise MailError("accounting_points: a list of metering point ids is needed")
    return {
        "lang": language,
        "hub": settings.hub_name,
        "name": " ".join((mail.to_name or "").split()),
        "seller": _required_text(context, "seller_name"),
        "customer": _text(context, "customer_name"),
        "points": points,
        "valid_from": format_date(valid_from, "long", locale=locale) if valid_from else None,
        "valid_to": format_date(valid_to, "long", locale=locale) if valid_to else None,
        "reason": _text(context, "reason"),
        "description": _text(context, "description"),
        "link": _required_text(context, "link"),
        "deadline": _long_datetime(deadline, settings.zone, locale) if deadline else None,
    }


def _text(context: Mapping[str, Any], key: str) -> str | None:
    value = context.get(key)
    if value is not None and not isinstance(value, str):
        raise MailError(f"{key}: text is needed")
    return value or None


def _required_text(context: Mapping[str, Any], key: str) -> str:
    value = _text(context, key)
    if value is None:
        raise MailError(f"{key}: missing")
    return value


def _date(context: Mapping[str, Any], key: str) -> dt.date | None:
    value = _text(context, key)
    try:
        return None if value is None else dt.date.fromisoformat(value)
    except ValueError:
        raise MailError(f"{key}: a date YYYY-MM-DD is needed") from None


def _instant(context: Mapping[str, Any], key: str) -> dt.datetime | None:
    value = _text(context, key)
    try:
        instant = None if value is None else dt.datetime.fromisoformat(value)
    except ValueError:
        raise MailError(f"{key}: an ISO 8601 instant is needed") from None
    if instant is not None and instant.tzinfo is None:
        # The hub keeps instants in UTC.
        instant = instant.replace(tzinfo=dt.UTC)
    return instant


def _long_datetime(instant: dt.datetime, zone: ZoneInfo, locale: str) -> str:
    """The long date and the short time, joined as the language joins them (Babel's own
    ``format_datetime`` way): a deadline needs no seconds and no zone name, since it is
    shown in the hub's time zone, the recipient's own."""
    local = instant.astimezone(zone)
    return (
        str(get_datetime_format("long", locale=locale))
        .replace("'", "")
        .replace("{0}", format_time(local, "short", locale=locale))
        .replace("{1}", format_date(local, "long", locale=locale))
    )
