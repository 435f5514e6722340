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


class EndReason(StrEnum):
    """How a grant ended (the ``reason`` of ``grant.ended`` and of the grants API)."""

    END_USER = "end_user"  # the person ended it in Min side
    MOVED_OUT = "moved_out"  # the person moved out of the metering point
    PARTY_REMOVED = "party_removed"  # the third party removed it (BRS-NO-622 remove)
    EXPIRED = "expired"  # its end date came
    OPERATOR = "operator"  # the hub's operator ended it (`consenthub grants end`)
    # Withdrawn altogether (``grants.revoked_at``): nothing more may be read, not even data
    # inside its window.
    REVOKED = "revoked"


class EventType(StrEnum):
    """What a party hears of its own requests and grants (SPEC §10), as webhook ``type``."""

    ACCESS_REQUEST_APPROVED = "access_request.approved"
    ACCESS_REQUEST_REJECTED = "access_request.rejected"
    ACCESS_REQUEST_EXPIRED = "access_request.expired"
    ACCESS_REQUEST_CANCELLED = "access_request.cancelled"
    ACCESS_REQUEST_CLOSED = "access_request.closed"
    GRANT_STARTED = "grant.started"
    GRANT_CHANGED = "grant.changed"
    GRANT_ENDED = "grant.ended"
    # Altinn consent (seed 002, SPEC §7).
    CONSENT_CREATED = "consent.created"
    CONSENT_ACCEPTED = "consent.accepted"
    CONSENT_REJECTED = "consent.rejected"
    CONSENT_REVOKED = "consent.revoked"
    CONSENT_EXPIRED = "consent.expired"
    CONSENT_USED = "consent.used"
