"""Alembic migrations: the schema they build is the one the models describe, and data
survives each revision."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from consenthub import outbox, registry
from consenthub.domain.access import EventType
from consenthub.store import audit
from consenthub.store.database import Database
from consenthub.store.migrate import HEAD_REVISION, alembic_config, is_current, upgrade
from consenthub.store.tables import AccessRequest, Base, Grant, TokenRevocation
from tests.conftest import TEST_SECRET_KEY
from tests.factories import (
    TEST_IDS,
    add_end_user,
    add_grant,
    add_metering_point,
    add_party,
    end_user_by_national_id,
    fnr,
    national_id_of,
)

KEY = TEST_SECRET_KEY.encode()
NOW = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)


def test_migrations_build_the_models_schema(db: Database) -> None:
    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []


def test_0002_keeps_revocations_and_drops_token_records(db: Database) -> None:
    party_id = add_party(db).party.id
    expires = dt.datetime(2030, 1, 1, 12, 0)
    command.downgrade(alembic_config(db, secret_key=KEY), "0001")
    try:
        with db.write() as conn:
            insert = text(
                "INSERT INTO tokens (ref_token, jti, party_id, scope, issued_at, expires_at, "
                "revoked_at) VALUES (:ref, :jti, :party, 'data:read', :at, :exp, :revoked)"
            )
            conn.execute(
                insert,
                {
                    "ref": "live-ref",
                    "jti": "j1",
                    "party": party_id,
                    "at": expires,
                    "exp": expires,
                    "revoked": None,
                },
            )
            conn.execute(
                insert,
                {
                    "ref": "revoked-ref",
                    "jti": "j2",
                    "party": party_id,
                    "at": expires,
                    "exp": expires,
                    "revoked": expires,
                },
            )
    finally:
        upgrade(db, secret_key=KEY)
    with db.read() as conn:
        rows = conn.execute(select(TokenRevocation)).all()
    assert [(row.ref_token, row.party_id, row.expires_at) for row in rows] == [
        ("revoked-ref", party_id, expires.replace(tzinfo=dt.UTC))
    ]


def test_head_revision_is_alembics_one_head(db: Database) -> None:
    script = ScriptDirectory.from_config(alembic_config(db, secret_key=KEY))
    assert script.get_heads() == [HEAD_REVISION]


def test_readiness_follows_the_schema_version(db: Database, tmp_path: Path) -> None:
    assert is_current(db)
    command.downgrade(alembic_config(db, secret_key=KEY), "0001")
    try:
        assert not is_current(db)
    finally:
        upgrade(db, secret_key=KEY)
    assert is_current(db)
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert not is_current(empty)
    finally:
        empty.dispose()


def test_server_workers_do_not_load_alembic() -> None:
    """The app and the CLI that serves it leave Alembic unloaded until a migration runs."""
    probe = (
        "import sys, consenthub.cli.main, consenthub.app; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_0007_says_how_grants_ended_before_reasons_were_recorded(db: Database) -> None:
    party = add_party(db).party.id
    person = add_end_user(db, fnr(5, 5, 80))
    point = add_metering_point(db, 11)
    ended = add_grant(db, party, point, person, dt.date(2022, 1, 1))
    running = add_grant(db, party, add_metering_point(db, 12), person, dt.date(2022, 1, 1))
    command.downgrade(alembic_config(db, secret_key=KEY), "0006")
    try:
        with db.write() as conn:
            conn.execute(
                text("UPDATE grants SET valid_to = :end, ended_reason = NULL WHERE id = :id"),
                {"end": dt.date(2023, 1, 1), "id": ended},
            )
            audit.append(conn, actor="end_user", action="grant.ended", subject=f"grant:{ended}")
    finally:
        upgrade(db, secret_key=KEY)
    with db.read() as conn:
        reasons = dict(conn.execute(select(Grant.id, Grant.ended_reason)).all())
    assert reasons == {ended: "end_user", running: None}


def test_0011_seals_national_ids_and_keys_the_consent_person_hashes(db: Database) -> None:
    party = add_party(db).party.id
    kari, per = fnr(5, 5, 80), fnr(7, 7, 77)
    token = hashlib.sha256(kari.encode()).hexdigest()
    command.downgrade(alembic_config(db, secret_key=KEY), "0008")
    try:
        with db.write() as conn:
            for national_id in (kari, per):
                conn.execute(
                    text("INSERT INTO end_users (national_id, kind) VALUES (:id, 'person-no')"),
                    {"id": national_id},
                )
            conn.execute(
                text(
                    "INSERT INTO access_requests (id, party_id, request_id, process, scope, "
                    "status, created_at, details) VALUES ('r1', :party, 'x', 'consent', "
                    "'limited', 'pending', :at, :details)"
                ),
                {
                    "party": party,
                    "at": dt.datetime(2026, 1, 1),
                    "details": json.dumps({"offered_by": token, "user_token": token, "k": 1}),
                },
            )
    finally:
        upgrade(db, secret_key=KEY)
    kari_id = end_user_by_national_id(db, kari)
    assert kari_id is not None
    assert national_id_of(db, kari_id) == kari
    assert end_user_by_national_id(db, per) not in (None, kari_id)
    with db.read() as conn:
        details = conn.execute(
            select(AccessRequest.details).where(AccessRequest.id == "r1")
        ).scalar_one()
    tag = TEST_IDS.user_token_tag(token)
    assert details == {"offered_by": tag, "user_token": tag, "k": 1}
    assert token not in json.dumps(details)


def test_0011_without_the_hub_secret_key_refuses_to_run_on_stored_persons(db: Database) -> None:
    add_end_user(db, fnr(5, 5, 80))
    command.downgrade(alembic_config(db, secret_key=KEY), "0008")
    try:
        with pytest.raises(RuntimeError, match="hub secret key"):
            upgrade(db)
    finally:
        upgrade(db, secret_key=KEY)
    assert end_user_by_national_id(db, fnr(5, 5, 80)) is not None


def test_0012_leaves_messages_written_before_it_each_in_its_own_place(db: Database) -> None:
    """Rows written before batches existed are single messages, delivered in id order
    with the batches written after them."""
    party = add_party(db).party
    with db.write() as conn:
        registry.set_webhook(conn, KEY, party.client_id, "https://hooks.example.no/h", now=NOW)
    command.downgrade(alembic_config(db, secret_key=KEY), "0011")
    try:
        with db.write() as conn:
            for n in range(2):
                conn.execute(
                    text(
                        "INSERT INTO outbox (channel, party_id, message_id, event_type,"
                        " payload, created_at, due_at, attempts)"
                        " VALUES ('webhook', :party, :id, 'grant.started', :payload, :at, :at, 0)"
                    ),
                    {
                        "party": party.id,
                        "id": f"msg_old{n}",
                        "payload": json.dumps({"type": "grant.started", "data": {"n": n}}),
                        "at": NOW.replace(tzinfo=None),
                    },
                )
    finally:
        upgrade(db, secret_key=KEY)
    with db.write() as conn:
        outbox.enqueue_webhooks(
            conn,
            party.id,
            [outbox.Event(EventType.GRANT_STARTED, {"n": n}) for n in (2, 3)],
            now=NOW,
        )
        claimed = outbox.claim(
            conn, worker="w", now=NOW, lease=dt.timedelta(minutes=1), parties=1, per_party=10
        )
    assert [entry.payload["data"]["n"] for entry in claimed[party.id]] == [0, 1, 2, 3]
    assert [entry.message_id for entry in claimed[party.id]][:2] == ["msg_old0", "msg_old1"]


def test_0012_is_not_undone_while_a_batch_is_left(db: Database) -> None:
    """The code before 0012 would send a batch's whole payload as one event."""
    party = add_party(db).party
    with db.write() as conn:
        registry.set_webhook(conn, KEY, party.client_id, "https://hooks.example.no/h", now=NOW)
        outbox.enqueue_webhooks(
            conn,
            party.id,
            [outbox.Event(EventType.GRANT_STARTED, {"n": n}) for n in range(2)],
            now=NOW,
        )
    try:
        with pytest.raises(RuntimeError, match="1 outbox batches are not fanned out"):
            command.downgrade(alembic_config(db, secret_key=KEY), "0011")
    finally:
        upgrade(db, secret_key=KEY)
    assert is_current(db)
