"""Defect 3: a stranger who knows a client_id cannot lock that client out, and the
failure budget is one budget however many server processes share the database.

Addresses are given by ``X-Forwarded-For``, which uvicorn trusts from loopback (as from
the reverse proxy in front of a deployment)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import httpx
import pytest

from consenthub.config import Settings
from consenthub.domain.errors import Code, DomainError
from consenthub.registry import ClientAuthenticator, ClientCredentials, FailureThrottle
from consenthub.store.database import Database
from tests.conftest import TEST_SECRET_KEY
from tests.factories import add_party
from tests.harness import LiveServer, MovableClock, ServerProcess, free_port

LIMIT = 3
WINDOW = 300


def token(url: str, client_id: str, secret: str, address: str) -> httpx.Response:
    return httpx.post(
        f"{url}/sts/Token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        headers={"X-Forwarded-For": address},
    )


def test_a_strangers_failures_do_not_lock_out_the_client_at_its_own_address(
    settings: Settings, db: Database, clock: MovableClock
) -> None:
    creds = add_party(db)
    client_id, secret = creds.party.client_id, creds.client_secret
    limited = settings.model_copy(update={"failed_auth_limit": LIMIT})
    with LiveServer(limited, db, clock) as server:
        assert token(server.url, client_id, secret, "10.0.0.1").status_code == 200  # cached
        for _ in range(LIMIT):
            assert token(server.url, client_id, "wrong", "192.0.2.66").status_code == 401
        # The stranger's address is throttled, even with the right secret...
        blocked = token(server.url, client_id, secret, "192.0.2.66")
        assert blocked.status_code == 429
        assert blocked.json()["code"] == Code.TOO_MANY_FAILURES
        # ... the client at its own address is not, from the cache or from the database.
        assert token(server.url, client_id, secret, "10.0.0.1").status_code == 200
        assert token(server.url, client_id.upper(), secret, "10.0.0.1").status_code == 200


def test_an_address_failing_for_many_clients_is_throttled_by_its_own_bound(
    settings: Settings, db: Database, clock: MovableClock
) -> None:
    creds = add_party(db)
    limited = settings.model_copy(update={"failed_auth_limit": 100, "failed_auth_address_limit": 4})
    with LiveServer(limited, db, clock) as server:
        # Random client ids (and ids that are no UUID) from one address.
        for n in range(4):
            guess = f"00000000-0000-4000-8000-{n:012d}" if n % 2 else f"not-a-uuid-{n}"
            assert token(server.url, guess, "wrong", "192.0.2.7").status_code == 401
        guessed = token(server.url, creds.party.client_id, creds.client_secret, "192.0.2.7")
        assert guessed.status_code == 429
        assert int(guessed.headers["retry-after"]) == WINDOW
        other = token(server.url, creds.party.client_id, creds.client_secret, "192.0.2.8")
        assert other.status_code == 200


def test_a_block_ends_when_the_clock_passes_the_window(db: Database) -> None:
    creds = add_party(db)
    clock = MovableClock()
    throttle = FailureThrottle(
        db, clock, client_limit=LIMIT, address_limit=50, window_seconds=WINDOW
    )
    clients = ClientAuthenticator(db, TEST_SECRET_KEY.encode(), throttle, cache_ttl=30)
    right = ClientCredentials(creds.party.client_id, creds.client_secret, via_basic=False)
    wrong = ClientCredentials(creds.party.client_id, "wrong", via_basic=False)
    for _ in range(LIMIT):
        with pytest.raises(DomainError):
            clients.authenticate(wrong, "192.0.2.1")
    clock.advance(seconds=100)
    with pytest.raises(DomainError) as blocked:
        clients.authenticate(right, "192.0.2.1")
    assert blocked.value.code is Code.TOO_MANY_FAILURES
    assert blocked.value.retry_after == WINDOW - 100
    # This process remembers the block: the cached path refuses too, without I/O.
    assert clients.from_cache(right, "192.0.2.1") is None
    clock.advance(seconds=WINDOW - 100)
    assert clients.authenticate(right, "192.0.2.1") == creds.party
    assert clients.from_cache(right, "192.0.2.1") == creds.party


class Hub:
    """``consenthub serve`` as a process of its own on the shared database."""

    def __init__(self, database_url: str) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.server = ServerProcess(
            [sys.executable, "-m", "consenthub.cli.main", "serve", "--port", self.url[-5:]],
            ready_url=f"{self.url}/healthz",
            env=os.environ
            | {
                "CONSENTHUB_DATABASE_URL": database_url,
                "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY,
                "CONSENTHUB_BASE_URL": self.url,
                "CONSENTHUB_FAILED_AUTH_LIMIT": str(LIMIT),
            },
        )


@pytest.fixture
def two_hubs(database_url: str, db: Database) -> Iterator[tuple[Hub, Hub]]:
    hubs = (Hub(database_url), Hub(database_url))
    try:
        for hub in hubs:
            hub.server.wait_ready()
        yield hubs
    finally:
        for hub in hubs:
            hub.server.stop()


def test_the_budget_holds_across_two_server_processes(
    two_hubs: tuple[Hub, Hub], db: Database
) -> None:
    creds = add_party(db)
    client_id, secret = creds.party.client_id, creds.client_secret
    first, second = two_hubs
    for hub in two_hubs:  # both have the client in their cache
        assert token(hub.url, client_id, secret, "10.0.0.1").status_code == 200
    statuses = [
        token(hub.url, client_id, "wrong", "192.0.2.9").status_code
        for hub in (first, second, first, second, first, second)
    ]
    # LIMIT failures in all, wherever they landed; then every process refuses.
    assert statuses == [401] * LIMIT + [429] * (6 - LIMIT)
    for hub in two_hubs:
        assert token(hub.url, client_id, secret, "192.0.2.9").status_code == 429
        assert token(hub.url, client_id, secret, "10.0.0.1").status_code == 200
