"""``consenthub mail``: the mail the demo's SMTP sink caught.

``consenthub.cli.main`` imports this module to register ``mail_app``, so its helpers
are imported inside the commands.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from consenthub.cli.plain_help import CommandGroup
from consenthub.mail import MailFolder

mail_app = CommandGroup(no_args_is_help=True, help="Mail caught by the demo's SMTP sink.")

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
