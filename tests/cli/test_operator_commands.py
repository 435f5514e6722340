"""The operator's daily commands: grants, requests, one end user; and the CLI's manners
(every bad option at once, JSON errors, whole identifiers, sources of settings, help)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import typer.main
from sqlalchemy import select
from typer.testing import CliRunner

from consenthub import access_requests, registry
from consenthub.cli.main import app
from consenthub.domain.access import Process, Scope
from consenthub.services import Services
from consenthub.store.database import Database
from consenthub.store.tables import AuditEvent, Grant, OutboxMessage
from tests.conftest import TEST_SECRET_KEY
from tests.factories import (
    add_end_user,
    add_grant,
    add_metering_point,
    add_party,
    add_supply,
    fnr,
    gln,
    gsrn,
)

runner = CliRunner()


def today() -> dt.date:
    """The hub's today (grant dates are Oslo dates)."""
    return dt.datetime.now(ZoneInfo("Europe/Oslo")).date()


@pytest.fixture
def env(db: Database, database_url: str) -> dict[str, str]:
    return {"CONSENTHUB_DATABASE_URL": database_url, "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY}


@pytest.fixture
def world(db: Database) -> dict[str, object]:
    """Two parties; Kari with two metering points, one live grant and one expired."""
    first = add_party(db, name="Strømappen AS", seed=1)
    second = add_party(db, name="Kraftkompis AS", seed=2)
    kari = add_end_user(db, fnr(1, 1, 90))
    points = [add_metering_point(db, seed) for seed in (1, 2)]
    for point in points:
        add_supply(db, point, kari, dt.date(2020, 1, 1))
    live = add_grant(db, first.party.id, points[0], kari, dt.date(2024, 1, 1))
    expired = add_grant(
        db, second.party.id, points[1], kari, dt.date(2024, 1, 1), dt.date(2024, 6, 1)
    )
    return {"first": first, "second": second, "kari": kari, "live": live, "expired": expired}


def test_grants_list_filters_by_party_metering_point_and_status(
    env: dict[str, str], world: dict[str, object]
) -> None:
    listed = json.loads(runner.invoke(app, ["grants", "list", "--json"], env=env).stdout)
    assert [(row["id"], row["status"]) for row in listed] == [
        (world["live"], "Active"),
        (world["expired"], "Expired"),
    ]
    first = world["first"].party.client_id  # type: ignore[attr-defined]
    by_party = runner.invoke(app, ["grants", "list", "--party", first, "--json"], env=env)
    assert [row["id"] for row in json.loads(by_party.stdout)] == [world["live"]]
    by_point = runner.invoke(
        app, ["grants", "list", "--metering-point", gsrn(2), "--json"], env=env
    )
    assert [row["id"] for row in json.loads(by_point.stdout)] == [world["expired"]]
    expired = runner.invoke(app, ["grants", "list", "--status", "Expired", "--json"], env=env)
    assert [row["id"] for row in json.loads(expired.stdout)] == [world["expired"]]
    table = runner.invoke(app, ["grants", "list"], env=env | {"COLUMNS": "80"})
    assert table.exit_code == 0
    assert gsrn(1) in table.stdout
    assert table.stdout.rstrip().endswith("2 grants")


def test_grants_list_names_every_bad_option(env: dict[str, str], world: dict[str, object]) -> None:
    result = runner.invoke(
        app, ["grants", "list", "--party", "nope", "--metering-point", "123", "--json"], env=env
    )
    assert result.exit_code == 2
    fields = [error["field"] for error in json.loads(result.stdout)["errors"]]
    assert fields == ["--party", "--metering-point"]


def test_grants_end_is_audited_and_told_to_the_party(
    env: dict[str, str], db: Database, world: dict[str, object]
) -> None:
    client_id = world["first"].party.client_id  # type: ignore[attr-defined]
    with db.write() as conn:
        registry.set_webhook(
            conn,
            TEST_SECRET_KEY.encode(),
            client_id,
            "https://hooks.example.no/events",
            now=dt.datetime.now(dt.UTC),
        )
    result = runner.invoke(app, ["grants", "end", str(world["live"]), "--json"], env=env)
    assert result.exit_code == 0, result.output
    ended = json.loads(result.stdout)
    assert ended["valid_to"] == today().isoformat()
    assert ended["ended_reason"] == "operator"
    with db.read() as conn:
        grant = conn.execute(
            select(Grant.valid_to, Grant.ended_reason).where(Grant.id == world["live"])
        ).one()
        assert tuple(grant) == (today(), "operator")
        actions = conn.execute(
            select(AuditEvent.actor, AuditEvent.action, AuditEvent.subject)
        ).all()
        assert ("cli", "grant.ended", f"grant:{world['live']}") in actions
        events = conn.execute(select(OutboxMessage.event_type)).scalars().all()
        assert "grant.ended" in events
    again = runner.invoke(app, ["grants", "end", str(world["live"])], env=env)
    assert again.exit_code == 2
    assert "no live grant has id" in again.stderr


def test_requests_list_by_status_and_process(
    env: dict[str, str], hub: Services, world: dict[str, object]
) -> None:
    first = world["first"].party  # type: ignore[attr-defined]
    for request_id in ("r-1", "r-2"):
        access_requests.create(
            hub,
            access_requests.NewAccessRequest(
                Process.URL, first.id, request_id, Scope.FULL, deadline=None
            ),
            actor="test",
        )
    listed = json.loads(
        runner.invoke(
            app, ["requests", "list", "--status", "pending", "--process", "url", "--json"], env=env
        ).stdout
    )
    assert [row["request_id"] for row in listed] == ["r-2", "r-1"]
    none = runner.invoke(app, ["requests", "list", "--process", "message", "--json"], env=env)
    assert json.loads(none.stdout) == []
    shown = runner.invoke(app, ["requests", "list"], env=env)
    assert shown.stdout.rstrip().endswith("2 requests")


def test_end_user_show_masks_the_id_and_reveal_is_audited(
    env: dict[str, str], db: Database, world: dict[str, object]
) -> None:
    national_id = fnr(1, 1, 90)
    result = runner.invoke(app, ["end-user", "show"], env=env, input=national_id + "\n")
    assert result.exit_code == 0, result.output
    assert national_id not in result.output
    assert "010190*****" in result.stdout
    assert gsrn(1) in result.stdout
    assert "2 grants" in result.stdout
    as_json = json.loads(
        runner.invoke(app, ["end-user", "show", "--json"], env=env, input=national_id).stdout
    )
    assert as_json["national_id"] == "010190*****"
    assert len(as_json["grants"]) == 2
    with db.read() as conn:
        assert not conn.execute(
            select(AuditEvent).where(AuditEvent.action == "end_user.revealed")
        ).first()
    revealed = runner.invoke(
        app, ["end-user", "show", "--reveal", "--json"], env=env, input=national_id
    )
    assert json.loads(revealed.stdout)["national_id"] == national_id
    with db.read() as conn:
        subjects = conn.execute(
            select(AuditEvent.subject).where(AuditEvent.action == "end_user.revealed")
        ).scalars()
        assert list(subjects) == [f"end_user:{world['kari']}"]
    unknown = runner.invoke(app, ["end-user", "show"], env=env, input=fnr(2, 2, 80))
    assert unknown.exit_code == 2
    assert fnr(2, 2, 80) not in unknown.output


def test_party_add_reports_every_bad_option_at_once(env: dict[str, str]) -> None:
    args = ["party", "add", "--name", " ", "--role", "king", "--gln", "12345"]
    args += ["--return-url", "http://evil.example/cb", "--return-domain", "bad domain"]
    text = runner.invoke(app, args, env=env)
    assert text.exit_code == 2
    lines = text.stderr.strip().splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "--name",
        "--role",
        "--return-url",
        "--return-domain",
        "--gln",
    ]
    as_json = runner.invoke(app, [*args, "--json"], env=env)
    assert as_json.exit_code == 2
    assert len(json.loads(as_json.stdout)["errors"]) == 5
    unknown_option = runner.invoke(app, [*args, "--frob", "--json"], env=env)
    assert unknown_option.exit_code == 2
    assert "--frob" in json.loads(unknown_option.stdout)["errors"][0]["message"]


