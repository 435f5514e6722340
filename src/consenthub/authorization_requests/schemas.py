"""A DH-831 authorization request as the seller sends it: read whole, every field that
is wrong named at once."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import orjson

from consenthub.authorization_requests.errors import Problem, RequestRejected
from consenthub.domain.dates import calendar_date
from consenthub.domain.errors import Code
from consenthub.domain.identifiers import (
    InvalidIdentifier,
    contains_national_id,
    validate_end_user_id,
    validate_gsrn,
)

MAX_ACCOUNTING_POINTS = 1000
MAX_TEXT = 500
MAX_NAME = 200
# An address a mail server takes: something@host.tld, no spaces (RFC 5321 length).
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAIL_LANGUAGES = ("fi", "sv", "en", "nb", "nn")
_FIELDS = {
    "customer",
    "accountingPoints",
    "validFrom",
    "validTo",
    "reason",
    "description",
    "recipient",
    "reminderAt",
    "requestEndDate",
}


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    language: str | None


@dataclass(frozen=True)
class NewAuthorizationRequest:
    customer: str
    accounting_points: list[str]
    valid_from: dt.date
    valid_to: dt.date | None
    reason: str | None
    description: str | None
    recipient: Recipient | None
    reminder_at: dt.datetime | None
    request_end: dt.date | None


def _problem(problems: list[Problem], field: str, rule: str) -> None:
    problems.append(Problem(Code.INVALID_FIELDS, field, rule))


def _date(document: dict[str, Any], field: str, problems: list[Problem]) -> dt.date | None:
    value = document.get(field)
    if value is None:
        return None
    date = calendar_date(value)
    if date is None:
        _problem(problems, field, "must be a date YYYY-MM-DD")
    return date


def _text(document: dict[str, Any], field: str, problems: list[Problem]) -> str | None:
    value = document.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT or any(ord(c) < 32 for c in value):
        _problem(problems, field, f"must be text of at most {MAX_TEXT} characters")
        return None
    if contains_national_id(value):
        # The text goes into the customer's mail and Min side (SPEC §1).
        _problem(problems, field, "must not contain a national identity number")
        return None
    return value.strip() or None


def _recipient(value: Any, problems: list[Problem]) -> Recipient | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        _problem(problems, "recipient", "must be an object with name and email")
        return None
    name, email, language = value.get("name"), value.get("email"), value.get("language")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        _problem(problems, "recipient.name", f"is required, at most {MAX_NAME} characters")
    if not isinstance(email, str) or len(email) > 254 or not _EMAIL.fullmatch(email):
        _problem(problems, "recipient.email", "must be an e-mail address")
    if language is not None and language not in MAIL_LANGUAGES:
        _problem(problems, "recipient.language", f"must be one of {', '.join(MAIL_LANGUAGES)}")
    if not isinstance(name, str) or not isinstance(email, str):
        return None
    return Recipient(name.strip(), email, language)


def parse_request(body: bytes, *, allow_synthetic_ids: bool) -> NewAuthorizationRequest:
    """The request, or ``RequestRejected`` naming every field that is wrong."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestRejected([Problem(Code.INVALID_FIELDS, "body", "must be JSON")]) from None
    if not isinstance(document, dict):
        raise RequestRejected([Problem(Code.INVALID_FIELDS, "body", "must be a JSON object")])
    problems: list[Problem] = []
    for field in sorted(set(document) - _FIELDS):
        _problem(problems, field, "is not a field of an authorization request")
    customer = document.get("customer")
    try:
        customer, _ = validate_end_user_id(
            customer if isinstance(customer, str) else "", allow_synthetic=allow_synthetic_ids
        )
    except InvalidIdentifier as exc:
        _problem(problems, "customer", exc.rule)
    points: list[str] = []
    raw_points = document.get("accountingPoints")
    if not isinstance(raw_points, list) or not raw_points:
        _problem(problems, "accountingPoints", "must be a non-empty list of GSRNs")
    elif len(raw_points) > MAX_ACCOUNTING_POINTS:
        _problem(problems, "accountingPoints", f"at most {MAX_ACCOUNTING_POINTS}")
    else:
        for index, raw in enumerate(raw_points):
            try:
                gsrn = validate_gsrn(raw if isinstance(raw, str) else "")
            except InvalidIdentifier as exc:
                _problem(problems, f"accountingPoints[{index}]", f"GSRN {exc.rule}")
                continue
            if gsrn in points:
                _problem(problems, f"accountingPoints[{index}]", "is given more than once")
            points.append(gsrn)
    valid_from = _date(document, "validFrom", problems)
    if valid_from is None and "validFrom" not in document:
        _problem(problems, "validFrom", "is required")
    reminder_at = None
    raw_reminder = document.get("reminderAt")
    if raw_reminder is not None:
        try:
            reminder_at = dt.datetime.fromisoformat(str(raw_reminder))
        except ValueError:
            reminder_at = None
        if reminder_at is None or reminder_at.tzinfo is None:
            _problem(problems, "reminderAt", "must be an ISO 8601 date-time with offset")
            reminder_at = None
    request = NewAuthorizationRequest(
        customer=customer if isinstance(customer, str) else "",
        accounting_points=points,
        valid_from=valid_from or dt.date.min,
        valid_to=_date(document, "validTo", problems),
        reason=_text(document, "reason", problems),
        description=_text(document, "description", problems),
        recipient=_recipient(document.get("recipient"), problems),
        reminder_at=reminder_at,
        request_end=_date(document, "requestEndDate", problems),
    )
    if problems:
        raise RequestRejected(problems)
    return request
