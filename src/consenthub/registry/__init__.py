"""Registered parties (SPEC §2): roles, return addresses, client credentials and their
authentication (RFC 6749 §2.3.1)."""

from consenthub.registry.client_auth import (
    ClientAuthenticator,
    ClientCredentials,
    credentials_from,
)
from consenthub.registry.store import (
    NewCredentials,
    PartyRecord,
    RegistryError,
    find_by_gln,
    return_urls,
)

__all__ = [
    "ClientAuthenticator",
    "ClientCredentials",
    "NewCredentials",
    "PartyRecord",
    "RegistryError",
    "credentials_from",
    "find_by_gln",
    "return_urls",
]
