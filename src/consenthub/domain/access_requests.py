"""Access requests and their lifecycle (SPEC §2): ``pending → approved | rejected |
expired | cancelled``. Only a pending request can be decided."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    """Elhub's scopes (BRS-NO-624): Limited = meter values and the minimum metering-point
    data needed to use them; Full = also contract data and full master data."""

    FULL = "Full"
    LIMITED = "Limited"


class Process(StrEnum):
    URL = "url"  # BRS-NO-624
    MESSAGE = "message"  # BRS-NO-622
    AUTHORIZATION_REQUEST = "authorization_request"  # DH-831
    CONSENT = "consent"  # Altinn


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class NotPending(ValueError):
    """The request was already decided, expired or cancelled."""

    def __init__(self, status: str) -> None:
        super().__init__(f"request is {status}")
        self.status = status


def decide(current: str, outcome: Status) -> Status:
    """The new status for a decision on a request in status ``current``."""
    if current != Status.PENDING:
        raise NotPending(current)
    if outcome == Status.PENDING:
        raise ValueError("a decision cannot leave the request pending")
    return outcome


def lowered_scope(asked: Scope, chosen: str | None) -> Scope:
    """The end user may lower Full to Limited, never raise Limited to Full."""
    if chosen == Scope.LIMITED:
        return Scope.LIMITED
    return asked
