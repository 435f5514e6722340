"""The one access-request lifecycle of SPEC §2 that every process stands on: a third
party's question to an end user, decided in Min side, that becomes grants, and that can
expire or be cancelled. Processes use it through these names."""

from consenthub.access_requests.service import (
    ITEMS,
    Answer,
    Decided,
    DecisionView,
    cancel,
    create,
    decide,
    expire_due,
    find,
    get,
    listing,
    of_end_user,
    of_party,
    open_for,
    settle,
    turn_back,
)
from consenthub.access_requests.store import (
    AccessRequest,
    NewAccessRequest,
    Outcome,
    OwnedMeteringPoint,
    pending_metering_points,
    pending_on,
    subject_of,
)
from consenthub.access_requests.store import insert_requests as open_requests

__all__ = [
    "ITEMS",
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
    "get",
    "listing",
    "of_end_user",
    "of_party",
    "open_for",
    "open_requests",
    "pending_metering_points",
    "pending_on",
    "settle",
    "subject_of",
    "turn_back",
]
