"""Grants (SPEC §2): the one grant lifecycle every process's approvals end in — start,
change, end — and the rule that an approval updates a party's live grant on a metering
point and creates the others."""

from consenthub.grants.lifecycle import ApprovedPoint, Contract, approve
from consenthub.grants.rules import (
    GrantStanding,
    GrantStatus,
    LiveGrant,
    grant_standing,
    is_live,
    kept_end,
)
from consenthub.grants.service import end_by_end_user, end_by_operator, end_user_grant
from consenthub.grants.store import (
    ContractDates,
    EndUserGrant,
    NewGrant,
    OperatorGrant,
    change_dates,
    create_grant,
    create_grants,
    end_at_move_out,
    end_grants,
    end_user_grants,
    live_grants,
    mark_expired,
    operator_grants,
)

__all__ = [
    "ApprovedPoint",
    "Contract",
    "ContractDates",
    "EndUserGrant",
    "GrantStanding",
    "GrantStatus",
    "LiveGrant",
    "NewGrant",
    "OperatorGrant",
    "approve",
    "change_dates",
    "create_grant",
    "create_grants",
    "end_at_move_out",
    "end_by_end_user",
    "end_by_operator",
    "end_grants",
    "end_user_grant",
    "end_user_grants",
    "grant_standing",
    "is_live",
    "kept_end",
    "live_grants",
    "mark_expired",
    "operator_grants",
]
