"""Data API (SPEC §8): the resource server that reads exactly what grants allow."""

from consenthub.data_api.handler import DIRECT_ROUTES, ROUTERS

DECISION_FLOWS = ()

__all__ = ["DECISION_FLOWS", "DIRECT_ROUTES", "ROUTERS"]
