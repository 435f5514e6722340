"""The long-lived objects a process shares: built by ``build_services`` for a server, a CLI
command, a worker or a test alike, with no request in sight.

Only shared parts live here (settings, database, signing keys, client authentication,
the login provider's client, the national id cipher, the clock); what a process needs
beyond them it builds from these.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from authlib.integrations.starlette_client import OAuth

from consenthub.config import Settings
from consenthub.domain.clock import Clock, system_clock
from consenthub.oidc import oauth_client
from consenthub.registry import ClientAuthenticator, FailureThrottle
from consenthub.signing import KeyRing, VerifiedTokens
from consenthub.store.database import Database
from consenthub.store.id_cipher import NationalIdCipher


@dataclass
class Services:
    settings: Settings
    database: Database
    keys: KeyRing
    verified_tokens: VerifiedTokens
    clients: ClientAuthenticator
    oauth: OAuth
    # National ids at rest: sealed, opened and found by their keyed hash.
    ids: NationalIdCipher
    clock: Clock = field(default=system_clock)

    def now(self) -> dt.datetime:
        return self.clock()

    def today(self) -> dt.date:
        """Today in the hub's time zone: grant dates are local calendar dates."""
        return self.clock().astimezone(self.settings.zone).date()


def build_services(
    settings: Settings, database: Database | None = None, *, clock: Clock = system_clock
) -> Services:
    database = database or Database(settings.database_url)
    secret_key = settings.resolved_secret_key()
    throttle = FailureThrottle(
        database,
        clock,
        client_limit=settings.failed_auth_limit,
        address_limit=settings.failed_auth_address_limit,
        window_seconds=settings.failed_auth_window_seconds,
    )
    keys = KeyRing(
        database,
        secret_key,
        token_ttl=settings.access_token_ttl_seconds,
        cache_ttl=settings.cache_ttl_seconds,
    )
    return Services(
        settings=settings,
        database=database,
        keys=keys,
        verified_tokens=VerifiedTokens(),
        clients=ClientAuthenticator(database, secret_key, throttle, settings.cache_ttl_seconds),
        oauth=oauth_client(settings),
        ids=NationalIdCipher(secret_key, settings.national_id_key_id),
        clock=clock,
    )
