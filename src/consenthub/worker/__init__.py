"""``consenthub worker`` (SPEC §10): delivers the outbox and runs the due work that needs
no request — expiring and ending what has come to its date, purging what has outlived
its use; each job idempotent and safe with several workers at once."""

from consenthub.worker.housekeeping import (
    end_grants_past_their_end,
    purge_meter_values,
    purge_token_revocations,
    run_due_housekeeping,
)
from consenthub.worker.runner import RunReport, Worker

__all__ = [
    "RunReport",
    "Worker",
    "end_grants_past_their_end",
    "purge_meter_values",
    "purge_token_revocations",
    "run_due_housekeeping",
]
