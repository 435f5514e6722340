"""RFC 9700 checks that had no test of their own (docs/rfc9700.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from consenthub.app import create_app
from consenthub.config import Settings
from consenthub.store.database import Database
from tests.factories import add_party


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "path",
    [
        "/third-party-access/authorize?client_id=x",
        "/consent/request?Resources=x",
        "/login/callback?code=x&state=y",
    ],
)
def test_pages_of_the_redirect_flows_refuse_framing_and_referer(
    client: TestClient, path: str
) -> None:
    """§4.16 clickjacking: frame-ancestors 'none'; §4.2: no Referer carries a code onward;
    §4.3: no-store keeps codes and parameters out of the browser's cache."""
    page = client.get(path, follow_redirects=False)
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"


def test_the_token_answer_is_not_cached(client: TestClient) -> None:
    """RFC 6749 §5.1, RFC 9700 §4.3: token answers, errors included, carry no-store."""
    answer = client.post("/sts/Token", data={"grant_type": "client_credentials"})
    assert answer.status_code >= 400
    assert "no-store" in answer.headers.get("cache-control", "")


def test_no_refresh_token_and_no_password_grant(client: TestClient, db: Database) -> None:
    """§2.2.2/§4.14: the hub issues no refresh tokens; §2.4: no password grant."""
    party = add_party(db)
    form = {"client_id": party.party.client_id, "client_secret": party.client_secret}
    issued = client.post("/sts/Token", data={**form, "grant_type": "client_credentials"})
    assert issued.status_code == 200
    assert "refresh_token" not in issued.json()
    password = client.post(
        "/sts/Token", data={**form, "grant_type": "password", "username": "u", "password": "p"}
    )
    assert password.status_code == 400
    assert password.json()["error"] == "unsupported_grant_type"
