"""Marking of the words a person reads, for translation."""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark ``message`` for extraction (``make translations``); it is translated where it
    is shown, in the page's language."""
    return message
