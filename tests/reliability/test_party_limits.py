"""Defect 7: a party's name and addresses are held to the column lengths before the
database, on SQLite and PostgreSQL alike: one line and exit 2 from the CLI."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from consenthub.cli.main import app
from consenthub.registry.store import RegistryError, add_party
from consenthub.store.database import Database
from consenthub.store.tables import Party
from tests.conftest import TEST_SECRET_KEY
from tests.factories import gln

runner = CliRunner()
URL = "https://app.example.no/cb"


def long_url(length: int) -> str:
    return URL + "?" + "x" * (length - len(URL) - 1)


def party_count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(Party)).scalar_one())


@pytest.mark.parametrize(
    ("option", "value", "rule"),
    [
        ("--name", "N" * 300, "at most 200 characters"),
        ("--return-url", long_url(2100), "at most 2000 characters"),
        ("--webhook-url", long_url(2001), "at most 2000 characters"),
        ("--return-domain", ".".join(["a" * 63] * 4), "at most 253 characters"),
        ("--name", "Strøm\x00appen AS", "must not contain control characters"),
        ("--return-url", URL + "?a=\x00", "must not contain control characters"),
    ],
)
def test_party_add_over_a_limit_is_one_line_and_exit_2(
    db: Database, database_url: str, option: str, value: str, rule: str
) -> None:
    arguments = {"--name": "Strømappen AS", "--return-url": URL} | {option: value}
    result = runner.invoke(
        app,
        ["party", "add", "--gln", gln(5), "--role", "third_party"]
        + [part for pair in arguments.items() for part in pair],
        env={"CONSENTHUB_DATABASE_URL": database_url, "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY},
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"error: {option}: {rule}"
    assert "Traceback" not in result.output
    assert party_count(db) == 0


def test_values_at_the_limits_are_stored(db: Database) -> None:
    with db.write() as conn:
        created = add_party(
            conn,
            TEST_SECRET_KEY.encode(),
            name="N" * 200,
            roles=["third_party"],
            gln=gln(5),
            return_urls=[long_url(2000)],
            return_domains=[".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])],
            webhook_url=long_url(2000),
        )
    assert created.party.name == "N" * 200


def test_the_registry_names_the_field_and_the_rule(db: Database) -> None:
    with pytest.raises(RegistryError) as refused, db.write() as conn:
        add_party(conn, TEST_SECRET_KEY.encode(), name="N" * 201, roles=["third_party"], gln=gln(5))
    assert (refused.value.field, refused.value.rule) == ("name", "at most 200 characters")
