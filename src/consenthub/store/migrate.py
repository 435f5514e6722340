"""Alembic, driven from code so ``consenthub db upgrade`` needs no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from consenthub.store.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = database.engine
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    command.upgrade(alembic_config(database), revision)


def is_current(database: Database) -> bool:
    """True when the database schema is at the newest migration."""
    heads = set(ScriptDirectory.from_config(alembic_config(database)).get_heads())
    with database.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads()) == heads
