"""Altinn consent (seed 002): consent requests, the consent page, consent tokens at the
token endpoint, withdrawal in Min side."""

from consenthub.consent.handler import ROUTERS, TOKEN_EXTENSION

DIRECT_ROUTES = ()
DECISION_FLOWS = ()
TOKEN_EXTENSIONS = (TOKEN_EXTENSION,)

__all__ = ["DECISION_FLOWS", "DIRECT_ROUTES", "ROUTERS", "TOKEN_EXTENSIONS"]
