"""The schemathesis section's quick form on the backend of this run, until the suite's
pytest glue (tests/reliability/test_sections.py) runs every section."""

from __future__ import annotations

from tests.reliability.sections import schemathesis_api


def test_the_openapi_document_holds_under_schemathesis(database_url: str) -> None:
    figures, problems = schemathesis_api.run("any", database_url, quick=True)
    assert dict(figures)["requests"] > 100
    assert problems == []
