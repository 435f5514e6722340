"""Alembic environment: runs on the engine handed in by ``consenthub.store.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from consenthub.store.tables import Base

config = context.config
engine = config.attributes.get("engine") or create_engine(
    config.get_main_option("sqlalchemy.url", "sqlite:///consenthub.db")
)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
