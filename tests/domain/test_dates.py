import datetime as dt

import pytest

from consenthub.domain.dates import calendar_date


def test_a_calendar_date_is_read() -> None:
    assert calendar_date("2027-02-28") == dt.date(2027, 2, 28)


@pytest.mark.parametrize(
    "value",
    [
        "20270228",
        "2027-W09-1",
        "2027-02-29",
        "2027-2-28",
        "２０２７-02-28",
        " 2027-02-28",
        20270228,
        None,
    ],
)
def test_only_the_documented_form_of_an_existing_day_is_a_date(value: object) -> None:
    assert calendar_date(value) is None
