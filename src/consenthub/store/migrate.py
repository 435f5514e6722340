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
HEAD_REVISION = "0010"
_VERSIONS = Table("alembic_version", MetaData(), Column("version_num", String(32)))


def alembic_config(database: Database) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = database.engine
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(database), revision)


def is_current(database: Database) -> bool:
    """True when the database schema is at the newest migration."""
    with database.engine.connect() as conn:
        if not inspect(conn).has_table(_VERSIONS.name):
            return False
        return set(conn.execute(select(_VERSIONS.c.version_num)).scalars()) == {HEAD_REVISION}
