"""The worker (SPEC §10, ``consenthub worker``): due work that runs without a request.
Housekeeping expires and ends what has come to its date and purges what has outlived its
use; each job is idempotent and safe with several workers at once."""

from consenthub.worker.housekeeping import (
    end_grants_past_their_end,
    purge_meter_values,
    purge_token_revocations,
    run_due_housekeeping,
)

__all__ = [
    "end_grants_past_their_end",
    "purge_meter_values",
    "purge_token_revocations",
    "run_due_housekeeping",
]
