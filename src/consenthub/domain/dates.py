"""Calendar dates on the wire: exactly ``YYYY-MM-DD``.

``date.fromisoformat`` also takes ``20270101`` and week dates such as ``2027-W01-1``
(Python 3.11); the APIs document one form, so they accept that form only.
"""

from __future__ import annotations

import datetime as dt
import re

_CALENDAR_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def calendar_date(value: object) -> dt.date | None:
    """The date ``value`` names as ``YYYY-MM-DD``, or ``None`` when it is anything else
    (another type, another form, or no such day)."""
    if not isinstance(value, str) or not _CALENDAR_DATE.fullmatch(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None
