"""``consenthub grants``, ``requests`` and ``end-user``: the operator's daily work.

``consenthub.cli.main`` imports this module to register the apps, so its helpers are
imported inside the commands.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from consenthub import access_requests, grants
from consenthub.cli import store
from consenthub.cli.plain_help import CommandGroup
from consenthub.cli.wording import count
from consenthub.domain.access import Process, Status
from consenthub.domain.errors import DomainError
from consenthub.domain.identifiers import (
    InvalidIdentifier,
    mask_national_id,
    validate_end_user_id,
    validate_gsrn,
    validate_uuid,
)

grants_app = CommandGroup(no_args_is_help=True, help="Grants: who may read which metering point.")
requests_app = CommandGroup(no_args_is_help=True, help="Access requests of every process.")
end_user_app = CommandGroup(no_args_is_help=True, help="One end user, as support looks them up.")

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
LIMIT = 10_000


def _date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _grant_json(grant: grants.OperatorGrant, today: dt.date) -> dict[str, Any]:
    standing = grants.grant_standing(
        grant.valid_from, grant.valid_to, grant.ended_reason, grant.revoked, today
    )
    return {
        "id": grant.id,
        "client_id": grant.party_client_id,
        "party_name": grant.party_name,
        "metering_point_id": grant.gsrn,
        "scope": grant.scope.value,
        "valid_from": _date(grant.valid_from),
        "valid_to": _date(grant.valid_to),
        "status": standing.status.value,
        "ended_reason": standing.ended_reason.value if standing.ended_reason else None,
    }


def _grants_table(rows: list[dict[str, Any]]) -> Table:
    table = Table()
    # Identifiers stay whole however narrow the terminal; the other columns give way.
    for header, width in (("id", 2), ("client_id", 36), ("GSRN", 18)):
        table.add_column(header, no_wrap=True, min_width=width)
    for header in ("party", "scope", "from", "to", "status"):
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["client_id"],
            row["metering_point_id"],
            escape(row["party_name"]),
            row["scope"],
            row["valid_from"],
            row["valid_to"] or "",
            row["status"] + (f" ({row['ended_reason']})" if row["ended_reason"] else ""),
        )
    return table


@grants_app.command("list")
def grants_list(
    party: Annotated[
        str | None, typer.Option(metavar="CLIENT_ID", help="Only this party's grants.")
    ] = None,
    metering_point: Annotated[
        str | None, typer.Option(metavar="GSRN", help="Only grants on this metering point.")
    ] = None,
    status: Annotated[
        grants.GrantStatus | None,
        typer.Option(metavar="Active|Ended|Expired", case_sensitive=False, help="Only these."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """List grants by id, with their status as the grants API reports it."""
    from consenthub.cli.main import build_hub, console, fail, print_json

    problems: list[tuple[str, str]] = []
    try:
        party = None if party is None else validate_uuid(party)
    except InvalidIdentifier as exc:
        problems.append(("--party", exc.rule))
    try:
        metering_point = None if metering_point is None else validate_gsrn(metering_point)
    except InvalidIdentifier as exc:
        problems.append(("--metering-point", exc.rule))
    if problems:
        fail("invalid options", problems=problems)
    hub = build_hub()
    with hub.database.read() as conn:
        found = grants.operator_grants(conn, party_client_id=party, gsrn=metering_point)
    rows = [_grant_json(grant, hub.today()) for grant in found]
    if status is not None:
        rows = [row for row in rows if row["status"] == status.value]
    if json_output:
        print_json(rows)
        return
    if not rows:
        console.print("no grants")
        return
    console.print(_grants_table(rows))
    console.print(count(len(rows), "grant"))


@grants_app.command("end")
def grants_end(
    grant_id: Annotated[int, typer.Argument(metavar="ID", help="The grant's id in `grants list`.")],
    json_output: JsonOption = False,
) -> None:
    """End a live grant today (reason operator): audited, and the party hears grant.ended.

    The party keeps read access to data valid up to today."""
    from consenthub.cli.main import build_hub, console, fail, print_json

    hub = build_hub()
    try:
        ended = grants.end_by_operator(hub, grant_id, actor="cli")
    except DomainError:
        fail(f"ID: no live grant has id {grant_id}")
    if json_output:
        print_json(_grant_json(ended, hub.today()))
        return
    console.print(
        f"grant {ended.id} of {escape(ended.party_name)} on {ended.gsrn} ends "
        f"{_date(ended.valid_to)}; the party is told (grant.ended)",
        highlight=False,
        soft_wrap=True,
    )


def _request_json(request: access_requests.AccessRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "process": request.process.value,
        "party_name": request.party_name,
        "party_gln": request.party_gln,
        "party_orgnr": request.party_orgnr,
        "request_id": request.request_id,
        "scope": request.scope.value,
        "status": request.status.value,
        "created_at": request.created_at.isoformat(timespec="seconds"),
        "deadline": request.deadline.isoformat(timespec="seconds") if request.deadline else None,
        "decided_at": (
            request.decided_at.isoformat(timespec="seconds") if request.decided_at else None
        ),
    }


def _requests_table(rows: list[dict[str, Any]]) -> Table:
    table = Table()
    table.add_column("id", no_wrap=True)
    for header in ("process", "party", "scope", "status", "created", "deadline"):
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(
            row["id"],
            row["process"],
            escape(row["party_name"]),
            row["scope"],
            row["status"],
            row["created_at"],
            row["deadline"] or "",
        )
    return table


@requests_app.command("list")
def requests_list(
    status: Annotated[
        Status | None,
        typer.Option(metavar="STATUS", help="pending, approved, rejected, expired, ..."),
    ] = None,
    process: Annotated[
        Process | None,
        typer.Option(metavar="PROCESS", help="url, message, authorization_request, consent"),
    ] = None,
    limit: Annotated[
        int, typer.Option(metavar="N", min=1, max=LIMIT, help="At most this many.")
    ] = 100,
    json_output: JsonOption = False,
) -> None:
    """List access requests of every party, newest first, with their effective status."""
    from consenthub.cli.main import build_hub, console, print_json

    found = access_requests.listing(build_hub(), status=status, process=process, limit=limit)
    rows = [_request_json(request) for request in found]
    if json_output:
        print_json(rows)
        return
    if not rows:
        console.print("no requests")
        return
    console.print(_requests_table(rows))
    console.print(count(len(rows), "request"))


def _read_national_id() -> str:
    """From a hidden prompt on a terminal, else the first line of standard input: never
    from the command line, where it would stay in the shell's history."""
    if sys.stdin.isatty():
        return str(typer.prompt("National identity number", hide_input=True)).strip()
    return sys.stdin.readline().strip()


