"""Valid identifiers in bulk: GSRN and GLN (GS1 mod 10), synthetic fødselsnummer (mod 11)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

_FNR_WEIGHTS_1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_FNR_WEIGHTS_2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def gs1_check_digit(body: str) -> str:
    """GS1 mod-10 check digit: weights 3, 1, 3, ... from the right."""
    total = sum(int(digit) * (3 if index % 2 == 0 else 1)
                for index, digit in enumerate(reversed(body)))
    return str(-total % 10)


def gsrn(seed: int) -> str:
    """The metering point number ``seed`` (18 digits, Norwegian prefix 707057)."""
    body = f"707057{seed:011d}"
    return body + gs1_check_digit(body)


def gln(seed: int) -> str:
    body = f"708{seed:09d}"
    return body + gs1_check_digit(body)


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(digit) * weight for digit, weight in zip(digits, weights, strict=False))


def _check(total: int) -> int | None:
    check = -total % 11
    return None if check == 10 else check


def synthetic_fodselsnummer() -> Iterator[str]:
    """Distinct valid synthetic (Tenor, month + 80) fødselsnummer, born 1940-1999.

    About two thirds of the (date, individual number) pairs have valid control
    digits; this yields millions of them, in a fixed order.
    """
    dates = []
    day = dt.date(1940, 1, 1)
    while day.year < 2000:
        text = f"{day.day:02d}{day.month + 80:02d}{day.year % 100:02d}"
        dates.append((text, _weighted(text, _FNR_WEIGHTS_1), _weighted(text, _FNR_WEIGHTS_2)))
        day += dt.timedelta(days=1)
    for individual in range(500):
        number = f"{individual:03d}"
        ind1 = _weighted("000000" + number, _FNR_WEIGHTS_1)
        ind2 = _weighted("000000" + number, _FNR_WEIGHTS_2)
        for text, date1, date2 in dates:
            first = _check(date1 + ind1)
            if first is None:
                continue
            second = _check(date2 + ind2 + 2 * first)
            if second is not None:
                yield f"{text}{number}{first}{second}"
