"""Alembic environment: runs on the engine handed in by ``consenthub.store.migrate``.

On SQLite the migrations run with foreign keys off, as SQLite's own procedure for
changing a table has it (https://www.sqlite.org/lang_altertable.html#otheralter): a
batch migration copies a table, drops it and renames the copy, and with foreign keys on
the drop fails (or cascades) for every row another table refers to. The references are
checked before the transaction commits.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from consenthub.store.tables import Base

config = context.config
engine = config.attributes.get("engine") or create_engine(
    config.get_main_option("sqlalchemy.url", "sqlite:///consenthub.db")
)

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    # On the driver's connection: before SQLAlchemy begins a transaction, in which SQLite
    # would ignore the pragma.
    driver = connection.connection.driver_connection
    assert driver is not None
    if sqlite:
        driver.execute("PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
        connection.commit()
    finally:
        if sqlite:
            driver.execute("PRAGMA foreign_keys=ON")
