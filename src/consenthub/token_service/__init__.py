"""Token service (seed 004, Helsenorge STS): client credentials, JWT access tokens with
``ref_token``, key rotation, revocation (RFC 7009), introspection (RFC 7662), metadata
(RFC 8414); and the resource-server check of bearer tokens (RFC 6750) every API uses.

Other processes use it only through the names exported here.
"""

from consenthub.token_service.bearer import Caller, SignedToken, caller_of, live, require, signed
from consenthub.token_service.extensions import TokenExtension
from consenthub.token_service.handler import ROUTERS, token_route
from consenthub.token_service.store import (
    LIVE_PARTY_WHERE,
    LIVENESS_COLUMNS,
    liveness_parameters,
    party_if_live,
)

DIRECT_ROUTES = (token_route,)

DECISION_FLOWS = ()

__all__ = [
    "DECISION_FLOWS",
    "DIRECT_ROUTES",
    "LIVENESS_COLUMNS",
    "LIVE_PARTY_WHERE",
    "ROUTERS",
    "Caller",
    "SignedToken",
    "TokenExtension",
    "caller_of",
    "live",
    "liveness_parameters",
    "party_if_live",
    "require",
    "signed",
]
