"""The worker's housekeeping (SPEC §10, "due work"): use cases that find what has fallen
due, deal with it and return how many rows they handled.

Each owns its transactions and works in bounded batches until nothing is left, so that
no transaction holds locks (or, on SQLite, the one write lock) for long. Each is
idempotent and safe with several workers at once: what one worker has done, another
finds done. Time comes only from ``hub.now()`` and ``hub.today()``.
"""

from __future__ import annotations

from collections import defaultdict

from consenthub import access_requests, grants
from consenthub.services import Services
from consenthub.signing import CLOCK_LEEWAY_SECONDS
from consenthub.worker import rules, store

# Rows per transaction. A batch of set-based deletes costs milliseconds, and commits a
# little WAL at a time; ending a grant also writes its audit event and webhook message.
REVOCATIONS_PER_TRANSACTION = 10_000
VALUES_PER_TRANSACTION = 10_000
GRANTS_PER_TRANSACTION = 1_000
# Metering points whose oldest value is looked up per statement (one key probe each).
METERING_POINTS_PER_PAGE = 1_000
# Who the audit log names for what the hub does by itself.
HUB_ACTOR = "hub"


def purge_token_revocations(hub: Services) -> int:
    """Delete the revocations of tokens that expired more than the clock leeway ago (a
    token no verifier accepts needs no deny-list entry); returns how many."""
    expired_before = rules.revocation_purge_before(hub.now(), CLOCK_LEEWAY_SECONDS)
    purged = 0
    while True:
        with hub.database.write() as conn:
            deleted = store.purge_token_revocations(
                conn, expired_before=expired_before, limit=REVOCATIONS_PER_TRANSACTION
            )
        purged += deleted
        if deleted < REVOCATIONS_PER_TRANSACTION:
            return purged


def purge_meter_values(hub: Services) -> int:
    """Delete meter values past retention; returns how many.

    A value is past retention when it starts before ``rules.retention_cutoff`` of
    ``settings.retention_years``, or of ``settings.extended_retention_years`` on a
    metering point that a live grant asks to keep longer (extended storage). Metering
    points are visited in id order, a page at a time, each by a probe of its oldest
    value; the values are deleted by ranges of the (metering point, start) key, at most
    ``VALUES_PER_TRANSACTION`` a transaction (``rules.values_to_purge``).
    """
    today = hub.today()
    cutoffs = rules.retention_cutoffs(
        today,
        hub.settings.zone,
        standard_years=hub.settings.retention_years,
        extended_years=hub.settings.extended_retention_years,
    )
    # Read once per run: a grant asking for extended storage while the run goes on
    # keeps its values from the next run on (docs/decisions.md, "Due work").
    with hub.database.read() as conn:
        kept_longer = store.metering_points_kept_longer(conn, today)
    purged = 0
    after: int | None = None
    while True:
        with hub.database.read() as conn:
            page = store.oldest_values(conn, after=after, limit=METERING_POINTS_PER_PAGE)
        due: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for point in page:
            if point.start is None:
                continue
            kept = point.metering_point_id in kept_longer
            cutoff = rules.purge_values_before(point.start, kept, cutoffs)
            if cutoff is not None:
                due[cutoff].append((point.metering_point_id, point.start))
        for cutoff, oldest_starts in due.items():
            for values in rules.values_to_purge(oldest_starts, cutoff, VALUES_PER_TRANSACTION):
                with hub.database.write() as conn:
                    purged += store.purge_values(conn, values)
        if len(page) < METERING_POINTS_PER_PAGE:
            return purged
        after = page[-1].metering_point_id


def end_grants_past_their_end(hub: Services) -> int:
    """Record as expired every grant whose end date has come (``valid_to`` on or before
    today in the hub's zone) that is not revoked and not yet recorded as ended; its party
    hears ``grant.ended`` with reason ``expired``. Returns how many."""
    today = hub.today()
    ended = 0
    while True:
        with hub.database.write() as conn:
            due = store.grants_past_their_end(conn, today, limit=GRANTS_PER_TRANSACTION)
            expired = grants.mark_expired(conn, due, today=today, actor=HUB_ACTOR)
        ended += len(expired)
        if len(expired) < GRANTS_PER_TRANSACTION:
            return ended


def run_due_housekeeping(hub: Services, *, purge_values: bool = True) -> dict[str, int]:
    """All due housekeeping, one job after the other; returns how many rows each handled:
    ``expired_requests`` (``access_requests.expire_due``), ``ended_grants``,
    ``purged_token_revocations`` and, with ``purge_values``, ``purged_meter_values``. The
    purge of meter values comes last: at scale it walks every metering point, so the
    worker runs it at most hourly."""
    done = {
        "expired_requests": access_requests.expire_due(hub),
        "ended_grants": end_grants_past_their_end(hub),
        "purged_token_revocations": purge_token_revocations(hub),
    }
    if purge_values:
        done["purged_meter_values"] = purge_meter_values(hub)
    return done
