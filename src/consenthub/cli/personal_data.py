"""``consenthub audit export`` (GDPR art. 15) and ``consenthub db reencrypt-ids``.

``consenthub.cli.main`` registers these commands, so its helpers are imported inside
them. A national id is read from standard input (or a hidden prompt), never taken as
an argument, which every process on the machine could read in the process list.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from consenthub import subject_access
from consenthub.domain.errors import DomainError
from consenthub.domain.identifiers import InvalidIdentifier, validate_end_user_id
from consenthub.services import build_services
from consenthub.store import audit, end_users


def _national_id_from_stdin() -> str:
    if sys.stdin.isatty():
        return str(typer.prompt("National identity number", hide_input=True))
    return sys.stdin.readline().strip()


def audit_export(
    end_user: Annotated[
        bool,
        typer.Option(
            "--end-user",
            help="Export for a person; their national id is read from standard input "
            "(or asked for, hidden), never given on the command line.",
        ),
    ] = False,
    party: Annotated[
        str | None, typer.Option("--party", metavar="CLIENT_ID", help="Export for a party.")
    ] = None,
) -> None:
    """Everything the hub holds about a person or a party, as JSON (GDPR art. 15).

    Audit events, grants, access requests, consents and access-log entries. A person's
    export holds their own national id and no one else's.
    """
    from consenthub.cli.main import fail, load_settings, print_json

    if end_user == (party is not None):
        fail("give exactly one of --end-user and --party CLIENT_ID")
    settings = load_settings()
    hub = build_services(settings)
    try:
        if end_user:
            try:
                national_id, _ = validate_end_user_id(
                    _national_id_from_stdin(), allow_synthetic=settings.allow_synthetic_ids
                )
            except InvalidIdentifier as exc:
                fail(f"end user: {exc.rule}")
            report = subject_access.for_end_user(hub, national_id)
        else:
            assert party is not None
            report = subject_access.for_party(hub, party)
    except DomainError as exc:
        field = exc.fields[0]
        fail(f"{field.field}: {field.rule}")
    finally:
        hub.database.dispose()
    print_json(report)


def reencrypt_ids(
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Rows per transaction.")] = (
        end_users.RESEAL_BATCH
    ),
) -> None:
    """Seal every stored national id again under CONSENTHUB_NATIONAL_ID_KEY_ID.

    Run after raising the key id on every server; logins and imports go on meanwhile.
    """
    from consenthub.cli.main import console, load_settings

    settings = load_settings()
    hub = build_services(settings)
    try:
        with hub.database.read() as conn:
            stale = end_users.stale_count(conn, hub.ids)
        progress = Progress(
            TextColumn("sealing national ids"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        done = 0
        with progress:
            task = progress.add_task("reseal", total=stale)
            for count in end_users.reseal(hub.database.write, hub.ids, batch):
                done += count
                progress.update(task, completed=done)
        with hub.database.write() as conn:
            audit.append(
                conn,
                actor="cli",
                action="national_ids.resealed",
                subject=f"national_id_key:{hub.ids.key_id}",
                details={"end_users": done},
            )
    finally:
        hub.database.dispose()
    console.print(f"{done} national ids sealed under key id {hub.ids.key_id}")
