"""The reliability sections' quick form in the suite (so in ``make test`` and CI): each
section of ``tests/reliability/sections/`` on the run's ``--db`` backend, on a fresh
database of its own, with no problem reported."""

from __future__ import annotations

import pytest

from tests.reliability.runner import Section, discover, run_section

SECTIONS = discover()


@pytest.mark.parametrize("section", SECTIONS, ids=[section.name for section in SECTIONS])
def test_section_holds(section: Section, request: pytest.FixtureRequest) -> None:
    backend = str(request.config.getoption("--db"))
    outcome = run_section(section, backend, quick=True)
    assert not outcome.problems, f"{outcome.line()}\n" + "\n".join(outcome.problems)
    assert outcome.figures, "a section reports its figures"
