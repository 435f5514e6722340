"""Rules of authorization requests from a seller (seed 003, Fingrid Datahub DH-831 /
DH-851). Pure: imports only ``domain``. The seed numbers none of its rules ("vain osa
prosessin säännöistä"), so each has a stable code of consenthub's own (CH42xx)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from consenthub.authorization_requests.errors import Problem
from consenthub.domain.errors import Code

# Seed 003, "Aikarajat": "Alkuaika ei saa olla menneisyydessä eikä yli 90 vuorokautta
# tulevaisuudessa."
VALID_FROM_HORIZON = dt.timedelta(days=90)
# consenthub's: how long the customer has to answer, when the seller does not say, and
# at most (docs/decisions.md).
DEFAULT_REQUEST_DAYS = 30
LONGEST_REQUEST_DAYS = 90


def valid_from_in_range(valid_from: dt.date, today: dt.date) -> Problem | None:
    """Seed 003, Aikarajat: the start may not be in the past nor more than 90 days ahead,
    judged in the hub's time zone — CH4201."""
    if valid_from < today or valid_from > today + VALID_FROM_HORIZON:
        return Problem(Code.VALID_FROM_OUT_OF_RANGE, "validFrom")
    return None


def valid_to_after_from(valid_from: dt.date, valid_to: dt.date | None) -> Problem | None:
    """An authorization's period ``[validFrom, validTo)`` is not empty — CH4203."""
    if valid_to is not None and valid_to <= valid_from:
        return Problem(Code.VALID_TO_NOT_AFTER_FROM, "validTo")
    return None


def request_end(asked: dt.date | None, today: dt.date) -> tuple[dt.date, Problem | None]:
    """The last day the customer may answer: the seller's ``requestEndDate``, after today
    and at most 90 days ahead, else 30 days from today — CH4205 (consenthub's rule; the
    seed sets no deadline for the customer)."""
    if asked is None:
        return today + dt.timedelta(days=DEFAULT_REQUEST_DAYS), None
    if asked <= today or asked > today + dt.timedelta(days=LONGEST_REQUEST_DAYS):
        return asked, Problem(Code.REQUEST_END_INVALID, "requestEndDate")
    return asked, None


def reminder_fits(
    reminder_at: dt.datetime | None,
    *,
    has_recipient: bool,
    now: dt.datetime,
    deadline: dt.datetime,
) -> Problem | None:
    """Seed 003, "Muistutus luodusta valtuutuspyynnöstä": a reminder goes to the recipient
    while the request is open, so it needs a recipient and a time after now and before
    the request ends — CH4204."""
    if reminder_at is None:
        return None
    if not has_recipient or reminder_at <= now or reminder_at >= deadline:
        return Problem(Code.REMINDER_INVALID, "reminderAt")
    return None


def points_belong(asked: Sequence[str], customers: Collection[str]) -> list[Problem]:
    """Seed 003, "Merkittävät virheet": an authorization on the wrong accounting points
    gives the seller data it has no right to, so every accounting point must be the
    customer's on ``validFrom``; the answer never says whose it is — CH4202."""
    return [
        Problem(Code.ACCOUNTING_POINT_NOT_CUSTOMERS, f"accountingPoints[{index}]")
        for index, gsrn in enumerate(asked)
        if gsrn not in customers
    ]


def not_asked_already(asked: Sequence[str], pending: Collection[str]) -> list[Problem]:
    """One open request per seller and accounting point: a second one while the first
    waits would ask the customer twice — CH4206 (consenthub's; BRS-NO-622 rule 7, EH098,
    is the same rule for third parties)."""
    return [
        Problem(Code.ACCOUNTING_POINT_ALREADY_ASKED, f"accountingPoints[{index}]")
        for index, gsrn in enumerate(asked)
        if gsrn in pending
    ]
