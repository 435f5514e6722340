"""The vocabulary of access requests and grants (SPEC §2), shared by every process.

A request goes ``pending → approved | rejected | expired | cancelled``, or ``closed``
when there was nothing the person could give (BRS-NO-624 ``EH106``: no metering
point). The rules of the lifecycle are in ``access_requests/rules.py``.
"""

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
    CLOSED = "closed"


class Decision(StrEnum):
    """What the person answered."""

    APPROVE = "approve"
    REJECT = "reject"
