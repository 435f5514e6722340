"""Scales and durations of a run: the full one (``make bench``) and the quick smoke test."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# Read days lie in January (no daylight-saving change), before any grant's "today".
VALUE_START = dt.date(2025, 1, 6)
NORWAY_METERING_POINTS = 3_200_000
NORWAY_GRANTS = 1_000_000
HOURS_PER_YEAR = 8760


@dataclass(frozen=True)
class Plan:
    """What one run measures and how long each load lasts."""

    name: str
    warmup_seconds: float  # wrk takes whole seconds
    seconds: float
    rounds: int
    # wrk connections per benchmark: the token endpoint and its baselines (hello-world, the
    # peer) as SPEC §12 measured its comparison table; the data API as its p99 goal is stated
    # ("with 4 concurrent clients").
    token_connections: int
    data_connections: int
    # Data API: metering points at the small and large scale, grants at the large one
    # (the small scale gets the same grants-per-metering-point ratio).
    data_small: int
    data_large: int
    data_large_grants: int
    parties: int
    read_set: int
    read_days: int
    # Imports: metering-point rows at two sizes per backend; metering points with a year of
    # hourly values at two sizes.
    import_metering_points_postgresql: tuple[int, int]
    import_metering_points_sqlite: tuple[int, int]
    import_value_points: tuple[int, int]
    # Approval (BRS-NO-624): metering points the end user owns and approves in one post;
    # untimed warm-up and timed repetitions (each of the N-point post and its 1-point baseline).
    approval_metering_points: int
    approval_warmup: int
    approval_repetitions: int
    # Webhooks: a backlog of events over parties subscribed to a loopback receiver, delivered
    # by one worker, in rounds interleaved with the plain-httpx baseline; then single events
    # committed at a rate for some seconds (commit to arrival); one delivery in
    # ``webhook_verify_every`` is verified by the receiver with standardwebhooks.
    webhook_events: int
    webhook_parties: int
    webhook_rounds: int
    webhook_latency_rate: float
    webhook_latency_seconds: float
    webhook_verify_every: int
    # Reminder mails falling due at once, handed to a loopback SMTP server by one worker.
    reminder_count: int
    # BRS-NO-622 messages: ``add`` items of a large and a small message (the goal's 10 k
    # against 1 k), in untimed warm-up rounds and timed rounds, every message naming
    # metering points of its own; each end user has ``updates_points_per_end_user`` of them.
    updates_large: int
    updates_small: int
    updates_warmup: int
    updates_rounds: int
    updates_points_per_end_user: int

    def import_sizes(self, kind: str) -> tuple[int, int]:
        if kind == "postgresql":
            return self.import_metering_points_postgresql
        return self.import_metering_points_sqlite

    def grants_for(self, metering_points: int) -> int:
        return max(self.parties, metering_points * self.data_large_grants // self.data_large)


FULL = Plan(
    name="full",
    warmup_seconds=3.0,
    seconds=6.0,
    rounds=5,
    token_connections=32,
    data_connections=4,
    data_small=10_000,
    data_large=NORWAY_METERING_POINTS,
    data_large_grants=NORWAY_GRANTS,
    parties=4,
    read_set=500,
    read_days=14,
    import_metering_points_postgresql=(320_000, NORWAY_METERING_POINTS),
    import_metering_points_sqlite=(100_000, 1_000_000),
    import_value_points=(20, 200),
    approval_metering_points=100,
    approval_warmup=3,
    approval_repetitions=45,
    webhook_events=6_000,
    webhook_parties=50,
    webhook_rounds=3,
    webhook_latency_rate=20.0,
    webhook_latency_seconds=10.0,
    webhook_verify_every=10,
    reminder_count=10_000,
    updates_large=10_000,
    updates_small=1_000,
    updates_warmup=1,
    updates_rounds=5,
    updates_points_per_end_user=10,
)

QUICK = Plan(
    name="quick",
    warmup_seconds=1.0,
    seconds=2.0,
    rounds=1,
    token_connections=32,
    data_connections=4,
    data_small=1_000,
    data_large=10_000,
    data_large_grants=3_125,
    parties=4,
    read_set=50,
    read_days=2,
    import_metering_points_postgresql=(1_000, 10_000),
    import_metering_points_sqlite=(1_000, 10_000),
    import_value_points=(1, 5),
    approval_metering_points=10,
    approval_warmup=1,
    approval_repetitions=3,
    webhook_events=500,
    webhook_parties=50,
    webhook_rounds=1,
    webhook_latency_rate=20.0,
    webhook_latency_seconds=2.0,
    webhook_verify_every=10,
    reminder_count=300,
    updates_large=1_000,
    updates_small=100,
    updates_warmup=1,
    updates_rounds=2,
    updates_points_per_end_user=10,
)
