"""Altinn consent (seed 002): consent requests, the consent page, consent tokens at the
token endpoint, withdrawal in Min side."""

from consenthub.consent.handler import ROUTERS, TOKEN_EXTENSION
from consenthub.consent.service import expire_due

DIRECT_ROUTES = ()
DECISION_FLOWS = ()
TOKEN_EXTENSIONS = (TOKEN_EXTENSION,)
# The worker's periodic jobs of this process, by the name its report gives them.
DUE_WORK = {"expired_consents": expire_due}

__all__ = ["DECISION_FLOWS", "DIRECT_ROUTES", "DUE_WORK", "ROUTERS", "TOKEN_EXTENSIONS"]