def test_a_third_party_without_a_return_address_is_warned_about(env: dict[str, str]) -> None:
    args = ["party", "add", "--name", "A", "--gln", gln(4), "--role", "third_party", "--json"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0
    assert "warning: a third party with no --return-url or --return-domain" in result.stderr
    seller = ["party", "add", "--name", "B", "--gln", gln(5), "--role", "seller"]
    assert "warning" not in runner.invoke(app, seller, env=env).stderr


def test_party_list_keeps_identifiers_whole_in_a_narrow_terminal(
    env: dict[str, str], world: dict[str, object]
) -> None:
    result = runner.invoke(app, ["party", "list"], env=env | {"COLUMNS": "60"})
    assert result.exit_code == 0
    for party in ("first", "second"):
        assert world[party].party.client_id in result.stdout  # type: ignore[attr-defined]
    assert gln(1) in result.stdout
    assert gln(2) in result.stdout


def test_config_shows_where_each_value_came_from(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('hub_name = "Elhub"\n')
    result = runner.invoke(
        app, ["config", "--json"], env=env | {"CONSENTHUB_CONFIG_FILE": str(config)}
    )
    shown = json.loads(result.stdout)
    assert shown["hub_name"] == {"value": "Elhub", "source": "file"}
    assert shown["database_url"]["source"] == "environment"
    assert shown["log_level"] == {"value": "INFO", "source": "default"}
    table = runner.invoke(app, ["config"], env=env | {"COLUMNS": "200"})
    assert "None" not in table.stdout
    assert "(not set)" in table.stdout


def test_rotate_secret_says_until_when_the_old_one_works(
    env: dict[str, str], world: dict[str, object]
) -> None:
    client_id = world["first"].party.client_id  # type: ignore[attr-defined]
    result = runner.invoke(
        app, ["party", "rotate-secret", client_id, "--overlap-hours", "2"], env=env
    )
    assert result.exit_code == 0
    until = re.search(r"works until (\S+) \(Europe/Oslo\)", result.stdout.replace("\n", " "))
    assert until is not None, result.stdout
    moment = dt.datetime.fromisoformat(until.group(1))
    assert moment.utcoffset() is not None
    left = moment - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=1, minutes=59) < left <= dt.timedelta(hours=2)
    as_json = runner.invoke(app, ["party", "rotate-secret", client_id, "--json"], env=env)
    assert "previous_valid_until" in json.loads(as_json.stdout)


def _command_paths(command: object, path: list[str]) -> list[list[str]]:
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        found += _command_paths(sub, [*path, name])
    return found


def test_no_help_shows_a_python_type() -> None:
    paths = _command_paths(typer.main.get_command(app), [])
    assert ["grants", "end"] in paths
    assert ["import", "metering-points"] in paths
    for path in paths:
        shown = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"}).output
        assert "Usage" in shown, path
        for label in ("<bool>", "<list", "<float>", "<int>", "<str>", "<Path>"):
            assert label not in shown, (path, label)


def party_update(env: dict[str, str], *args: str) -> dict[str, object]:
    result = runner.invoke(app, ["party", "update", *args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_party_update_changes_only_what_is_given_and_is_audited(
    env: dict[str, str], db: Database
) -> None:
    created = add_party(db, name="Strømappen AS", seed=1)
    client_id = created.party.client_id
    privacy = "https://app.example.no/personvern"
    shown = party_update(env, client_id, "--privacy-url", privacy)
    assert shown["privacy_url"] == privacy
    assert shown["name"] == "Strømappen AS"
    assert shown["return_urls"] == ["https://app.example.no/callback"]
    renamed = party_update(
        env,
        client_id,
        "--name",
        " Strømappen Norge AS ",
        "--add-return-url",
        "https://app.example.no/v2/callback",
        "--remove-return-url",
        "https://app.example.no/callback",
        "--add-return-domain",
        "Example.NO",
    )
    assert renamed["name"] == "Strømappen Norge AS"
    assert renamed["privacy_url"] == privacy
    assert renamed["return_urls"] == ["https://app.example.no/v2/callback"]
    assert renamed["return_domains"] == ["example.no"]
    assert party_update(env, client_id, "--privacy-url", "")["privacy_url"] is None
    # What the party already has changes nothing and records nothing.
    party_update(env, client_id, "--name", "Strømappen Norge AS", "--privacy-url", "")
    with db.read() as conn:
        party = registry.find_by_client_id(conn, client_id)
        events = conn.execute(
            select(AuditEvent.action, AuditEvent.subject, AuditEvent.details)
            .where(AuditEvent.action == "party.updated")
            .order_by(AuditEvent.id)
        ).all()
    assert party is not None
    assert (party.name, party.privacy_url, party.gln) == ("Strømappen Norge AS", None, gln(1))
    assert [subject for _, subject, _ in events] == [f"party:{client_id}"] * 3
    assert [details for _, _, details in events] == [
        {"privacy_url": privacy},
        {
            "name": "Strømappen Norge AS",
            "return_urls_added": ["https://app.example.no/v2/callback"],
            "return_urls_removed": ["https://app.example.no/callback"],
            "return_domains_added": ["example.no"],
        },
        {"privacy_url": None},
    ]
    listed = json.loads(runner.invoke(app, ["party", "list", "--json"], env=env).stdout)
    assert listed[0]["privacy_url"] is None


def test_party_update_reports_every_bad_option_at_once_and_changes_nothing(
    env: dict[str, str], db: Database
) -> None:
    client_id = add_party(db, seed=1).party.client_id
    args = ["party", "update", client_id, "--name", " ", "--privacy-url", "http://x.example"]
    args += ["--add-return-url", "http://evil.example/cb", "--add-return-domain", "bad domain"]
    text = runner.invoke(app, args, env=env)
    assert text.exit_code == 2
    assert [line.split(":")[1].strip() for line in text.stderr.strip().splitlines()] == [
        "--name",
        "--privacy-url",
        "--add-return-url",
        "--add-return-domain",
    ]
    as_json = runner.invoke(app, [*args, "--json"], env=env)
    assert as_json.exit_code == 2
    assert [error["field"] for error in json.loads(as_json.stdout)["errors"]] == [
        "--name",
        "--privacy-url",
        "--add-return-url",
        "--add-return-domain",
    ]
    with db.read() as conn:
        assert (
            conn.execute(select(AuditEvent.id).where(AuditEvent.action == "party.updated")).all()
            == []
        )
        party = registry.find_by_client_id(conn, client_id)
    assert party is not None
    assert party.name == "Strømappen AS"


@pytest.mark.parametrize(
    ("args", "field", "rule"),
    [
        ([], None, "nothing to update"),
        (["--remove-return-url", "https://other.example/cb"], "--remove-return-url", "not regis"),
        (["--remove-return-domain", "example.no"], "--remove-return-domain", "not registered"),
    ],
    ids=["no option", "unknown return url", "unknown return domain"],
)
def test_party_update_refuses_what_it_cannot_do(
    env: dict[str, str], db: Database, args: list[str], field: str | None, rule: str
) -> None:
    client_id = add_party(db, seed=1).party.client_id
    result = runner.invoke(app, ["party", "update", client_id, *args, "--json"], env=env)
    assert result.exit_code == 2
    [error] = json.loads(result.stdout)["errors"]
    assert error["field"] == field
    assert rule in error["message"]


def test_party_update_of_an_unknown_party_and_the_last_return_address(
    env: dict[str, str], db: Database
) -> None:
    unknown = runner.invoke(
        app, ["party", "update", "00000000-0000-4000-8000-000000000000", "--name", "X"], env=env
    )
    assert unknown.exit_code == 2
    assert "CLIENT_ID: no party has this client_id" in unknown.stderr
    client_id = add_party(db, seed=1).party.client_id
    last = runner.invoke(
        app,
        ["party", "update", client_id, "--remove-return-url", "https://app.example.no/callback"],
        env=env,
    )
    assert last.exit_code == 0, last.output
    assert "warning: the third party has no return address left" in last.stderr
