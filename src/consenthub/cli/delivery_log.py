"""The outbox's delivery log as the operator sees it, webhooks and mail alike: one table
layout and one JSON shape, each channel adding the columns of its own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

from consenthub.outbox import DeliveryLogEntry

Column = tuple[str, Callable[[DeliveryLogEntry], str]]


def timestamp(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


def as_json(entry: DeliveryLogEntry) -> dict[str, Any]:
    """What every channel's entry says: which message, its attempts and how it went."""
    return {
        "id": entry.id,
        "event_type": entry.event_type,
        "attempts": entry.attempts,
        "status": entry.status,
        "status_at": timestamp(entry.status_at),
        "created_at": timestamp(entry.created_at),
        "due_at": timestamp(entry.due_at),
        "delivered_at": timestamp(entry.delivered_at),
        "failed_at": timestamp(entry.failed_at),
        "last_error": entry.last_error,
    }


def as_table(log: Sequence[DeliveryLogEntry], leading: Sequence[Column], reply: str) -> Table:
    """``leading`` columns, then attempts, status, the last reply (headed ``reply``: an
    HTTP status, an SMTP reply code) and the last error. On a narrow terminal cells fold
    instead of being cut short: an operator looks an id up in the receiver's logs."""
    table = Table()
    for header in [name for name, _ in leading] + ["attempts", "status", reply, "last error"]:
        table.add_column(header, overflow="fold")
    for entry in log:
        table.add_row(
            *(cell(entry) for _, cell in leading),
            str(entry.attempts),
            f"{entry.status}\n{entry.status_at:%Y-%m-%d %H:%M:%S}Z",
            "" if entry.last_status is None else str(entry.last_status),
            escape(entry.last_error or ""),
        )
    return table
