"""Alembic migrations: the schema they build is the one the models describe, and data
survives each revision."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from consenthub.store import audit
from consenthub.store.database import Database
from consenthub.store.migrate import HEAD_REVISION, alembic_config, is_current, upgrade
from consenthub.store.tables import Base, Grant, TokenRevocation
from tests.factories import add_end_user, add_grant, add_metering_point, add_party, fnr


def test_migrations_build_the_models_schema(db: Database) -> None:
    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []


def test_0002_keeps_revocations_and_drops_token_records(db: Database) -> None:
    party_id = add_party(db).party.id
    expires = dt.datetime(2030, 1, 1, 12, 0)
    command.downgrade(alembic_config(db), "0001")
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
        upgrade(db)
    with db.read() as conn:
        rows = conn.execute(select(TokenRevocation)).all()
    assert [(row.ref_token, row.party_id, row.expires_at) for row in rows] == [
        ("revoked-ref", party_id, expires.replace(tzinfo=dt.UTC))
    ]


def test_head_revision_is_alembics_one_head(db: Database) -> None:
    script = ScriptDirectory.from_config(alembic_config(db))
    assert script.get_heads() == [HEAD_REVISION]


def test_readiness_follows_the_schema_version(db: Database, tmp_path: Path) -> None:
    assert is_current(db)
    command.downgrade(alembic_config(db), "0001")
    try:
        assert not is_current(db)
    finally:
        upgrade(db)
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
    command.downgrade(alembic_config(db), "0006")
    try:
        with db.write() as conn:
            conn.execute(
                text("UPDATE grants SET valid_to = :end, ended_reason = NULL WHERE id = :id"),
                {"end": dt.date(2023, 1, 1), "id": ended},
            )
            audit.append(conn, actor="end_user", action="grant.ended", subject=f"grant:{ended}")
    finally:
        upgrade(db)
    with db.read() as conn:
        reasons = dict(conn.execute(select(Grant.id, Grant.ended_reason)).all())
    assert reasons == {ended: "end_user", running: None}
