"""Authorization requests from a seller, with e-mail notice and reminder, and
cancellation (seed 003, Fingrid Datahub DH-831 / DH-851)."""

from consenthub.authorization_requests.handler import DECISION_FLOW, ROUTERS

DIRECT_ROUTES = ()
DECISION_FLOWS = (DECISION_FLOW,)

__all__ = ["DECISION_FLOWS", "DIRECT_ROUTES", "ROUTERS"]
