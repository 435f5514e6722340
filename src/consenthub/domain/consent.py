"""The vocabulary of Altinn consent (seed 002): consent resources a data source
registers, the metadata parameters each asks for, and the consent events a consumer
hears. Pure: the standard library only."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

# Seed 002: "Tjenestekode og tjenesteutgavekode … separeres med underscore" (``5252_1``).
RESOURCE_CODE = re.compile(r"[0-9]{1,10}_[0-9]{1,5}")
# Seed 002's template: "Konsument må legge inn sitt bedriftsnavn … for feltene NAVN_SELSKAP".
COMPANY_PLACEHOLDER = "NAVN_SELSKAP"
# RFC 9396 ``authorization_details`` type of a fresh token for a live consent.
AUTHORIZATION_DETAILS_TYPE = "urn:altinn:consent"


class ParameterFormat(StrEnum):
    """The formats a resource's metadata parameter may take (seed 002: ``dd.mm.yyyy``)."""

    DATE = "dd.mm.yyyy"
    TEXT = "text"


def parse_date(text: str) -> dt.date | None:
    """``dd.mm.yyyy`` (seed 002, e.g. ``5252_1_fraOgMed``) as a date; None when it is not."""
    if not re.fullmatch(r"[0-9]{2}\.[0-9]{2}\.[0-9]{4}", text):
        return None
    day, month, year = (int(part) for part in text.split("."))
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


@dataclass(frozen=True)
class ResourceParameter:
    """One metadata parameter of a consent resource, sent as ``<code>_<name>``."""

    name: str
    format: ParameterFormat
    required: bool


@dataclass(frozen=True)
class ConsentResource:
    """A consent resource as a data source registered it."""

    code: str
    data_source_id: int
    data_source_name: str
    titles: dict[str, str]  # by language: nb, nn, en
    context_template: str
    parameters: tuple[ResourceParameter, ...]
    max_duration_days: int
    one_time: bool

    def title(self, language: str) -> str:
        return self.titles.get(language) or self.titles["nb"]
