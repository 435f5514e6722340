"""The transactional outbox (SPEC §10): what the hub tells the outside is written in the
transaction of the change it tells of, and only the worker sends it."""

from consenthub.outbox.rules import Attempt, Settlement, Verdict, parse_retry_after, settle
from consenthub.outbox.store import (
    MAIL,
    NOTIFY_CHANNEL,
    Event,
    Mail,
    OutboxEntry,
    claim,
    delivered,
    disable_endpoint,
    enqueue_mail,
    enqueue_webhooks,
    entries,
    give_up,
    next_due,
    release,
    retry,
    retry_later,
    void,
)

__all__ = [
    "MAIL",
    "NOTIFY_CHANNEL",
    "Attempt",
    "Event",
    "Mail",
    "OutboxEntry",
    "Settlement",
    "Verdict",
    "claim",
    "delivered",
    "disable_endpoint",
    "enqueue_mail",
    "enqueue_webhooks",
    "entries",
    "give_up",
    "next_due",
    "parse_retry_after",
    "release",
    "retry",
    "retry_later",
    "settle",
    "void",
]
