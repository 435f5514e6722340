"""Test fixtures: a real database (SQLite file or PostgreSQL server) and real servers.

``--db sqlite`` (default) uses a SQLite file per session; ``--db postgresql``
creates a throwaway database on the server named by
``CONSENTHUB_TEST_POSTGRES_URL`` (default: 127.0.0.1:5432, database ``test``)
and fails — never skips — when that server cannot be reached.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from consenthub.config import Settings
from consenthub.services import Services, build_services
from consenthub.signing import keys
from consenthub.store.database import Database
from consenthub.store.migrate import upgrade
from consenthub.store.tables import Base
from tests.harness import LiveServer, MovableClock, free_port

# Property tests share this machine with servers and browsers: a slow example is load, not
# a failure, so Hypothesis judges results only, never time.
hypothesis_settings.register_profile("consenthub", deadline=None)
hypothesis_settings.load_profile("consenthub")

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TEST_SECRET_KEY = "test-secret-key-not-for-production"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("CONSENTHUB_TEST_DB", "sqlite"),
        help="database backend for the whole suite",
    )


@pytest.fixture(scope="session")
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.config.getoption("--db") == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'consenthub.db'}"
        return
    server_url = make_url(os.environ.get("CONSENTHUB_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    name = f"consenthub_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL at {server_url.render_as_string()} is required for "
            f"--db postgresql and could not be used: {exc}",
            pytrace=False,
        )
    try:
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def db(migrated: Database) -> Database:
    """The migrated database, emptied, with one signing key."""
    with migrated.write() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        keys.ensure_key(conn, TEST_SECRET_KEY.encode())
    return migrated


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET_KEY,
        secret_key_file=tmp_path / "unused.key",
        environment="test",
        base_url="http://127.0.0.1:8000",
        cache_ttl_seconds=30,
    )


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def hub(settings: Settings, db: Database, clock: MovableClock) -> Services:
    """The shared services on the test database, as a server, CLI or worker builds them:
    for service-level tests, with no server and no login provider."""
    return build_services(settings, db, clock=clock)


@pytest.fixture
def live_server(settings: Settings, db: Database, clock: MovableClock) -> Iterator[LiveServer]:
    with LiveServer(settings, db, clock) as server:
        yield server


@pytest.fixture(scope="session")
def oidc_issuer() -> Iterator[str]:
    """A real OpenID Connect provider process (oidc-provider-mock) for the whole session.

    Tests register the persons they log in as with :func:`tests.portal.register_person`.
    """
    from consenthub.demo import start_login_provider

    port = free_port()
    process = start_login_provider(port, users=[])
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def portal_server(
    settings: Settings, db: Database, oidc_issuer: str, clock: MovableClock
) -> Iterator[LiveServer]:
    portal_settings = settings.model_copy(
        update={
            "oidc_issuer": oidc_issuer,
            "oidc_client_secret": SecretStr("test-client-secret"),
            "allow_synthetic_ids": True,
            # Tests move the clock by days past deadlines; the session outlives them.
            "session_max_age_seconds": 90 * 86400,
        }
    )
    with LiveServer(portal_settings, db, clock) as server:
        yield server
