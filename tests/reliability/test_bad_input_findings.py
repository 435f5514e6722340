"""Defects the "bad inputs" section found (tests/reliability/sections/bad_inputs.py)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from consenthub.data_api.handler import parse_instant
from consenthub.domain.errors import DomainError

OSLO = ZoneInfo("Europe/Oslo")


@pytest.mark.parametrize("value", ["2027-W01-1", "2027-W52-7"])
def test_data_api_dates_are_calendar_dates_never_week_dates(value: str) -> None:
    """The data API documents ``from``/``to`` as YYYY-MM-DD or ISO 8601 with an offset;
    ``date.fromisoformat`` also read the ten characters of a week date."""
    with pytest.raises(DomainError) as refused:
        parse_instant("from", value, OSLO)
    assert refused.value.fields[0].field == "from"


def test_a_calendar_date_is_still_local_midnight() -> None:
    assert parse_instant("to", "2027-01-01", OSLO).isoformat() == "2027-01-01T00:00:00+01:00"
