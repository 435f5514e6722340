"""The validation error of BRS-NO-622: a message that cannot be read as a whole."""

from __future__ import annotations

from consenthub.domain.errors import Code, DomainError, FieldError


class MessageError(DomainError):
    """The message as a whole is malformed (not JSON, no items, too many, an item without
    a valid GSRN or action, a bad date): nothing of it is stored. Names the field."""

    def __init__(self, field: str, rule: str, *, code: Code = Code.INVALID_FIELDS) -> None:
        super().__init__(code, fields=[FieldError(field, rule)])