@end_user_app.command("show")
def end_user_show(
    reveal: Annotated[
        bool,
        typer.Option("--reveal", help="Print the full identity number (written to the audit log)"),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Show one end user: their grants, requests and access log, the identity number masked.

    The number is read from a hidden prompt (or standard input), never from the command
    line."""
    from consenthub.cli.main import build_hub, console, fail, print_json
    from consenthub.store import audit

    hub = build_hub()
    try:
        national_id, _ = validate_end_user_id(
            _read_national_id(), allow_synthetic=hub.settings.allow_synthetic_ids
        )
    except InvalidIdentifier as exc:
        fail(f"national identity number: {exc.rule}")
    with hub.database.write() as conn:
        person = store.end_user_by_national_id(conn, hub.ids, national_id)
        if person is None:
            fail("national identity number: no end user has this number")
        if reveal:
            audit.append(
                conn,
                actor="cli",
                action="end_user.revealed",
                subject=f"end_user:{person.id}",
                details={},
            )
        person_grants = grants.operator_grants(conn, end_user_id=person.id)
        reads = store.access_log(conn, person.id, limit=LIMIT)
    person_requests = access_requests.of_end_user(hub, person.id)
    shown_id = person.national_id if reveal else mask_national_id(person.national_id)
    today = hub.today()
    grant_rows = [_grant_json(grant, today) for grant in person_grants]
    request_rows = [_request_json(request) for request in person_requests]
    read_rows = [
        {
            "at": read.at.isoformat(timespec="seconds"),
            "client_id": read.party_client_id,
            "party_name": read.party_name,
            "metering_point_id": read.gsrn,
            "what": read.what,
            "period_from": read.period_from.isoformat() if read.period_from else None,
            "period_to": read.period_to.isoformat() if read.period_to else None,
        }
        for read in reads
    ]
    if json_output:
        print_json(
            {
                "id": person.id,
                "national_id": shown_id,
                "kind": person.kind,
                "name": person.name,
                "grants": grant_rows,
                "requests": request_rows,
                "access_log": read_rows,
            }
        )
        return
    console.print(
        f"end user {person.id}  {shown_id}  {escape(person.name or '')}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"\n{count(len(grant_rows), 'grant')}")
    if grant_rows:
        console.print(_grants_table(grant_rows))
    console.print(f"\n{count(len(request_rows), 'request')}")
    if request_rows:
        console.print(_requests_table(request_rows))
    console.print(f"\naccess log: {count(len(read_rows), 'read')}")
    if read_rows:
        table = Table("at", "party", "GSRN", "what", "period")
        table.columns[2].no_wrap = True
        for row in read_rows:
            table.add_row(
                row["at"],
                escape(row["party_name"] or ""),
                row["metering_point_id"],
                row["what"],
                f"{row['period_from'] or ''} – {row['period_to'] or ''}",
            )
        console.print(table)
