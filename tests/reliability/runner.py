"""The reliability suite's runner (issue 14): every section on fresh databases, one table.

A section is a module in ``tests/reliability/sections/`` (see ``README.md`` here for the
contract); it is found by name, so a new module is run with no edit here. Each section
gets a database of its own per backend, fresh and empty (not migrated): a SQLite file in
a temporary directory, or a database created on the PostgreSQL server for it and dropped
afterwards.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import cast

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.reliability import sections as sections_package

BACKENDS = ("sqlite", "postgresql")
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

Figures = list[tuple[str, int]]
SectionRun = Callable[[str, str, bool], tuple[Figures, list[str]]]


@dataclass(frozen=True)
class Section:
    name: str  # the module's name in sections/
    title: str
    run: SectionRun


@dataclass(frozen=True)
class Outcome:
    section: Section
    backend: str
    figures: Figures
    problems: list[str]
    seconds: float

    def line(self) -> str:
        figures = " · ".join(f"{count} {label}" for label, count in self.figures)
        return f"{self.section.title}: {figures or '(no figures)'}"


def discover() -> list[Section]:
    """Every module of ``sections/`` that follows the contract, in name order."""
    found = []
    for info in sorted(pkgutil.iter_modules(sections_package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module: ModuleType = importlib.import_module(f"{sections_package.__name__}.{info.name}")
        title = getattr(module, "TITLE", None)
        run = getattr(module, "run", None)
        if not isinstance(title, str) or not callable(run):
            raise TypeError(f"sections/{info.name}.py must define TITLE: str and run()")
        found.append(Section(info.name, title, cast(SectionRun, run)))
    return found


def postgres_server_url() -> str:
    return os.environ.get("CONSENTHUB_TEST_POSTGRES_URL", DEFAULT_POSTGRES)


@contextmanager
def fresh_database(backend: str, label: str = "section") -> Iterator[str]:
    """The URL of a new, empty database of ``backend``, removed on exit."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix=f"consenthub-{label}-") as directory:
            yield f"sqlite:///{Path(directory) / 'consenthub.db'}"
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}")
    server = make_url(postgres_server_url())
    name = f"consenthub_rel_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def run_section(section: Section, backend: str, quick: bool) -> Outcome:
    """One section on its own fresh database; an exception it lets out is a problem."""
    started = time.monotonic()
    try:
        with fresh_database(backend, section.name) as url:
            figures, problems = section.run(backend, url, quick)
    except Exception:
        figures, problems = [], [f"the section raised:\n{traceback.format_exc()}"]
    return Outcome(section, backend, list(figures), list(problems), time.monotonic() - started)


def run_all(
    backends: Sequence[str],
    quick: bool,
    only: Sequence[str] = (),
    report: Callable[[str], None] = print,
) -> list[Outcome]:
    """Every section (or those named in ``only``) on each backend, printing the table."""
    outcomes = []
    chosen = [s for s in discover() if not only or s.name in only or s.title in only]
    for backend in backends:
        report(f"== {backend}{' (quick)' if quick else ''} ==")
        for section in chosen:
            outcome = run_section(section, backend, quick)
            outcomes.append(outcome)
            mark = "" if not outcome.problems else f"  [{len(outcome.problems)} problem(s)]"
            report(f"{outcome.line()}{mark}  ({outcome.seconds:.1f} s)")
    failed = [o for o in outcomes if o.problems]
    if failed:
        report("")
        report("Problems:")
        for outcome in failed:
            for problem in outcome.problems:
                report(f"- {outcome.section.title} on {outcome.backend}: {problem}")
    return outcomes
