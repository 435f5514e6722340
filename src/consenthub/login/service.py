"""Use cases of end-user login: who the provider's claims say the person is."""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from typing import Any

from consenthub.domain.errors import Code, DomainError
from consenthub.domain.identifiers import (
    InvalidIdentifier,
    mask_national_id,
    validate_end_user_id,
)
from consenthub.domain.messages import N_
from consenthub.login import store
from consenthub.services import Services

log = logging.getLogger("consenthub.login")


def display_name(claim: object) -> str | None:
    """The ``name`` claim fit to show and store: control characters and lone surrogates
    (which PostgreSQL or the UTF-8 encoder refuse) become spaces, whitespace runs one
    space, cut to the column's length; None when nothing is left. The provider is
    trusted with who the person is, not with the shape of a display name."""
    if not isinstance(claim, str):
        return None
    printable = "".join(
        " " if unicodedata.category(char) in ("Cc", "Cs") else char for char in claim
    )
    name = " ".join(printable.split())[: store.NAME_LENGTH].rstrip()
    return name or None


@dataclass(frozen=True)
class LoggedIn:
    end_user_id: int
    name: str | None
    masked_id: str


def log_in(hub: Services, claims: dict[str, Any]) -> LoggedIn:
    """The person the provider vouched for, registered at first login. The national
    identity number comes from the configured claim (``pid`` in ID-porten) and never
    leaves the database."""
    raw_id = claims.get(hub.settings.oidc_national_id_claim)
    try:
        national_id, kind = validate_end_user_id(
            str(raw_id or ""), allow_synthetic=hub.settings.allow_synthetic_ids
        )
    except InvalidIdentifier:
        log.warning(
            "login without a valid national identity number",
            extra={"claim": hub.settings.oidc_national_id_claim},
        )
        raise DomainError(
            Code.LOGIN_WITHOUT_NATIONAL_ID,
            N_("Your login did not identify you with a national identity number."),
        ) from None
    name = display_name(claims.get("name"))
    with hub.database.write() as conn:
        end_user_id = store.upsert_end_user(conn, hub.ids, national_id, kind.value, name)
    return LoggedIn(end_user_id, name, mask_national_id(national_id))
