"""URL-initiated third-party access (seed 000, Elhub BRS-NO-624)."""

from consenthub.url_access.handler import DECISION_FLOW, ROUTERS

DIRECT_ROUTES = ()
DECISION_FLOWS = (DECISION_FLOW,)

__all__ = ["DECISION_FLOWS", "DIRECT_ROUTES", "ROUTERS"]
