"""Alembic migrations: the schema they build is the one the models describe, and data
survives each revision."""

from __future__ import annotations

import datetime as dt

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text

from consenthub.store.database import Database
from consenthub.store.migrate import alembic_config, upgrade
from consenthub.store.tables import Base, TokenRevocation
from tests.factories import add_party


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
            conn.execute(insert, {"ref": "live-ref", "jti": "j1", "party": party_id,
                                  "at": expires, "exp": expires, "revoked": None})
            conn.execute(insert, {"ref": "revoked-ref", "jti": "j2", "party": party_id,
                                  "at": expires, "exp": expires, "revoked": expires})
    finally:
        upgrade(db)
    with db.read() as conn:
        rows = conn.execute(select(TokenRevocation)).all()
    assert [(row.ref_token, row.party_id, row.expires_at) for row in rows] == [
        ("revoked-ref", party_id, expires.replace(tzinfo=dt.UTC))
    ]
