"""The operator's view of outgoing mail: the delivery log and the retry of a failed mail."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from typer.testing import CliRunner, Result

from consenthub import outbox
from consenthub.cli.main import app
from consenthub.mail import Mail
from consenthub.store.database import Database
from consenthub.store.tables import AuditEvent, OutboxMessage, Party
from tests.conftest import TEST_SECRET_KEY
from tests.factories import add_party

runner = CliRunner()
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def env(db: Database, database_url: str) -> dict[str, str]:
    return {"CONSENTHUB_DATABASE_URL": database_url, "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY}


def invoke(env: dict[str, str], *args: str) -> Result:
    return runner.invoke(app, list(args), env=env)


def invoke_json(env: dict[str, str], *args: str) -> Any:
    result = invoke(env, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def queue_mail(db: Database, to: str, *, failed: bool, party_id: int | None = None) -> int:
    mail = Mail("authorization_request", to, "Kari", "fi", {"seller": "Myyjä Oy"})
    with db.write() as conn:
        outbox.enqueue_mail(
            conn,
            mail,
            event_type="mail.authorization_request",
            due_at=NOW,
            now=NOW,
            party_id=party_id,
        )
        newest = select(func.max(OutboxMessage.id))
        message_id: int = conn.execute(newest).scalar_one()
        if failed:
            conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(
                    failed_at=NOW, attempts=9, last_status=550, last_error="550 5.1.1 no such user"
                )
            )
    return message_id


def test_the_log_lists_mail_newest_first_with_the_smtp_reply(
    db: Database, env: dict[str, str]
) -> None:
    sent = queue_mail(db, "kari@example.fi", failed=False)
    bounced = queue_mail(db, "nobody@example.fi", failed=True)
    log = invoke_json(env, "mail", "log")
    assert [(item["id"], item["to"], item["status"]) for item in log] == [
        (bounced, "nobody@example.fi", "failed"),
        (sent, "kari@example.fi", "pending"),
    ]
    assert (log[0]["last_reply"], log[0]["last_error"]) == (550, "550 5.1.1 no such user")
    [only] = invoke_json(env, "mail", "log", "--failed")
    assert only["id"] == bounced
    table = runner.invoke(app, ["mail", "log"], env=env | {"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "nobody@example.fi" in table.stdout
    assert "550" in table.stdout


def test_a_failed_mail_is_retried_and_audited(db: Database, env: dict[str, str]) -> None:
    bounced = queue_mail(db, "nobody@example.fi", failed=True)
    answer = invoke_json(env, "mail", "retry", str(bounced))
    assert answer["status"] == "pending"
    with db.read() as conn:
        row = conn.execute(select(OutboxMessage).where(OutboxMessage.id == bounced)).one()
        [event] = conn.execute(select(AuditEvent).where(AuditEvent.action == "mail.retry")).all()
    assert row.failed_at is None
    assert row.due_at is not None
    assert event.details["id"] == bounced
    # The person's address is not in the audit log (it names the mail).
    assert "nobody@example.fi" not in json.dumps([event.subject, event.details])


def test_mail_about_a_party_whose_endpoint_is_disabled_is_still_retried(
    db: Database, env: dict[str, str]
) -> None:
    party = add_party(db).party
    bounced = queue_mail(db, "nobody@example.fi", failed=True, party_id=party.id)
    with db.write() as conn:
        conn.execute(update(Party).where(Party.id == party.id).values(webhook_disabled_at=NOW))
    assert invoke_json(env, "mail", "retry", str(bounced))["status"] == "pending"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("none", "id: no mail has this id"),
        ("pending", "only a failed one is retried"),
        ("webhook", "id: no mail has this id"),
    ],
)
def test_what_cannot_be_retried_is_said_in_one_line(
    db: Database, env: dict[str, str], setup: str, message: str
) -> None:
    target = 999_999
    if setup == "pending":
        target = queue_mail(db, "kari@example.fi", failed=False)
    if setup == "webhook":
        with db.write() as conn:
            target = conn.execute(
                insert(OutboxMessage)
                .values(
                    channel="webhook",
                    message_id="msg_webhook",
                    event_type="grant.started",
                    payload={},
                    created_at=NOW,
                    due_at=NOW,
                    attempts=9,
                    failed_at=NOW,
                )
                .returning(OutboxMessage.id)
            ).scalar_one()
    result = invoke(env, "mail", "retry", str(target))
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
