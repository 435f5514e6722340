"""The transactional outbox (SPEC §10): what the hub tells the outside is written in the
transaction of the change it tells of, and only the worker sends it."""

from consenthub.outbox.store import (
    DeliveryLogEntry,
    Event,
    OutboxEntry,
    enqueue_webhooks,
    entries,
    find_entry,
    retry,
)

__all__ = [
    "DeliveryLogEntry",
    "Event",
    "OutboxEntry",
    "enqueue_webhooks",
    "entries",
    "find_entry",
    "retry",
]
