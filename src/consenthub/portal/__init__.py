"""Min side (SPEC §9): the person's own pages, and the one decision page every process's
requests are answered on. Processes use it through these names."""

from consenthub.portal.handler import (
    ROUTERS,
    DecisionFlow,
    back_to_minside,
    closed_page,
    failed_page,
)
from consenthub.portal.service import parties

DIRECT_ROUTES = ()
DECISION_FLOWS = ()

__all__ = [
    "DECISION_FLOWS",
    "DIRECT_ROUTES",
    "ROUTERS",
    "DecisionFlow",
    "back_to_minside",
    "closed_page",
    "failed_page",
    "parties",
]
