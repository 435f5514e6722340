"""End-user login (SPEC §9): OpenID Connect code flow with PKCE, and the session that
says who the person is. Other processes use it through these names."""

from consenthub.login.handler import ROUTERS, local_path, require_login

DIRECT_ROUTES = ()
DECISION_FLOWS = ()

__all__ = ["DECISION_FLOWS", "DIRECT_ROUTES", "ROUTERS", "local_path", "require_login"]
