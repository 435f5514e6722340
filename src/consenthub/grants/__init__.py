"""Grants (SPEC §2): the one grant lifecycle every process's approvals end in — start,
change, end — and the rule that an approval updates a party's live grant on a metering
point and creates the others."""

from consenthub.grants.lifecycle import ApprovedPoint, Contract, approve
from consenthub.grants.rules import LiveGrant, is_live, kept_end
from consenthub.grants.store import EndUserGrant, NewGrant, create_grant, create_grants

__all__ = [
    "ApprovedPoint",
    "Contract",
    "EndUserGrant",
    "LiveGrant",
    "NewGrant",
    "approve",
    "create_grant",
    "create_grants",
    "is_live",
    "kept_end",
]
