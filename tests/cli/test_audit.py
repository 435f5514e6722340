"""Verifiable audit (issue 14): every rotation and revocation is an audit event in the
transaction of the change, the chain verifies after it; ``consenthub audit export`` gives
a person or a party everything the hub holds about them (GDPR art. 15)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from consenthub.cli.main import app
from consenthub.store.database import Database
from consenthub.store.tables import AccessLogEntry, AuditEvent, EndUser, SigningKey
from tests.conftest import TEST_SECRET_KEY
from tests.factories import (
    add_end_user,
    add_grant,
    add_metering_point,
    add_party,
    fnr,
    gsrn,
)
from tests.harness import LiveServer

runner = CliRunner()
KARI, PER = fnr(5, 5, 80), fnr(7, 7, 77)


@pytest.fixture
def env(db: Database, database_url: str) -> dict[str, str]:
    return {"CONSENTHUB_DATABASE_URL": database_url, "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY}


def events(db: Database, action: str) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(select(AuditEvent).where(AuditEvent.action == action)).all())


def verified(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["audit", "verify", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


def test_a_token_revocation_is_an_audit_event(
    live_server: LiveServer, db: Database, env: dict[str, str]
) -> None:
    creds = add_party(db)
    auth = (creds.party.client_id, creds.client_secret)
    token = httpx.post(
        f"{live_server.url}/sts/Token", data={"grant_type": "client_credentials"}, auth=auth
    ).json()["access_token"]
    for _ in range(2):  # the second revocation changes nothing, and records nothing
        revoked = httpx.post(f"{live_server.url}/sts/revoke", data={"token": token}, auth=auth)
        assert revoked.status_code == 200
    [event] = events(db, "token.revoked")
    assert event.actor == f"party:{creds.party.id}"
    assert event.subject.startswith("token:")
    assert event.details["client_id"] == creds.party.client_id
    verified(env)


def test_a_client_secret_rotation_is_an_audit_event(db: Database, env: dict[str, str]) -> None:
    party = add_party(db).party
    result = runner.invoke(app, ["party", "rotate-secret", party.client_id, "--json"], env=env)
    assert result.exit_code == 0, result.output
    [event] = events(db, "party.secret_rotated")
    assert event.subject == f"party:{party.client_id}"
    verified(env)


def test_a_signing_key_rotation_is_an_audit_event(db: Database, env: dict[str, str]) -> None:
    result = runner.invoke(app, ["keys", "rotate"], env=env)
    assert result.exit_code == 0, result.output
    [event] = events(db, "signing_key.created")
    assert event.subject.startswith("key:")
    verified(env)


def test_the_first_signing_key_is_an_audit_event_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {"CONSENTHUB_DATABASE_URL": url, "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY}
    for _ in range(2):  # the second upgrade finds the key and records nothing
        result = runner.invoke(app, ["db", "upgrade"], env=env)
        assert result.exit_code == 0, result.output
    fresh = Database(url)
    [event] = events(fresh, "signing_key.created")
    with fresh.read() as conn:
        [kid] = conn.execute(select(SigningKey.kid)).scalars().all()
    assert event.subject == f"key:{kid}"
    assert event.details == {"first": True}
    verified(env)


def test_a_webhook_secret_rotation_is_an_audit_event(db: Database, env: dict[str, str]) -> None:
    party = add_party(db).party
    hook = "https://hooks.example.no/consenthub"
    for command in (
        ["set-webhook", party.client_id, hook],
        ["rotate-webhook-secret", party.client_id],
    ):
        result = runner.invoke(app, ["party", *command, "--json"], env=env)
        assert result.exit_code == 0, result.output
    [event] = events(db, "party.webhook_secret_rotated")
    assert event.subject == f"party:{party.client_id}"
    verified(env)


@pytest.fixture
def two_people(db: Database) -> dict[str, Any]:
    """Kari and Per, each with a grant of the same party and a read in its access log."""
    party = add_party(db).party
    kari, per = add_end_user(db, KARI), add_end_user(db, PER)
    points = {kari: add_metering_point(db, 1), per: add_metering_point(db, 2)}
    grants = {
        person: add_grant(db, party.id, point, person, dt.date(2024, 1, 1))
        for person, point in points.items()
    }
    with db.write() as conn:
        for person, point in points.items():
            conn.execute(
                insert(AccessLogEntry).values(
                    at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                    party_id=party.id,
                    end_user_id=person,
                    metering_point_id=point,
                    what="values",
                )
            )
    return {"party": party, "kari": kari, "per": per, "grants": grants}


def export(env: dict[str, str], *args: str, stdin: str | None = None) -> Any:
    result = runner.invoke(app, ["audit", "export", *args], env=env, input=stdin)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def forms(national_id: str) -> list[str]:
    return [national_id, hashlib.sha256(national_id.encode()).hexdigest()]


def test_a_persons_export_holds_all_about_them_and_only_their_own_id(
    db: Database, env: dict[str, str], two_people: dict[str, Any]
) -> None:
    report = export(env, "--end-user", stdin=KARI + "\n")
    assert report["end_user"]["national_id"] == KARI
    assert [grant["id"] for grant in report["grants"]] == [two_people["grants"][two_people["kari"]]]
    assert [grant["gsrn"] for grant in report["grants"]] == [gsrn(1)]
    assert [entry["gsrn"] for entry in report["access_log"]] == [gsrn(1)]
    subjects = {event["subject"] for event in report["audit_events"]}
    assert subjects == {f"grant:{two_people['grants'][two_people['kari']]}"}
    text = json.dumps(report)
    for shape in forms(PER):
        assert shape not in text


def test_a_partys_export_names_no_person_by_national_id(
    db: Database, env: dict[str, str], two_people: dict[str, Any]
) -> None:
    party = two_people["party"]
    report = export(env, "--party", party.client_id)
    assert report["party"]["client_id"] == party.client_id
    assert sorted(grant["end_user_id"] for grant in report["grants"]) == sorted(
        [two_people["kari"], two_people["per"]]
    )
    assert len(report["access_log"]) == 2
    actions = {event["action"] for event in report["audit_events"]}
    assert {"party.added", "grant.created"} <= actions
    text = json.dumps(report)
    for person in (KARI, PER):
        for shape in forms(person):
            assert shape not in text


def test_an_export_asks_for_exactly_one_known_subject(
    db: Database, env: dict[str, str], two_people: dict[str, Any]
) -> None:
    unknown = fnr(9, 9, 79)
    for args, stdin, message in [
        ([], None, "exactly one"),
        (["--end-user", "--party", two_people["party"].client_id], None, "exactly one"),
        (["--end-user"], "12345678901\n", "end user:"),
        (["--end-user"], unknown + "\n", "knows no person"),
        (["--party", "00000000-0000-4000-8000-000000000000"], None, "party:"),
    ]:
        result = runner.invoke(app, ["audit", "export", *args], env=env, input=stdin)
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert unknown not in result.output


def test_reencrypt_ids_seals_every_id_under_the_new_key(
    db: Database, env: dict[str, str], two_people: dict[str, Any]
) -> None:
    result = runner.invoke(
        app, ["db", "reencrypt-ids"], env=env | {"CONSENTHUB_NATIONAL_ID_KEY_ID": "2"}
    )
    assert result.exit_code == 0, result.output
    assert "2 national ids sealed under key id 2" in result.output
    with db.read() as conn:
        assert set(conn.execute(select(EndUser.national_id_key_id)).scalars()) == {2}
    # Still found and opened, under the new key.
    report = export(env | {"CONSENTHUB_NATIONAL_ID_KEY_ID": "2"}, "--end-user", stdin=PER + "\n")
    assert report["end_user"]["national_id"] == PER
    [event] = events(db, "national_ids.resealed")
    assert event.details == {"end_users": 2}
    verified(env)
