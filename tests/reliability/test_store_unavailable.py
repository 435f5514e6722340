"""A database that cannot be reached is ``503`` ``CH5001`` with ``Retry-After`` (docs/errors.md),
as JSON for the API and as a page for pages — never ``500`` ``EH111`` with a logged trace."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from consenthub.config import Settings
from consenthub.domain.errors import Code, DomainError
from consenthub.store.database import STORE_RETRY_AFTER_SECONDS, Database, is_unavailable
from tests.factories import gln
from tests.harness import LiveServer, free_port


@pytest.fixture
def unreachable(database_url: str, tmp_path: Path) -> Database:
    """The backend of the run, at an address where no database answers."""
    if database_url.startswith("sqlite"):
        return Database(f"sqlite:///{tmp_path / 'missing' / 'consenthub.db'}")
    url = make_url(database_url).set(port=free_port())
    return Database(url.render_as_string(hide_password=False))


def test_an_unreachable_database_is_store_unavailable(unreachable: Database) -> None:
    with pytest.raises(DomainError) as raised, unreachable.read():
        pass
    assert raised.value.code is Code.STORE_UNAVAILABLE
    assert raised.value.retry_after == STORE_RETRY_AFTER_SECONDS
    with pytest.raises(DomainError) as raised, unreachable.write():
        pass
    assert raised.value.code is Code.STORE_UNAVAILABLE


def test_the_api_and_pages_answer_503_with_retry_after(
    settings: Settings, unreachable: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with LiveServer(settings, unreachable) as server:
        token = httpx.post(
            f"{server.url}/sts/Token",
            data={
                "grant_type": "client_credentials",
                "client_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
                "client_secret": "secret",
            },
        )
        page = httpx.get(
            f"{server.url}/third-party-access/authorize",
            params={
                "client_id": gln(1),
                "request_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
                "scope": "Full",
            },
        )
        ready = httpx.get(f"{server.url}/readyz")
    assert token.status_code == 503
    assert token.headers["retry-after"] == str(STORE_RETRY_AFTER_SECONDS)
    body = token.json()
    assert body["code"] == "CH5001"
    assert body["statusCode"] == 503
    assert body["errorCategory"] == "unavailable"
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["retry-after"] == str(STORE_RETRY_AFTER_SECONDS)
    assert "CH5001" in page.text
    assert ready.status_code == 503
    assert not [record for record in caplog.records if record.exc_info]


def test_a_wrong_statement_is_not_store_unavailable(db: Database) -> None:
    """SQLite reports a missing table as an OperationalError too: still a fault (EH111)."""
    with pytest.raises(DBAPIError) as raised, db.read() as conn:
        conn.execute(text("SELECT * FROM no_such_table"))
    assert not is_unavailable(raised.value)
