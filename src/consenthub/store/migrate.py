"""Alembic, driven from code so ``consenthub db upgrade`` needs no alembic.ini.

Alembic is imported only where migrations run. Readiness, which the platform asks of
every server worker every few seconds, compares the database's ``alembic_version``
with ``HEAD_REVISION`` instead: loading Alembic's script directory costs a worker
about 10 MB of its 150 MB budget (SPEC §12).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, MetaData, String, Table, inspect, select

from consenthub.store.database import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in ``migrations/versions``; a test checks it is Alembic's one head,
# so a new migration that forgets it fails the suite.
HEAD_REVISION = "0012"
_VERSIONS = Table("alembic_version", MetaData(), Column("version_num", String(32)))


def alembic_config(
    database: Database, *, secret_key: bytes | None = None, national_id_key_id: int = 1
) -> Config:
    """Alembic's configuration for ``database``. Migrations that seal or open national ids
    (0011) need the hub secret key and the current national id key id."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = database.engine
    config.attributes["secret_key"] = secret_key
    config.attributes["national_id_key_id"] = national_id_key_id
    return config


def upgrade(
    database: Database,
    revision: str = "head",
    *,
    secret_key: bytes | None = None,
    national_id_key_id: int = 1,
) -> None:
    from alembic import command

    command.upgrade(
        alembic_config(database, secret_key=secret_key, national_id_key_id=national_id_key_id),
        revision,
    )
    if database.is_sqlite:
        # The WAL still holds the pages as they were before, national ids in the clear
        # among them (0011): copy it into the file and empty it.
        with database.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def is_current(database: Database) -> bool:
    """True when the database schema is at the newest migration."""
    with database.engine.connect() as conn:
        if not inspect(conn).has_table(_VERSIONS.name):
            return False
        return set(conn.execute(select(_VERSIONS.c.version_num)).scalars()) == {HEAD_REVISION}
