"""Rules of delivering the outbox (SPEC §10). Pure: imports only ``domain``.

Delivery is at least once, in order per party, retried with backoff and jitter.
The schedule is Standard Webhooks' recommended one (also Svix's): after the first
attempt fails, again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, each delay
± 10 % so that endpoints coming back are not hit by every retry at once; after the
eighth failed attempt the message is marked failed (about 28 h after the event).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum

RETRY_DELAYS = (
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=10),
)
JITTER = 0.1
# A Retry-After is honoured up to this, so one answer cannot park a party's queue.
LONGEST_RETRY_AFTER = dt.timedelta(hours=24)


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    # The endpoint said it is gone for good (410): no more deliveries to it.
    DISABLE = "disable"


@dataclass(frozen=True)
class Attempt:
    """What one delivery attempt came to: an HTTP status, or none (a network failure)."""

    status: int | None
    retry_after: dt.timedelta | None = None


@dataclass(frozen=True)
class Settlement:
    verdict: Verdict
    due_at: dt.datetime | None = None


def settle(
    attempt: Attempt, attempts_before: int, now: dt.datetime, rand: random.Random
) -> Settlement:
    """What to do with a message after an attempt.

    SPEC §10 / Standard Webhooks: any 2xx is success; 410 Gone disables the endpoint;
    anything else (other statuses, redirects — which are never followed —, timeouts,
    refused connections) is retried on the schedule, later if ``Retry-After`` asks,
    and marked failed once the schedule is spent.
    """
    if attempt.status is not None and 200 <= attempt.status < 300:
        return Settlement(Verdict.DELIVERED)
    if attempt.status == 410:
        return Settlement(Verdict.DISABLE)
    if attempts_before >= len(RETRY_DELAYS):
        return Settlement(Verdict.FAILED)
    delay = RETRY_DELAYS[attempts_before] * rand.uniform(1 - JITTER, 1 + JITTER)
    if attempt.retry_after is not None:
        delay = max(delay, min(attempt.retry_after, LONGEST_RETRY_AFTER))
    return Settlement(Verdict.RETRY, now + delay)


@dataclass(frozen=True)
class MailAttempt:
    """What sending one mail came to: the SMTP server's last reply code, or none (no
    answer: a refused connection, a time-out), and whether that reply was to the
    recipient or the message itself (RCPT TO, DATA) rather than to the session."""

    reply: int | None
    about_the_mail: bool = False


def settle_mail(
    attempt: MailAttempt, attempts_before: int, now: dt.datetime, rand: random.Random
) -> Settlement:
    """What to do with a mail after an attempt (RFC 5321 §4.2.1).

    2yz: the server took it. 5yz to RCPT TO or DATA: the recipient or this message is
    refused for good, so it fails at once. Anything else — a 4yz (try later), a 5yz to
    the greeting, EHLO, AUTH or MAIL FROM (the hub's configuration or the server, which
    an operator can mend), no connection — is retried on the webhooks' schedule and
    fails once it is spent.
    """
    if attempt.reply is not None and 200 <= attempt.reply < 300:
        return Settlement(Verdict.DELIVERED)
    if attempt.reply is not None and attempt.reply >= 500 and attempt.about_the_mail:
        return Settlement(Verdict.FAILED)
    return settle(Attempt(None), attempts_before, now, rand)


def parse_retry_after(value: str | None, now: dt.datetime) -> dt.timedelta | None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP-date; anything else is ignored."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return dt.timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when - now, dt.timedelta())
