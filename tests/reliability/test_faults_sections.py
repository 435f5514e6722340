"""The quick form of the fault sections (kill -9, PostgreSQL outage, races) on the backend of
the run, each on a fresh database of its own, until the suite's runner picks them up."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import DEFAULT_POSTGRES
from tests.reliability.sections import kill9, postgresql_outage, races

SECTIONS = [kill9, postgresql_outage, races]


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--db"))


@pytest.fixture
def fresh_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated database of the run's backend, made as tests/conftest.py does."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'section.db'}"
        return
    server_url = make_url(os.environ.get("CONSENTHUB_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    name = f"consenthub_section_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.parametrize("section", SECTIONS, ids=[s.TITLE for s in SECTIONS])
def test_section_holds(section: ModuleType, backend: str, fresh_database_url: str) -> None:
    figures, problems = section.run(backend, fresh_database_url, quick=True)
    print(f"{section.TITLE} ({backend}): " + " · ".join(f"{n} {label}" for label, n in figures))
    assert figures
    assert not problems, "\n".join(problems)
