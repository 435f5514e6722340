"""Registered parties (SPEC §2): roles, return addresses, client credentials and their
authentication (RFC 6749 §2.3.1). Others use it through these names."""

from consenthub.registry.client_auth import (
    ClientAuthenticator,
    ClientCredentials,
    credentials_from,
)
from consenthub.registry.resources import (
    add_consent_resource,
    consent_resources,
    find_consumer,
    parse_parameter,
)
from consenthub.registry.store import (
    NewCredentials,
    PartyChanges,
    PartyRecord,
    RegistryError,
    add_party,
    ensure_return_url,
    find_by_client_id,
    find_by_gln,
    list_parties,
    parties_by_id,
    party_problems,
    return_domains,
    return_urls,
    rotate_secret,
    update_party,
    update_problems,
)
from consenthub.registry.throttle import FailureThrottle
from consenthub.registry.webhooks import (
    WebhookEndpoint,
    WebhookTarget,
    rotate_webhook_secret,
    set_webhook,
    signing_secrets,
    validate_webhook_url,
    webhook_target,
)

__all__ = [
    "ClientAuthenticator",
    "ClientCredentials",
    "FailureThrottle",
    "NewCredentials",
    "PartyChanges",
    "PartyRecord",
    "RegistryError",
    "WebhookEndpoint",
    "WebhookTarget",
    "add_consent_resource",
    "add_party",
    "consent_resources",
    "credentials_from",
    "ensure_return_url",
    "find_by_client_id",
    "find_by_gln",
    "find_consumer",
    "list_parties",
    "parse_parameter",
    "parties_by_id",
    "party_problems",
    "return_domains",
    "return_urls",
    "rotate_secret",
    "rotate_webhook_secret",
    "set_webhook",
    "signing_secrets",
    "update_party",
    "update_problems",
    "validate_webhook_url",
    "webhook_target",
]
