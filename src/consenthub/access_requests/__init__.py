"""The one access-request lifecycle of SPEC §2 that every process stands on: a third
party's question to an end user, decided in Min side, that becomes grants, and that can
expire or be cancelled. Processes use it through these names."""

from consenthub.access_requests.service import (
    Answer,
    Decided,
    DecisionView,
    cancel,
    create,
    decide,
    expire_due,
    find,
    of_end_user,
    open_for,
)
from consenthub.access_requests.store import (
    AccessRequest,
    NewAccessRequest,
    Outcome,
    OwnedMeteringPoint,
)

__all__ = [
    "AccessRequest",
    "Answer",
    "Decided",
    "DecisionView",
    "NewAccessRequest",
    "Outcome",
    "OwnedMeteringPoint",
    "cancel",
    "create",
    "decide",
    "expire_due",
    "find",
    "of_end_user",
    "open_for",
]
