"""``consenthub resource add | list``: consent resources of data sources (seed 002)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from consenthub import registry
from consenthub.cli.main import app
from consenthub.store.database import Database
from tests.conftest import TEST_SECRET_KEY
from tests.consent.parties import NAV_CONTEXT, NAV_ORGNR

runner = CliRunner()


@pytest.fixture
def env(db: Database, database_url: str) -> dict[str, str]:
    return {"CONSENTHUB_DATABASE_URL": database_url, "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY}


def add_party(db: Database, role: str) -> str:
    with db.write() as conn:
        created = registry.add_party(
            conn, TEST_SECRET_KEY.encode(), name="NAV", roles=[role], orgnr=NAV_ORGNR
        )
    return created.party.client_id


def resource_args(client_id: str, context: str = NAV_CONTEXT) -> list[str]:
    return [
        "resource",
        "add",
        "--code",
        "5252_1",
        "--data-source",
        client_id,
        "--title-nb",
        "Uføreopplysninger",
        "--title-nn",
        "Uføreopplysningar",
        "--title-en",
        "Disability data",
        "--context",
        context,
        "--parameter",
        "fraOgMed:dd.mm.yyyy:required",
        "--parameter",
        "tilOgMed:dd.mm.yyyy",
        "--max-duration-days",
        "365",
    ]


def test_resource_add_from_file_then_list_json(
    env: dict[str, str], db: Database, tmp_path: Path
) -> None:
    template = tmp_path / "nav.txt"
    template.write_text(NAV_CONTEXT + "\n", encoding="utf-8")
    added = runner.invoke(
        app, [*resource_args(add_party(db, "data_source"), f"@{template}"), "--json"], env=env
    )
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["code"] == "5252_1"
    listed = json.loads(runner.invoke(app, ["resource", "list", "--json"], env=env).stdout)
    assert listed == [
        {
            "code": "5252_1",
            "data_source": "NAV",
            "titles": {
                "nb": "Uføreopplysninger",
                "nn": "Uføreopplysningar",
                "en": "Disability data",
            },
            "context_template": NAV_CONTEXT,
            "parameters": [
                {"name": "fraOgMed", "format": "dd.mm.yyyy", "required": True},
                {"name": "tilOgMed", "format": "dd.mm.yyyy", "required": True},
            ],
            "max_duration_days": 365,
            "one_time": False,
        }
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--code": "5252"}, "--code: must be <serviceCode>_<edition>"),
        ({"--context": "no placeholder"}, "--context: must contain NAVN_SELSKAP"),
        ({"--parameter": "fraOgMed:yyyy"}, "--parameter: format must be one of"),
        ({"--max-duration-days": "0"}, "--max-duration-days: must be 1 to"),
    ],
)
def test_resource_add_rejects_bad_input(
    env: dict[str, str], db: Database, change: dict[str, str], message: str
) -> None:
    args = resource_args(add_party(db, "data_source"))
    for option, value in change.items():
        args[args.index(option) + 1] = value
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2
    assert message in result.stderr


def test_resource_of_a_party_that_is_no_data_source_is_refused(
    env: dict[str, str], db: Database
) -> None:
    result = runner.invoke(app, resource_args(add_party(db, "consent_consumer")), env=env)
    assert result.exit_code == 2
    assert "--data-source: must be an active party with the role data_source" in result.stderr
