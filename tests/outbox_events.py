"""The webhook events the outbox holds, as their parties will get them: a batch not yet
fanned out by the worker is read as its events (``outbox.store``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from consenthub.store.tables import OutboxMessage


@dataclass(frozen=True)
class WebhookEvent:
    party_id: int
    type: str
    data: dict[str, Any]


def webhook_events(conn: Connection, event_type: str | None = None) -> list[WebhookEvent]:
    """Every webhook event written, in the order each party gets them (by party, then
    place), of ``event_type`` or all."""
    rows = conn.execute(
        select(OutboxMessage.party_id, OutboxMessage.batch_events, OutboxMessage.payload)
        .where(OutboxMessage.channel == "webhook")
        .order_by(
            OutboxMessage.party_id,
            func.coalesce(OutboxMessage.batch_id, OutboxMessage.id),
            OutboxMessage.id,
        )
    ).all()
    events = [
        WebhookEvent(row.party_id, event["type"], event["data"])
        for row in rows
        for event in (row.payload["events"] if row.batch_events is not None else [row.payload])
    ]
    return [event for event in events if event_type is None or event.type == event_type]
