"""Defect 4: the case variants of one client id share one failure budget."""

from __future__ import annotations

import pytest

from consenthub.domain.clock import system_clock
from consenthub.domain.errors import Code, DomainError
from consenthub.registry import ClientAuthenticator, ClientCredentials, FailureThrottle
from consenthub.store.database import Database
from tests.conftest import TEST_SECRET_KEY
from tests.factories import add_party

LIMIT = 3


def case_variant(client_id: str, n: int) -> str:
    """The id with its letters upper-cased by the bits of ``n`` (never all lower case)."""
    letters = [i for i, char in enumerate(client_id) if char.isalpha()]
    chars = list(client_id)
    for bit, position in enumerate(letters):
        if (n + 1) >> bit & 1:
            chars[position] = chars[position].upper()
    return "".join(chars)


def test_case_variants_of_a_client_id_share_one_failure_budget(db: Database) -> None:
    creds = add_party(db)
    client_id = creds.party.client_id
    clients = ClientAuthenticator(
        db,
        TEST_SECRET_KEY.encode(),
        FailureThrottle(db, system_clock, client_limit=LIMIT, address_limit=50, window_seconds=300),
        cache_ttl=30,
    )
    right = ClientCredentials(client_id, creds.client_secret, via_basic=False)
    assert clients.authenticate(right, "10.0.0.1") == creds.party  # now cached

    # Each guess another case variant of the id, from one address.
    for n in range(LIMIT):
        guess = ClientCredentials(case_variant(client_id, n), "wrong", via_basic=False)
        with pytest.raises(DomainError) as failed:
            clients.authenticate(guess, "10.0.1.1")
        assert failed.value.code is Code.CLIENT_AUTHENTICATION_FAILED

    assert clients.from_cache(right, "10.0.1.1") is None
    for attempt in (right, ClientCredentials(case_variant(client_id, 99), "wrong", False)):
        with pytest.raises(DomainError) as blocked:
            clients.authenticate(attempt, "10.0.1.1")
        assert blocked.value.code is Code.TOO_MANY_FAILURES
        assert blocked.value.retry_after is not None
        assert blocked.value.retry_after > 0


def test_an_upper_case_client_id_with_the_right_secret_still_authenticates(
    db: Database,
) -> None:
    creds = add_party(db)
    clients = ClientAuthenticator(
        db,
        TEST_SECRET_KEY.encode(),
        FailureThrottle(db, system_clock, client_limit=LIMIT, address_limit=50, window_seconds=300),
        cache_ttl=30,
    )
    upper = ClientCredentials(creds.party.client_id.upper(), creds.client_secret, False)
    assert clients.authenticate(upper, "10.0.0.1") == creds.party
