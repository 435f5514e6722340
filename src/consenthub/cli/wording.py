"""How the CLI counts things: "1 row", "2 rows"."""

from __future__ import annotations


def count(number: int, singular: str, plural: str | None = None) -> str:
    """``number`` and the noun in the form that number takes in English."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"
