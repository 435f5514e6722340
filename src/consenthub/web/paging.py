"""Cursors of paged lists ordered by (created, id): opaque to clients, the ``next`` of
one page is the ``after`` of the next."""

from __future__ import annotations

import base64
import binascii
import datetime as dt

from consenthub.domain.errors import DomainError


def encode_cursor(cursor: tuple[dt.datetime, str]) -> str:
    created, internal_id = cursor
    return base64.urlsafe_b64encode(f"{created.isoformat()}|{internal_id}".encode()).decode()


def decode_cursor(text: str | None, field: str = "after") -> tuple[dt.datetime, str] | None:
    """The cursor ``text`` names, None for none; ``CH2001`` naming ``field`` when it is not
    one this service gave out."""
    if text is None:
        return None
    try:
        created, separator, internal_id = (
            base64.urlsafe_b64decode(text.encode()).decode().partition("|")
        )
        if not separator:
            raise ValueError(text)
        instant = dt.datetime.fromisoformat(created)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise DomainError.invalid(field, "must be the next of a previous page") from None
    if instant.tzinfo is None:
        raise DomainError.invalid(field, "must be the next of a previous page")
    return instant, internal_id
