"""The OpenID Connect client (Authlib) for end-user login."""

from __future__ import annotations

from authlib.integrations.starlette_client import OAuth

from consenthub.config import Settings

PROVIDER = "oidc"


def oauth_client(settings: Settings) -> OAuth:
    """Authorization code + PKCE (S256); metadata from the issuer's discovery document."""
    oauth = OAuth()
    if settings.oidc_issuer:
        secret = settings.oidc_client_secret
        oauth.register(
            PROVIDER,
            client_id=settings.oidc_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            server_metadata_url=settings.oidc_issuer.rstrip("/")
            + "/.well-known/openid-configuration",
            client_kwargs={"scope": settings.oidc_scope, "code_challenge_method": "S256"},
        )
    return oauth
