"""The operator's webhook commands: a party's endpoint and secret, the delivery log, retries."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner, Result

from consenthub import outbox, registry
from consenthub.cli.main import app
from consenthub.domain.access import EventType
from consenthub.store.database import Database
from consenthub.store.tables import AuditEvent, OutboxMessage, Party, WebhookSecret
from tests.conftest import TEST_SECRET_KEY
from tests.factories import (
    add_end_user,
    add_grant,
    add_metering_point,
    add_party,
    fnr,
    gln,
)

runner = CliRunner()
HOOK_URL = "https://hooks.example.no/consenthub"


@pytest.fixture
def env(db: Database, database_url: str) -> dict[str, str]:
    return {"CONSENTHUB_DATABASE_URL": database_url, "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY}


@pytest.fixture
def party(db: Database) -> registry.PartyRecord:
    return add_party(db).party


def invoke(env: dict[str, str], *args: str) -> Result:
    return runner.invoke(app, list(args), env=env)


def invoke_json(env: dict[str, str], *args: str) -> Any:
    result = invoke(env, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_one_line_error(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [f"error: {message}"]
    assert "Traceback" not in result.output


def stored_endpoint(db: Database, party_id: int) -> tuple[str | None, dt.datetime | None]:
    with db.read() as conn:
        row = conn.execute(
            select(Party.webhook_url, Party.webhook_disabled_at).where(Party.id == party_id)
        ).one()
    return row.webhook_url, row.webhook_disabled_at


def stored_secrets(db: Database, party_id: int) -> list[str]:
    with db.read() as conn:
        return list(
            conn.execute(
                select(WebhookSecret.secret).where(WebhookSecret.party_id == party_id)
            ).scalars()
        )


def signing_secrets(db: Database, party_id: int, at: dt.datetime) -> list[str]:
    with db.read() as conn:
        return registry.signing_secrets(conn, TEST_SECRET_KEY.encode(), party_id, at)


def audit_actions(db: Database) -> list[tuple[str, str, str, dict[str, Any]]]:
    with db.read() as conn:
        rows = conn.execute(select(AuditEvent).order_by(AuditEvent.id)).all()
    return [(row.actor, row.action, row.subject, row.details) for row in rows]


# party set-webhook


def test_set_webhook_stores_the_url_and_shows_a_secret_once(
    env: dict[str, str], db: Database, party: registry.PartyRecord
) -> None:
    first = invoke_json(env, "party", "set-webhook", party.client_id, HOOK_URL)

    secret = first["webhook_secret"]
    assert secret.startswith("whsec_")
    assert first["webhook_url"] == HOOK_URL
    assert stored_endpoint(db, party.id) == (HOOK_URL, None)
    assert signing_secrets(db, party.id, dt.datetime.now(dt.UTC)) == [secret]

    again = invoke(env, "party", "set-webhook", party.client_id, HOOK_URL + "/v2")
    assert again.exit_code == 0, again.output
    assert "whsec_" not in again.output
    assert "unchanged" in again.stdout
    assert (
        invoke_json(env, "party", "set-webhook", party.client_id, HOOK_URL)["webhook_secret"]
        is None
    )
    assert signing_secrets(db, party.id, dt.datetime.now(dt.UTC)) == [secret]


def test_set_webhook_says_the_secret_is_shown_once_and_how_to_verify(
    env: dict[str, str], db: Database, party: registry.PartyRecord
) -> None:
    result = invoke(env, "party", "set-webhook", party.client_id, HOOK_URL)

    assert result.exit_code == 0, result.output
    (secret,) = signing_secrets(db, party.id, dt.datetime.now(dt.UTC))
    assert f"webhook_secret  {secret}\n" in result.stdout
    assert "shown once; store it now" in result.stdout
    assert 'see README.md, "Webhooks"' in result.stdout


def test_the_webhook_secret_is_stored_encrypted(
    env: dict[str, str], db: Database, party: registry.PartyRecord
) -> None:
    secret = invoke_json(env, "party", "set-webhook", party.client_id, HOOK_URL)["webhook_secret"]

    (stored,) = stored_secrets(db, party.id)
    random_part = secret.removeprefix("whsec_")
    assert secret not in stored
    assert random_part not in stored
    assert TEST_SECRET_KEY not in stored


def test_set_webhook_allows_http_for_localhost(
    env: dict[str, str], db: Database, party: registry.PartyRecord
) -> None:
    url = "http://localhost:9000/hooks"
    assert invoke(env, "party", "set-webhook", party.client_id, url).exit_code == 0
    assert stored_endpoint(db, party.id) == (url, None)


def test_set_webhook_again_enables_an_endpoint_disabled_after_410(
    env: dict[str, str], db: Database, party: registry.PartyRecord
) -> None:
    invoke_json(env, "party", "set-webhook", party.client_id, HOOK_URL)
    with db.write() as conn:
        conn.execute(
            update(Party)
            .where(Party.id == party.id)
            .values(webhook_disabled_at=dt.datetime.now(dt.UTC))
        )

    assert invoke(env, "party", "set-webhook", party.client_id, HOOK_URL).exit_code == 0
    assert stored_endpoint(db, party.id) == (HOOK_URL, None)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://hooks.example.no/consenthub", "must use https (http only for localhost)"),
        ("ftp://hooks.example.no/consenthub", "must be an absolute http(s) URL"),
        ("https://hooks.example.no/consenthub#events", "must not contain a fragment"),
        ("https://hooks.example.no/" + "a" * 2000, "at most 2000 characters"),
    ],
    ids=["http-public-host", "ftp", "fragment", "too-long"],
)
def test_set_webhook_rejects_a_bad_url_and_stores_nothing(
    env: dict[str, str], db: Database, party: registry.PartyRecord, url: str, rule: str
) -> None:
    result = invoke(env, "party", "set-webhook", party.client_id, url)

    assert_one_line_error(result, f"webhook_url: {rule}")
    assert stored_endpoint(db, party.id) == (None, None)
    assert stored_secrets(db, party.id) == []


def test_set_webhook_of_an_unknown_party(env: dict[str, str], db: Database) -> None:
    result = invoke(env, "party", "set-webhook", "00000000-0000-4000-8000-000000000000", HOOK_URL)
    assert_one_line_error(result, "client_id: no party has this client_id")


# party add --webhook-url


def test_party_add_with_a_webhook_url_shows_its_secret_once(
    env: dict[str, str], db: Database
) -> None:
    base = ["party", "add", "--name", "Hooked AS", "--role", "third_party"]
    created = invoke_json(env, *base, "--gln", gln(3), "--webhook-url", HOOK_URL)

    assert created["webhook_url"] == HOOK_URL
    assert created["webhook_secret"].startswith("whsec_")
    with db.read() as conn:
        party_id = conn.execute(
            select(Party.id).where(Party.client_id == created["client_id"])
        ).scalar_one()
    assert signing_secrets(db, party_id, dt.datetime.now(dt.UTC)) == [created["webhook_secret"]]

    shown = invoke(env, *base, "--gln", gln(4), "--webhook-url", HOOK_URL)
    assert shown.exit_code == 0, shown.output
    assert "webhook_secret  whsec_" in shown.stdout
    assert "shown once; store it now" in shown.stdout


def test_party_add_without_a_webhook_url_shows_no_webhook_secret(
    env: dict[str, str], db: Database
) -> None:
    created = invoke_json(env, "party", "add", "--name", "A", "--gln", gln(5), "--role", "seller")
    assert "webhook_secret" not in created


# party rotate-webhook-secret


def test_rotation_signs_with_both_secrets_for_the_overlap_then_only_the_new(
    env: dict[str, str], db: Database, party: registry.PartyRecord
) -> None:
    old = invoke_json(env, "party", "set-webhook", party.client_id, HOOK_URL)["webhook_secret"]
    before = dt.datetime.now(dt.UTC)
    rotated = invoke_json(
        env, "party", "rotate-webhook-secret", party.client_id, "--overlap-hours", "2"
    )
    after = dt.datetime.now(dt.UTC)

    new = rotated["webhook_secret"]
    assert new.startswith("whsec_")
    assert new != old
    until = dt.datetime.fromisoformat(rotated["previous_valid_until"])
    assert before + dt.timedelta(hours=2) - dt.timedelta(seconds=1) <= until
    assert until <= after + dt.timedelta(hours=2)
    assert signing_secrets(db, party.id, after) == [new, old]
    assert signing_secrets(db, party.id, until - dt.timedelta(minutes=1)) == [new, old]
    assert signing_secrets(db, party.id, until + dt.timedelta(minutes=1)) == [new]
    assert all(new not in stored and old not in stored for stored in stored_secrets(db, party.id))


def test_rotation_overlap_defaults_to_the_setting(
    env: dict[str, str], db: Database, party: registry.PartyRecord
) -> None:
    invoke_json(env, "party", "set-webhook", party.client_id, HOOK_URL)

    def overlap(extra: dict[str, str]) -> dt.timedelta:
        result = runner.invoke(
            app, ["party", "rotate-webhook-secret", party.client_id, "--json"], env=env | extra
        )
        assert result.exit_code == 0, result.output
        until = dt.datetime.fromisoformat(json.loads(result.stdout)["previous_valid_until"])
        return until - dt.datetime.now(dt.UTC)

    assert dt.timedelta(hours=23, minutes=59) < overlap({}) <= dt.timedelta(hours=24)
    five_hours = overlap({"CONSENTHUB_WEBHOOK_SECRET_OVERLAP_HOURS": "5"})
    assert dt.timedelta(hours=4, minutes=59) < five_hours <= dt.timedelta(hours=5)


def test_rotation_prints_the_new_secret_and_until_when_the_old_signs(
    env: dict[str, str], db: Database, party: registry.PartyRecord
) -> None:
    invoke_json(env, "party", "set-webhook", party.client_id, HOOK_URL)

    result = invoke(env, "party", "rotate-webhook-secret", party.client_id)

    assert result.exit_code == 0, result.output
    new = signing_secrets(db, party.id, dt.datetime.now(dt.UTC))[0]
    assert f"webhook_secret  {new}\n" in result.stdout
    assert "shown once; store it now" in result.stdout
    assert "The previous secret also signs every delivery until 20" in result.stdout


def test_rotation_needs_a_webhook_url(
    env: dict[str, str], db: Database, party: registry.PartyRecord
) -> None:
    result = invoke(env, "party", "rotate-webhook-secret", party.client_id)
    assert_one_line_error(result, "client_id: the party has no webhook URL; set one first")
    assert stored_secrets(db, party.id) == []


def test_rotation_rejects_a_negative_overlap(
    env: dict[str, str], db: Database, party: registry.PartyRecord
) -> None:
    invoke_json(env, "party", "set-webhook", party.client_id, HOOK_URL)
    result = invoke(env, "party", "rotate-webhook-secret", party.client_id, "--overlap-hours=-1")
    assert_one_line_error(result, "--overlap-hours: must not be negative")
    assert len(stored_secrets(db, party.id)) == 1


# webhooks list and retry


@pytest.fixture
def messages(env: dict[str, str], db: Database, party: registry.PartyRecord) -> dict[str, int]:
    """Three grant.started messages for the party: delivered, failed and pending (oldest
    first), by status."""
    invoke_json(env, "party", "set-webhook", party.client_id, HOOK_URL)
    end_user = add_end_user(db, fnr())
    for seed in (1, 2, 3):
        add_grant(db, party.id, add_metering_point(db, seed), end_user, dt.date(2026, 1, 1))
    with db.write() as conn:
        delivered, failed, pending = conn.execute(
            select(OutboxMessage.id).order_by(OutboxMessage.id)
        ).scalars()
        now = dt.datetime.now(dt.UTC)
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == delivered)
            .values(delivered_at=now, attempts=1, last_status=204)
        )
        conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == failed)
            .values(failed_at=now, attempts=8, last_status=500, last_error="HTTP 500 from receiver")
        )
    return {"delivered": delivered, "failed": failed, "pending": pending}


def test_list_shows_the_delivery_log_newest_first(
    env: dict[str, str], party: registry.PartyRecord, messages: dict[str, int]
) -> None:
    log = invoke_json(env, "webhooks", "list")

    assert [entry["id"] for entry in log] == [
        messages["pending"],
        messages["failed"],
        messages["delivered"],
    ]
    assert [entry["status"] for entry in log] == ["pending", "failed", "delivered"]
    failed = log[1]
    assert failed["client_id"] == party.client_id
    assert failed["party_name"] == party.name
    assert failed["event_type"] == "grant.started"
    assert failed["webhook_id"].startswith("msg_")
    assert (failed["attempts"], failed["last_status"]) == (8, 500)
    assert failed["last_error"] == "HTTP 500 from receiver"
    assert failed["status_at"] == failed["failed_at"]
    assert failed["endpoint_disabled_at"] is None
    assert log[0]["status_at"] == log[0]["due_at"]
    assert log[2]["status_at"] == log[2]["delivered_at"]
    assert len({entry["webhook_id"] for entry in log}) == 3


def test_list_failed_and_limit(env: dict[str, str], messages: dict[str, int]) -> None:
    assert [entry["id"] for entry in invoke_json(env, "webhooks", "list", "--failed")] == [
        messages["failed"]
    ]
    assert [entry["id"] for entry in invoke_json(env, "webhooks", "list", "--limit", "1")] == [
        messages["pending"]
    ]
    assert invoke(env, "webhooks", "list", "--limit", "0").exit_code == 2


def test_list_as_a_table(
    env: dict[str, str], party: registry.PartyRecord, messages: dict[str, int]
) -> None:
    result = runner.invoke(app, ["webhooks", "list", "--failed"], env=env | {"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    (failed,) = invoke_json(env, "webhooks", "list", "--failed")
    for shown in (party.name, "grant.started", failed["webhook_id"], "HTTP 500 from receiver"):
        assert shown in result.stdout
    assert "failed" in result.stdout
    assert f"{failed['failed_at'][:10]} {failed['failed_at'][11:19]}Z" in result.stdout


def test_a_batch_is_one_entry_until_the_worker_claims_it_then_one_per_event(
    env: dict[str, str], db: Database, party: registry.PartyRecord
) -> None:
    invoke_json(env, "party", "set-webhook", party.client_id, HOOK_URL)
    now = dt.datetime.now(dt.UTC)
    with db.write() as conn:
        outbox.enqueue_webhooks(
            conn,
            party.id,
            [outbox.Event(EventType.GRANT_STARTED, {"n": n}) for n in range(3)],
            now=now,
        )
    [batch] = invoke_json(env, "webhooks", "list")
    assert (batch["event_type"], batch["batch_events"], batch["status"]) == (
        "grant.started",
        3,
        "pending",
    )
    table = runner.invoke(app, ["webhooks", "list"], env=env | {"COLUMNS": "200"})
    assert "(batch of 3 events)" in table.stdout

    with db.write() as conn:
        outbox.claim(
            conn, worker="w", now=now, lease=dt.timedelta(minutes=1), parties=1, per_party=10
        )
    log = invoke_json(env, "webhooks", "list")
    assert [(entry["event_type"], entry["batch_events"]) for entry in log] == [
        ("grant.started", None)
    ] * 3
    # The batch's entry became its first event's, with the same webhook-id.
    assert batch["webhook_id"] in {entry["webhook_id"] for entry in log}
    assert len({entry["webhook_id"] for entry in log}) == 3


def test_list_of_nothing(env: dict[str, str], db: Database) -> None:
    result = invoke(env, "webhooks", "list", "--failed")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "no failed webhook messages"
    assert invoke_json(env, "webhooks", "list") == []


def test_retry_makes_a_failed_message_due_again_and_is_audited(
    env: dict[str, str], db: Database, party: registry.PartyRecord, messages: dict[str, int]
) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    result = invoke(env, "webhooks", "retry", str(messages["failed"]))

    assert result.exit_code == 0, result.output
    with db.read() as conn:
        row = conn.execute(
            select(OutboxMessage).where(OutboxMessage.id == messages["failed"])
        ).one()
    assert row.failed_at is None
    assert row.due_at >= before
    assert row.lease_until is None
    assert audit_actions(db)[-1] == (
        "cli",
        "webhook.retry",
        f"webhook:{row.message_id}",
        {"id": messages["failed"], "party": party.client_id, "event_type": "grant.started"},
    )
    verified = invoke_json(env, "audit", "verify")
    assert verified["ok"] is True
    log = invoke_json(env, "webhooks", "list")
    assert [entry["status"] for entry in log] == ["pending", "pending", "delivered"]


def test_retry_as_json(env: dict[str, str], messages: dict[str, int]) -> None:
    retried = invoke_json(env, "webhooks", "retry", str(messages["failed"]))
    assert retried["id"] == messages["failed"]
    assert retried["status"] == "pending"
    assert retried["webhook_id"].startswith("msg_")


@pytest.mark.parametrize("status", ["delivered", "pending"])
def test_retry_only_a_failed_message(
    env: dict[str, str], db: Database, messages: dict[str, int], status: str
) -> None:
    events = len(audit_actions(db))
    result = invoke(env, "webhooks", "retry", str(messages[status]))

    assert_one_line_error(
        result, f"id: message {messages[status]} is {status}; only a failed one is retried"
    )
    assert len(audit_actions(db)) == events


def test_retry_of_an_unknown_message(
    env: dict[str, str], db: Database, messages: dict[str, int]
) -> None:
    events = len(audit_actions(db))
    result = invoke(env, "webhooks", "retry", str(max(messages.values()) + 100))
    assert_one_line_error(result, "id: no webhook message has this id")
    assert len(audit_actions(db)) == events


def test_retry_waits_for_a_disabled_endpoint_to_be_set_again(
    env: dict[str, str], db: Database, party: registry.PartyRecord, messages: dict[str, int]
) -> None:
    with db.write() as conn:
        conn.execute(
            update(Party)
            .where(Party.id == party.id)
            .values(webhook_disabled_at=dt.datetime.now(dt.UTC))
        )
        failed_before = conn.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.failed_at.is_not(None))
        ).scalar_one()

    result = invoke(env, "webhooks", "retry", str(messages["failed"]))

    assert_one_line_error(
        result,
        "id: the party's endpoint is disabled since it answered 410 Gone; "
        "set it again with `consenthub party set-webhook` first",
    )
    still_failed = invoke_json(env, "webhooks", "list", "--failed")
    assert len(still_failed) == failed_before
    assert still_failed[0]["endpoint_disabled_at"] is not None
    assert invoke(env, "party", "set-webhook", party.client_id, HOOK_URL).exit_code == 0
    assert invoke(env, "webhooks", "retry", str(messages["failed"])).exit_code == 0


def test_help_shows_no_python_type_labels(env: dict[str, str]) -> None:
    for command in (
        ["party", "add"],
        ["party", "set-webhook"],
        ["party", "rotate-webhook-secret"],
        ["webhooks", "list"],
        ["webhooks", "retry"],
        ["party"],
    ):
        result = invoke(env, *command, "--help")
        assert result.exit_code == 0, result.output
        assert "<bool>" not in result.stdout
        assert "list[" not in result.stdout
