"""Rules of the one access-request lifecycle (SPEC §2), shared by every process. Pure:
imports only ``domain``. Each rule cites the clause it comes from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from consenthub.domain.access import Scope, Status
from consenthub.domain.errors import Code, FieldError
from consenthub.domain.messages import N_

# Field names of the decision form, named in the errors a person sees.
CHOSEN_FIELD = "metering_point"
END_DATE_FIELD = "end_date"


def effective_status(status: Status, deadline: dt.datetime | None, now: dt.datetime) -> Status:
    """A pending request past its deadline is expired for every reader at once, whether or
    not the worker has recorded it yet.

    SPEC §2 (``pending → … expired``); seed 001 (BRS-NO-622): "Fristen for sluttbrukers
    godkjenning er 30 kalenderdager", after which the party is told ``EH088``.
    """
    if status is Status.PENDING and deadline is not None and deadline <= now:
        return Status.EXPIRED
    return status


def may_be_decided(status: Status) -> bool:
    """Only a pending request can be decided; every other status is final.

    SPEC §2: ``pending → approved | rejected | expired | cancelled``.
    """
    return status is Status.PENDING


# How a request ends when the person goes back to the third party without answering it.
_TURNED_BACK = {Code.EH088: Status.REJECTED, Code.EH111: Status.CLOSED}


def turned_back_status(code: Code) -> Status | None:
    """The final status of a pending request the person left unanswered and went back to
    the third party with ``code``; None for a code that cannot end a request this way.

    Seed 000 (BRS-NO-624), validation rules: ``EH088`` "Sluttbruker må godkjenne
    tredjeparts forespørsel på tilgang" — the person did not approve it (they cancelled
    the login), so the request is rejected, as their "no" on the page; ``EH111``
    "Intern feil – prøv igjen senere" — the login failed, not the person's choice, so
    the request is closed, as one with nothing to give (``EH106``) is. Either is the
    answer the party has been sent, and so the request's one outcome (SPEC §4.5–§4.6).
    """
    return _TURNED_BACK.get(code)


def lowered_scope(asked: Scope, chosen: str | None) -> Scope:
    """The end user may lower Full to Limited, never raise Limited to Full.

    Seed 000 (BRS-NO-624) via SPEC §4.7: "The end user may lower ``Full`` to ``Limited``
    on the page".
    """
    if chosen == Scope.LIMITED:
        return Scope.LIMITED
    return asked


def chosen_metering_points(
    chosen: Sequence[str], offered: Collection[str]
) -> tuple[list[str], FieldError | None]:
    """The metering points the person chose, once each, if they are a non-empty subset of
    those offered; otherwise the rule broken (an untranslated msgid).

    Seed 000 (BRS-NO-624) step 4 via SPEC §4.4: "They approve a subset, or reject".
    """
    unique = list(dict.fromkeys(chosen))
    if not unique:
        return [], FieldError(
            CHOSEN_FIELD, N_("Choose at least one metering point, or reject the request.")
        )
    if any(gsrn not in offered for gsrn in unique):
        return [], FieldError(
            CHOSEN_FIELD, N_("You can only give access to your own metering points.")
        )
    return unique, None


def chosen_end_date(text: str | None, today: dt.date) -> tuple[dt.date | None, FieldError | None]:
    """The optional end date the person chose: a date after today, or none.

    Seed 000 (BRS-NO-624) via SPEC §4.5: ``end`` = "the date the end user chose, or null".
    """
    text = (text or "").strip()
    if not text:
        return None, None
    try:
        end = dt.date.fromisoformat(text)
    except ValueError:
        return None, FieldError(END_DATE_FIELD, N_("Enter the date as YYYY-MM-DD."))
    if end <= today:
        return None, FieldError(END_DATE_FIELD, N_("The end date must be after today."))
    return end, None
