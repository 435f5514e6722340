"""State changes racing in threads end consistent, enforced by the database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from consenthub.store import audit
from consenthub.store.database import Database
from consenthub.store.tables import Token
from tests.conftest import LiveServer
from tests.factories import add_party


def test_concurrent_audit_appends_keep_one_chain(db: Database) -> None:
    def append(index: int) -> None:
        with db.write() as conn:
            audit.append(conn, actor="test", action="race", subject=f"item:{index}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(append, range(80)))
    with db.read() as conn:
        report = audit.verify(conn)
    assert report.ok, report.reason
    assert report.events == 80


def test_concurrent_token_requests_each_get_their_own_record(live_server: LiveServer,
                                                             db: Database) -> None:
    creds = add_party(db)
    form = {"grant_type": "client_credentials", "client_id": creds.party.client_id,
            "client_secret": creds.client_secret}

    def fetch(_: int) -> str:
        response = httpx.post(f"{live_server.url}/sts/Token", data=form)
        assert response.status_code == 200
        return str(response.json()["access_token"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        tokens = list(pool.map(fetch, range(40)))
    assert len(set(tokens)) == 40
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(Token)).scalar_one() == 40
