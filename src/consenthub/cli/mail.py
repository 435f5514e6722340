"""``consenthub mail``: the hub's outgoing mail as the worker sent it (``log``, ``retry``),
and the mail the demo's SMTP sink caught (``list``).

``consenthub.cli.main`` imports this module to register ``mail_app``, so the helpers of
``cli.main`` are imported inside the commands.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.markup import escape

from consenthub import outbox
from consenthub.cli import delivery_log
from consenthub.cli.plain_help import CommandGroup
from consenthub.mail import MailFolder
from consenthub.store import audit

mail_app = CommandGroup(
    no_args_is_help=True,
    help="The hub's outgoing mail: its delivery log, retries, and the demo sink's catch.",
)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


@mail_app.command("list")
def mail_list(json_output: JsonOption = False) -> None:
    """List the mail the demo's sink caught, oldest first: from, to, subject, date,
    Message-ID, the link in it and its .eml file (CONSENTHUB_MAIL_SINK_DIR)."""
    from consenthub.cli.main import console, load_settings, print_json

    folder = load_settings().mail_sink_dir
    caught = MailFolder(folder).caught()
    if json_output:
        print_json(
            [
                {
                    "from": item.sender,
                    "to": item.to,
                    "subject": item.subject,
                    "date": item.date,
                    "message_id": item.message_id,
                    "link": item.link,
                    "file": str(item.file),
                }
                for item in caught
            ]
        )
        return
    if not caught:
        console.print(f"no mail in {escape(str(folder))}/", highlight=False, soft_wrap=True)
        return
    for item in caught:
        # A block per mail, each line whole (never cut to a terminal's width), so that the
        # link can be followed and the Message-ID compared; a subject or a name is the
        # sender's text, shown as it is, never as markup.
        for label, value in (
            ("Date", item.date),
            ("From", item.sender),
            ("To", item.to),
            ("Subject", item.subject),
            ("Message-ID", item.message_id),
            ("Link", item.link or ""),
            ("File", str(item.file)),
        ):
            console.print(f"{label + ':':<12}{escape(value)}", highlight=False, soft_wrap=True)
        console.print()


@mail_app.command("log")
def mail_log(
    failed: Annotated[bool, typer.Option("--failed", help="Only mail given up on.")] = False,
    limit: Annotated[
        int, typer.Option(metavar="N", min=1, max=10_000, help="At most this many.")
    ] = 50,
    json_output: JsonOption = False,
) -> None:
    """The mail delivery log, newest first: to whom, what, and how it went (the SMTP
    server's last reply)."""
    from consenthub.cli.main import console, load_settings, open_database, print_json

    settings = load_settings()
    with open_database(settings).read() as conn:
        log = outbox.entries(conn, channel=outbox.MAIL, failed_only=failed, limit=limit)
    if json_output:
        print_json(
            [
                delivery_log.as_json(entry)
                | {
                    "to": outbox.mail_of(entry).to_address,
                    "message_id": entry.message_id,
                    "party": entry.party_client_id,
                    "last_reply": entry.last_status,
                }
                for entry in log
            ]
        )
        return
    if not log:
        console.print("no failed mail" if failed else "no mail")
        return
    leading: list[delivery_log.Column] = [
        ("id", lambda entry: str(entry.id)),
        ("to", lambda entry: escape(outbox.mail_of(entry).to_address)),
        ("mail", lambda entry: entry.event_type),
    ]
    console.print(delivery_log.as_table(log, leading, "SMTP"))


@mail_app.command("retry")
def mail_retry(
    message_id: Annotated[
        int,
        typer.Argument(metavar="ID", help="The mail's id in `mail log`.", show_default=False),
    ],
    json_output: JsonOption = False,
) -> None:
    """Send a failed mail again at the worker's next run (after mending what made it fail:
    the SMTP settings, the recipient's address)."""
    from consenthub.cli.main import console, fail, load_settings, open_database, print_json

    settings = load_settings()
    now = dt.datetime.now(dt.UTC)
    with open_database(settings).write() as conn:
        entry = outbox.find_entry(conn, message_id, channel=outbox.MAIL)
        if entry is None:
            fail("id: no mail has this id")
        if entry.failed_at is None:
            fail(f"id: mail {message_id} is {entry.status}; only a failed one is retried")
        if not outbox.retry(conn, message_id, now=now):
            fail(f"id: mail {message_id} is no longer failed")
        # The operator's decision is recorded with its effect, in the same transaction; the
        # address is the person's, so the audit names the mail, not them.
        audit.append(
            conn,
            actor="cli",
            action="mail.retry",
            subject=f"mail:{entry.message_id}",
            details={"id": message_id, "event_type": entry.event_type},
            at=now,
        )
    if json_output:
        print_json({"id": message_id, "message_id": entry.message_id, "status": "pending"})
        return
    console.print(f"mail {message_id} will be sent again at the worker's next run")
