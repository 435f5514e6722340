"""The ``consenthub`` CLI: registry, secrets, configuration, audit chain, keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from typer.testing import CliRunner

from consenthub.cli.main import app
from consenthub.store.database import Database
from consenthub.store.tables import AuditEvent, Party, SigningKey
from tests.conftest import TEST_SECRET_KEY
from tests.factories import gln

runner = CliRunner()


@pytest.fixture
def env(db: Database, database_url: str) -> dict[str, str]:
    return {"CONSENTHUB_DATABASE_URL": database_url, "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY}


def party_count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(Party)).scalar_one())


def test_db_upgrade_on_fresh_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = runner.invoke(
        app,
        ["db", "upgrade"],
        env={"CONSENTHUB_DATABASE_URL": url, "CONSENTHUB_SECRET_KEY_FILE": str(tmp_path / "k")},
    )
    assert result.exit_code == 0, result.output
    with Database(url).read() as conn:
        assert conn.execute(select(func.count()).select_from(SigningKey)).scalar_one() == 1
    assert (tmp_path / "k").stat().st_mode & 0o077 == 0


def test_party_add_json_then_list(env: dict[str, str], db: Database) -> None:
    result = runner.invoke(
        app,
        [
            "party",
            "add",
            "--name",
            "Strømappen AS",
            "--gln",
            gln(5),
            "--orgnr",
            "974760673",
            "--role",
            "third_party",
            "--return-url",
            "https://app.example.no/cb",
            "--return-domain",
            "example.no",
            "--json",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert set(created) >= {"client_id", "client_secret"}
    assert len(created["client_secret"]) >= 43
    listed = json.loads(runner.invoke(app, ["party", "list", "--json"], env=env).stdout)
    assert listed[0]["client_id"] == created["client_id"]
    assert listed[0]["return_urls"] == ["https://app.example.no/cb"]
    assert listed[0]["return_domains"] == ["example.no"]
    assert "client_secret" not in listed[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gln", "7080005051287"], "--gln: GS1 mod-10 check digit does not match"),
        (["--gln", "12345"], "--gln: must be exactly 13 digits"),
        (["--orgnr", "974760674"], "--orgnr: mod-11 check digit does not match"),
        (["--gln", "7080005051286", "--role", "king"], "--role: must be one of"),
        (
            ["--gln", "7080005051286", "--return-url", "http://evil.example/cb"],
            "--return-url: must use https",
        ),
        (["--gln", "7080005051286", "--return-domain", "bad domain"], "--return-domain: must be"),
        ([], "--gln: a GLN or an organisation number is required"),
    ],
)
def test_party_add_rejects_bad_input(
    env: dict[str, str], db: Database, args: list[str], message: str
) -> None:
    base = ["party", "add", "--name", "X AS"]
    if "--role" not in args:
        args = [*args, "--role", "third_party"]
    result = runner.invoke(app, base + args, env=env)
    assert result.exit_code == 2
    assert message in result.stderr.replace("\n", " ")
    assert "Traceback" not in result.output
    assert party_count(db) == 0


def test_duplicate_gln_rejected(env: dict[str, str], db: Database) -> None:
    args = ["party", "add", "--name", "A", "--gln", gln(9), "--role", "third_party"]
    assert runner.invoke(app, args, env=env).exit_code == 0
    again = runner.invoke(app, args, env=env)
    assert again.exit_code == 2
    assert "already registered" in again.stderr
    assert party_count(db) == 1


def test_rotate_secret(env: dict[str, str], db: Database) -> None:
    created = json.loads(
        runner.invoke(
            app,
            ["party", "add", "--name", "A", "--gln", gln(9), "--role", "third_party", "--json"],
            env=env,
        ).stdout
    )
    rotated = runner.invoke(
        app, ["party", "rotate-secret", created["client_id"], "--json"], env=env
    )
    assert rotated.exit_code == 0, rotated.output
    assert json.loads(rotated.stdout)["client_secret"] != created["client_secret"]
    unknown = runner.invoke(
        app, ["party", "rotate-secret", "00000000-0000-4000-8000-000000000000"], env=env
    )
    assert unknown.exit_code == 2
    assert "no party has this client_id" in unknown.stderr


def test_config_masks_secrets(env: dict[str, str]) -> None:
    masked_env = env | {
        "CONSENTHUB_DATABASE_URL": "postgresql+psycopg://hub:hunter2@db/hub",
        "CONSENTHUB_SMTP_HOST": "smtp.example.org",
        "CONSENTHUB_SMTP_SECURITY": "starttls",
        "CONSENTHUB_SMTP_USERNAME": "hub",
        "CONSENTHUB_SMTP_PASSWORD": "mail-hunter2",
    }
    result = runner.invoke(app, ["config", "--json"], env=masked_env)
    assert result.exit_code == 0, result.output
    shown = {key: item["value"] for key, item in json.loads(result.stdout).items()}
    assert shown["secret_key"] == "********"
    assert shown["smtp_password"] == "********"
    assert shown["smtp_username"] == "hub"
    assert "hunter2" not in result.stdout
    assert TEST_SECRET_KEY not in result.stdout
    assert shown["hub_timezone"] == "Europe/Oslo"


def test_bad_configuration_is_a_clear_error(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["config"], env=env | {"CONSENTHUB_HUB_GLN": "1234567890123"})
    assert result.exit_code == 2
    assert "CONSENTHUB_HUB_GLN" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"CONSENTHUB_SMTP_SECURITY": "ssl"}, "CONSENTHUB_SMTP_SECURITY"),
        ({"CONSENTHUB_MAIL_FROM": "no address"}, "CONSENTHUB_MAIL_FROM"),
        ({"CONSENTHUB_SMTP_USERNAME": "hub"}, "CONSENTHUB_SMTP_PASSWORD"),
        (
            {
                "CONSENTHUB_SMTP_HOST": "smtp.example.org",
                "CONSENTHUB_SMTP_USERNAME": "hub",
                "CONSENTHUB_SMTP_PASSWORD": "mail-hunter2",
            },
            "CONSENTHUB_SMTP_PASSWORD",
        ),
    ],
)
def test_bad_mail_configuration_is_a_clear_error(
    env: dict[str, str], changes: dict[str, str], named: str
) -> None:
    result = runner.invoke(app, ["config"], env=env | changes)
    assert result.exit_code == 2
    assert named in result.stderr
    assert "mail-hunter2" not in result.output
    assert "Traceback" not in result.output


def test_audit_chain_verifies_and_detects_tampering(env: dict[str, str], db: Database) -> None:
    for seed in (1, 2, 3):
        runner.invoke(
            app,
            ["party", "add", "--name", f"P{seed}", "--gln", gln(seed), "--role", "third_party"],
            env=env,
        )
    ok = runner.invoke(app, ["audit", "verify", "--json"], env=env)
    assert ok.exit_code == 0
    assert json.loads(ok.stdout) == {
        "ok": True,
        "events": 3,
        "first_broken_id": None,
        "reason": None,
    }
    with db.write() as conn:
        second = conn.execute(
            select(AuditEvent.id).order_by(AuditEvent.id).offset(1).limit(1)
        ).scalar_one()
        conn.execute(
            update(AuditEvent)
            .where(AuditEvent.id == second)
            .values(details={"name": "someone else"})
        )
    broken = runner.invoke(app, ["audit", "verify", "--json"], env=env)
    assert broken.exit_code == 1
    assert json.loads(broken.stdout)["first_broken_id"] == second


def test_audit_chain_detects_removed_tail(env: dict[str, str], db: Database) -> None:
    for seed in (1, 2):
        runner.invoke(
            app,
            ["party", "add", "--name", f"P{seed}", "--gln", gln(seed), "--role", "third_party"],
            env=env,
        )
    with db.write() as conn:
        last = conn.execute(select(func.max(AuditEvent.id))).scalar_one()
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": last})
    assert runner.invoke(app, ["audit", "verify"], env=env).exit_code == 1


def test_keys_rotate_prepublishes(env: dict[str, str], db: Database) -> None:
    result = runner.invoke(app, ["keys", "rotate"], env=env)
    assert result.exit_code == 0, result.output
    with db.read() as conn:
        rows = conn.execute(select(SigningKey).order_by(SigningKey.activates_at)).all()
    assert len(rows) == 2
    assert (rows[1].activates_at - rows[1].created_at).total_seconds() >= 299
    assert TEST_SECRET_KEY not in rows[1].private_jwk
    assert '"d"' not in rows[1].private_jwk
