"""The transactional outbox (SPEC §10): what the hub tells the outside is written in the
transaction of the change it tells of, and only the worker sends it."""

from consenthub.outbox.rules import Attempt, Settlement, Verdict, parse_retry_after, settle
from consenthub.outbox.store import (
    NOTIFY_CHANNEL,
    Event,
    OutboxEntry,
    claim,
    delivered,
    disable_endpoint,
    enqueue_webhooks,
    entries,
    give_up,
    next_due,
    release,
    retry,
    retry_later,
)

__all__ = [
    "NOTIFY_CHANNEL",
    "Attempt",
    "Event",
    "OutboxEntry",
    "Settlement",
    "Verdict",
    "claim",
    "delivered",
    "disable_endpoint",
    "enqueue_webhooks",
    "entries",
    "give_up",
    "next_due",
    "parse_retry_after",
    "release",
    "retry",
    "retry_later",
    "settle",
]
