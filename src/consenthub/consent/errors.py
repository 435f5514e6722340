"""The validation error of Altinn consent: a consent request that cannot be used."""

from __future__ import annotations

from consenthub.domain.errors import Code, DomainError


class ConsentRequestError(DomainError):
    """A consent request link is not valid; shown as a page naming the parameter, never a
    redirect. ``detail`` is an untranslated msgid; ``params`` fill its placeholders (the
    parameter's name, never its value)."""

    def __init__(self, detail: str, **params: str) -> None:
        super().__init__(Code.CONSENT_REQUEST_INVALID, detail, params=params)
