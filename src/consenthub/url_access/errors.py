"""The validation error of BRS-NO-624: a link that cannot be used."""

from __future__ import annotations

from consenthub.domain.errors import Code, DomainError


class LinkError(DomainError):
    """The authorize link is not valid; shown as a page naming the parameter, never a
    redirect. ``detail`` is an untranslated msgid; ``params`` fill its placeholders."""

    def __init__(self, detail: str, **params: str) -> None:
        super().__init__(Code.LINK_INVALID, detail, params=params)
