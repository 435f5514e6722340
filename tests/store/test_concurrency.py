"""State changes racing in threads end consistent, enforced by the database."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from joserfc import jws
from sqlalchemy import func, select, text

from consenthub.store import audit
from consenthub.store import database as store_database
from consenthub.store.database import Database
from consenthub.store.tables import AuditEvent, TokenRevocation
from tests.factories import add_party
from tests.harness import LiveServer


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


def test_events_appended_together_keep_the_chain_in_their_order(db: Database) -> None:
    """``append_many`` (an approval's hundred grants, a BRS-NO-622 message's thousands)
    links its events in the given order, between single appends, and the chain verifies
    by id; the details are stored as given."""
    events = [
        audit.Event("test", "many", f"s:{n}", {"n": n, "name": "Ærlig Øl", "z": {"b": [n, None]}})
        for n in range(2500)
    ]
    with db.write() as conn:
        first = audit.append(conn, actor="test", action="before", subject="s:0")
        many = audit.append_many(conn, events)
        last = audit.append(conn, actor="test", action="after", subject="s:last")
    with db.read() as conn:
        report = audit.verify(conn)
        rows = conn.execute(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert report.ok, report
    assert [row.hash for row in rows] == [first, *many, last]
    assert [row.subject for row in rows[1:-1]] == [event.subject for event in events]
    assert [row.details for row in rows[1:-1]] == [event.details for event in events]
    assert rows[1].prev_hash == first


def test_concurrent_token_requests_each_get_their_own_token(
    live_server: LiveServer, db: Database
) -> None:
    creds = add_party(db)
    form = {
        "grant_type": "client_credentials",
        "client_id": creds.party.client_id,
        "client_secret": creds.client_secret,
    }

    def fetch(_: int) -> dict[str, object]:
        response = httpx.post(f"{live_server.url}/sts/Token", data=form)
        assert response.status_code == 200
        token = response.json()["access_token"].encode()
        claims: dict[str, object] = json.loads(jws.extract_compact(token).payload)
        return claims

    with ThreadPoolExecutor(max_workers=8) as pool:
        claims = list(pool.map(fetch, range(40)))
    assert len({c["ref_token"] for c in claims}) == 40
    assert len({c["jti"] for c in claims}) == 40


def test_concurrent_revocations_of_one_token_record_it_once(
    live_server: LiveServer, db: Database
) -> None:
    creds = add_party(db)
    form = {"client_id": creds.party.client_id, "client_secret": creds.client_secret}
    token = httpx.post(
        f"{live_server.url}/sts/Token", data=form | {"grant_type": "client_credentials"}
    ).json()["access_token"]

    def revoke(_: int) -> int:
        return httpx.post(f"{live_server.url}/sts/revoke", data=form | {"token": token}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(revoke, range(16))) == {200}
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(TokenRevocation)).scalar_one() == 1


def test_a_connection_closed_while_idle_is_replaced_before_use(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ends an idle pooled connection (restart, idle timeout): the next
    transaction gets a fresh one instead of an error."""
    database = Database(database_url)
    if database.is_sqlite:
        pytest.skip("an embedded database has no server to close connections")
    try:
        with database.read() as conn:
            backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin = Database(database_url)
        with admin.read() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        admin.dispose()
        monkeypatch.setattr(store_database, "PING_AFTER_IDLE_SECONDS", 0.0)
        with database.read() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
    finally:
        database.dispose()
