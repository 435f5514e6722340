"""The long-lived objects one server process shares between requests."""

from __future__ import annotations

from dataclasses import dataclass

from authlib.integrations.starlette_client import OAuth
from starlette.requests import HTTPConnection

from consenthub.config import Settings
from consenthub.portal.oidc import oauth_client
from consenthub.store.database import Database
from consenthub.token_service.client_auth import ClientAuthenticator
from consenthub.token_service.keys import KeyRing
from consenthub.token_service.throttle import FailureThrottle
from consenthub.token_service.tokens import VerifiedTokens


@dataclass
class Services:
    settings: Settings
    database: Database
    keys: KeyRing
    verified_tokens: VerifiedTokens
    clients: ClientAuthenticator
    oauth: OAuth

    @classmethod
    def create(cls, settings: Settings, database: Database | None = None) -> Services:
        database = database or Database(settings.database_url)
        secret_key = settings.resolved_secret_key()
        throttle = FailureThrottle(settings.failed_auth_limit, settings.failed_auth_window_seconds)
        keys = KeyRing(
            database,
            secret_key,
            token_ttl=settings.access_token_ttl_seconds,
            cache_ttl=settings.cache_ttl_seconds,
        )
        return cls(
            settings=settings,
            database=database,
            keys=keys,
            verified_tokens=VerifiedTokens(settings, keys),
            oauth=oauth_client(settings),
            clients=ClientAuthenticator(database, secret_key, throttle, settings.cache_ttl_seconds),
        )


def services(connection: HTTPConnection) -> Services:
    found: Services = connection.app.state.services
    return found
