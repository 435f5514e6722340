"""Message-initiated access updates (seed 001, Elhub BRS-NO-622): message 34 in,
acknowledgement 37 out."""

from consenthub.access_updates.handler import DECISION_FLOW, ROUTERS

DIRECT_ROUTES = ()
DECISION_FLOWS = (DECISION_FLOW,)

__all__ = ["DECISION_FLOWS", "DIRECT_ROUTES", "ROUTERS"]
