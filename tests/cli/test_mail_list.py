"""``consenthub mail list``: what the demo's SMTP sink caught, from a real sink on loopback."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from typer.testing import CliRunner

from consenthub.cli.main import app
from consenthub.config import Settings
from consenthub.demo import start_mail_sink
from consenthub.mail import Mail, compose, render
from consenthub.worker.mail import MailSender
from tests.harness import EventLoopThread, free_port

runner = CliRunner()
LINK = "http://127.0.0.1:8000/minside/requests/3"


def send_to_sink(settings: Settings, port: int, to_name: str) -> str:
    """Send one notice to the sink on ``port``; returns its Message-ID."""
    mail = Mail(
        "authorization_request_notice",
        "kari@example.no",
        to_name,
        "en",
        {
            "seller_name": "[bold]Strøm[/] AS",
            "accounting_points": ["707057500000000018"],
            "link": LINK,
        },
    )
    message = compose(
        mail,
        render(mail, settings),
        message_id=f"msg_{free_port()}",
        sender=settings.mail_from,
        date=dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC),
    )
    loop = EventLoopThread()
    try:
        sent = loop.run(
            MailSender(settings.model_copy(update={"smtp_port": port})).send(
                message, sender=settings.mail_sender_address, recipient=mail.to_address
            )
        )
    finally:
        loop.close()
    assert sent.attempt.reply == 250
    return str(message["Message-ID"])


def test_the_sink_keeps_each_mail_and_the_list_shows_it(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "consenthub-mail"
    port = free_port()
    sink = start_mail_sink(port, folder)
    try:
        first = send_to_sink(settings, port, "Kari Nordmann")
        second = send_to_sink(settings, port, "Ola Nordmann")
    finally:
        sink.stop()
    assert len(list(folder.glob("*.eml"))) == 2
    env = {"CONSENTHUB_MAIL_SINK_DIR": str(folder)}
    listed = runner.invoke(app, ["mail", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    caught = json.loads(listed.stdout)
    assert [item["message_id"] for item in caught] == [first, second]
    assert [item["to"] for item in caught] == [
        "Kari Nordmann <kari@example.no>",
        "Ola Nordmann <kari@example.no>",
    ]
    assert caught[0] == caught[0] | {
        "from": "consenthub <no-reply@consenthub.invalid>",
        "subject": "[bold]Strøm[/] AS asks for access to your electricity data",
        "date": "Mon, 01 Jun 2026 09:00:00 +0000",
        "link": LINK,
    }
    # Kept as it arrived: any mail program opens it.
    assert Path(caught[0]["file"]).read_bytes().startswith(b"From: consenthub")
    shown = runner.invoke(app, ["mail", "list"], env=env)
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    # Whole lines, whatever the terminal's width; the seller's text never taken for markup.
    assert "Subject:    [bold]Strøm[/] AS asks for access to your electricity data" in lines
    assert f"Message-ID: {first}" in lines
    assert f"Message-ID: {second}" in lines
    assert f"Link:       {LINK}" in lines
    assert f"File:       {caught[0]['file']}" in lines


def test_an_empty_sink(tmp_path: Path) -> None:
    listed = runner.invoke(
        app, ["mail", "list"], env={"CONSENTHUB_MAIL_SINK_DIR": str(tmp_path / "none")}
    )
    assert listed.exit_code == 0, listed.output
    assert "no mail in" in listed.stdout
    as_json = runner.invoke(
        app, ["mail", "list", "--json"], env={"CONSENTHUB_MAIL_SINK_DIR": str(tmp_path)}
    )
    assert json.loads(as_json.stdout) == []
