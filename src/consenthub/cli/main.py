"""``consenthub``: run, migrate and administer the hub.

Bad input ends with a one-line message naming the field and the rule, and
exit code 2; ``--json`` gives machine-readable output where a script reads it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
from typing import Annotated, Any, NoReturn

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from consenthub import registry, signing
from consenthub.cli.imports import import_app
from consenthub.cli.mail import mail_app
from consenthub.config import Settings
from consenthub.store import audit
from consenthub.store.database import Database
from consenthub.store.migrate import upgrade

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="consenthub: consent and third-party access service for data hubs.",
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
party_app = typer.Typer(no_args_is_help=True, help="Registered third parties.")
keys_app = typer.Typer(no_args_is_help=True, help="Token signing keys.")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
app.add_typer(db_app, name="db")
app.add_typer(party_app, name="party")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(import_app, name="import")
app.add_typer(mail_app, name="mail")

console = Console()
errors = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def fail(message: str, code: int = 2) -> NoReturn:
    """Exit with ``code`` and the message on stderr: not wrapped, markup in it shown as is."""
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"CONSENTHUB_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        fail(f"invalid configuration: {problems}")


def open_database(settings: Settings) -> Database:
    return Database(settings.database_url)


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def migrate(settings: Settings, database: Database) -> None:
    upgrade(database)
    with database.write() as conn:
        signing.ensure_key(conn, settings.resolved_secret_key())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (and create the first signing key on a fresh database)."""
    settings = load_settings()
    migrate(settings, open_database(settings))
    console.print("database is up to date")


@party_app.command("add")
def party_add(
    name: Annotated[str, typer.Option(help="The party's registered name.")],
    role: Annotated[
        list[str], typer.Option(help="third_party, seller, consent_consumer, data_source")
    ],
    gln: Annotated[str | None, typer.Option(help="GLN, 13 digits")] = None,
    orgnr: Annotated[str | None, typer.Option(help="Norwegian organisation number")] = None,
    return_url: Annotated[list[str] | None, typer.Option(help="Whitelisted return address")] = None,
    return_domain: Annotated[
        list[str] | None, typer.Option(help="Whitelisted return domain")
    ] = None,
    webhook_url: Annotated[str | None, typer.Option(help="Webhook for the party's events")] = None,
    json_output: JsonOption = False,
) -> None:
    """Register a party; prints its client_id and client_secret (shown this once)."""
    settings = load_settings()
    database = open_database(settings)
    try:
        with database.write() as conn:
            created = registry.add_party(
                conn,
                settings.resolved_secret_key(),
                name=name,
                roles=role,
                gln=gln,
                orgnr=orgnr,
                return_urls=return_url or [],
                return_domains=return_domain or [],
                webhook_url=webhook_url,
            )
    except registry.RegistryError as exc:
        fail(f"--{exc.field.replace('_', '-')}: {exc.rule}")
    _print_credentials(created, json_output)


def _print_credentials(created: registry.NewCredentials, json_output: bool) -> None:
    party = created.party
    if json_output:
        print_json(
            {
                "client_id": party.client_id,
                "client_secret": created.client_secret,
                "name": party.name,
                "gln": party.gln,
                "orgnr": party.orgnr,
                "roles": list(party.roles),
            }
        )
        return
    console.print(f"party      {party.name}")
    console.print(f"client_id  {party.client_id}")
    console.print(f"client_secret  {created.client_secret}", highlight=False)
    console.print("[yellow]The secret is shown only now; it is stored as a hash.[/]")


@party_app.command("list")
def party_list(json_output: JsonOption = False) -> None:
    """List registered parties."""
    settings = load_settings()
    with open_database(settings).read() as conn:
        parties = registry.list_parties(conn)
        urls = {party.id: registry.return_urls(conn, party.id) for party in parties}
        domains = {party.id: registry.return_domains(conn, party.id) for party in parties}
    rows: list[dict[str, Any]] = [
        {
            "client_id": p.client_id,
            "name": p.name,
            "gln": p.gln,
            "orgnr": p.orgnr,
            "roles": list(p.roles),
            "return_urls": urls[p.id],
            "return_domains": domains[p.id],
            "webhook_url": p.webhook_url,
            "active": p.active,
        }
        for p in parties
    ]
    if json_output:
        print_json(rows)
        return
    table = Table("client_id", "name", "GLN", "org no.", "roles", "return addresses")
    for row in rows:
        table.add_row(
            row["client_id"],
            row["name"],
            row["gln"] or "",
            row["orgnr"] or "",
            ", ".join(row["roles"]),
            "\n".join(row["return_urls"] + row["return_domains"]),
        )
    console.print(table)


@party_app.command("rotate-secret")
def party_rotate_secret(
    client_id: str,
    overlap_hours: Annotated[
        float | None,
        typer.Option(help="How long the old secret keeps working (default: configured overlap)"),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Make a new client secret; the old one works for the overlap period."""
    settings = load_settings()
    hours = settings.client_secret_overlap_hours if overlap_hours is None else overlap_hours
    if hours < 0:
        fail("--overlap-hours: must not be negative")
    try:
        with open_database(settings).write() as conn:
            created = registry.rotate_secret(
                conn, settings.resolved_secret_key(), client_id, overlap=dt.timedelta(hours=hours)
            )
    except registry.RegistryError as exc:
        fail(f"{exc.field}: {exc.rule}")
    _print_credentials(created, json_output)


@keys_app.command("rotate")
def keys_rotate(
    now: Annotated[
        bool,
        typer.Option(
            "--now", help="Sign with the new key at once instead of after the pre-publication delay"
        ),
    ] = False,
) -> None:
    """Make a new signing key; it is published first and signs after the delay."""
    settings = load_settings()
    delay = 0 if now else settings.signing_key_prepublish_seconds
    activates_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
    with open_database(settings).write() as conn:
        kid = signing.create_key(conn, settings.resolved_secret_key(), activates_at=activates_at)
        audit.append(
            conn,
            actor="cli",
            action="signing_key.created",
            subject=f"key:{kid}",
            details={"activates_at": activates_at.isoformat()},
        )
    console.print(f"key {kid} published; signs from {activates_at.isoformat()}")


@audit_app.command("verify")
def audit_verify(json_output: JsonOption = False) -> None:
    """Check the audit log's hash chain; exit 1 when it is broken."""
    settings = load_settings()
    with open_database(settings).read() as conn:
        report = audit.verify(conn)
    if json_output:
        print_json(
            {
                "ok": report.ok,
                "events": report.events,
                "first_broken_id": report.first_broken_id,
                "reason": report.reason,
            }
        )
    elif report.ok:
        console.print(f"audit chain intact: {report.events} events")
    else:
        errors.print(
            f"[bold red]audit chain broken[/] at event {report.first_broken_id}: {report.reason}"
        )
    if not report.ok:
        raise typer.Exit(1)


@app.command("config")
def show_config(json_output: JsonOption = False) -> None:
    """Show the effective configuration, secrets masked."""
    shown = load_settings().masked()
    if json_output:
        print_json(shown)
        return
    table = Table("setting", "value")
    for key, value in shown.items():
        table.add_row(key, str(value))
    console.print(table)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes")] = 1,
) -> None:
    """Serve the hub over HTTP."""
    import uvicorn

    from consenthub.observability import configure_logging

    os.environ.setdefault("CONSENTHUB_BASE_URL", f"http://{host}:{port}")
    settings = load_settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        "consenthub.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
        server_header=False,
    )


@app.command("worker")
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Run the due work and deliver what is due, then exit")
    ] = False,
) -> None:
    """Deliver webhooks, send mail and run the due work until stopped (SIGTERM or Ctrl-C)."""
    from consenthub.observability import configure_logging
    from consenthub.services import build_services
    from consenthub.worker import Worker

    settings = load_settings()
    configure_logging(settings.log_level)
    hub = build_services(settings, open_database(settings))

    async def run() -> None:
        runner = Worker(hub)
        try:
            if once:
                await runner.run_once()
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            await runner.run_forever(stop)
        finally:
            await runner.close()

    asyncio.run(run())


@app.command("demo")
def demo(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    login_port: Annotated[int, typer.Option(help="Port of the local login provider")] = 9400,
    example_port: Annotated[int, typer.Option(help="Port of the example third party")] = 8001,
    smtp_port: Annotated[int, typer.Option(help="Port of the local SMTP sink")] = 8025,
) -> None:
    """Migrate, load demo data, start a local login provider, the example third party and
    an SMTP sink that keeps the mail the hub sends, and serve."""
    from consenthub.demo import (
        DEMO_PERSONS,
        load_demo,
        start_example_app,
        start_login_provider,
        start_mail_sink,
    )

    # The demo persons carry synthetic (Tenor) identity numbers.
    os.environ.setdefault("CONSENTHUB_ALLOW_SYNTHETIC_IDS", "true")
    os.environ.setdefault("CONSENTHUB_BASE_URL", f"http://{host}:{port}")
    # One process for the newcomer: webhooks and due work run inside the server, and
    # may call the example app and other local receivers.
    os.environ.setdefault("CONSENTHUB_WORKER_IN_SERVER", "true")
    os.environ.setdefault("CONSENTHUB_WEBHOOK_ALLOW_PRIVATE", "true")
    own_provider = "CONSENTHUB_OIDC_ISSUER" not in os.environ
    if own_provider:
        os.environ["CONSENTHUB_OIDC_ISSUER"] = f"http://127.0.0.1:{login_port}"
        # The local provider accepts any client; it only needs a secret to be sent.
        os.environ["CONSENTHUB_OIDC_CLIENT_SECRET"] = "demo-client-secret"  # noqa: S105
    # Mail goes to the demo's own sink unless an SMTP server is configured.
    own_mail_sink = not {"CONSENTHUB_SMTP_HOST", "CONSENTHUB_SMTP_PORT"} & os.environ.keys()
    if own_mail_sink:
        os.environ["CONSENTHUB_SMTP_HOST"] = "127.0.0.1"
        os.environ["CONSENTHUB_SMTP_PORT"] = str(smtp_port)
    settings = load_settings()
    sink = None
    if own_mail_sink:
        try:
            sink = start_mail_sink(smtp_port, settings.mail_sink_dir)
        except OSError as exc:
            fail(f"the mail sink cannot listen on 127.0.0.1:{smtp_port} ({exc}); try --smtp-port")
    database = open_database(settings)
    migrate(settings, database)
    credentials = load_demo(settings, database, example_port)
    # Both children die with this process (PR_SET_PDEATHSIG), however it ends.
    if own_provider:
        start_login_provider(login_port)
    example = start_example_app(example_port, settings, credentials)
    _print_demo(
        settings,
        credentials,
        DEMO_PERSONS,
        f"http://127.0.0.1:{example_port}" if example else None,
        f"127.0.0.1:{smtp_port}" if sink else None,
    )
    try:
        serve(host=host, port=port, workers=1)
    finally:
        if sink is not None:
            sink.stop()


def _print_demo(
    settings: Settings,
    credentials: registry.NewCredentials,
    persons: dict[str, str],
    example_url: str | None,
    mail_sink: str | None,
) -> None:
    base = settings.base_url
    party = credentials.party

    def say(text: str) -> None:
        # One line per URL, never wrapped, so it can be copied or clicked.
        console.print(text, highlight=False, soft_wrap=True)

    say(f"\n[bold]consenthub demo[/] on {base}  (API docs: {base}/docs)\n")
    if example_url:
        say(
            f"Try the whole journey as an end user: {example_url}  → Connect your meter data",
        )
    say(f"Min side (end-user portal): {base}/minside")
    say(f"  log in at the local provider {settings.oidc_issuer} as one of:")
    for name in persons:
        say(f"    {name}")
    if mail_sink:
        say(
            f"Mail the hub sends is caught by the local SMTP sink on {mail_sink} and kept in "
            f"{settings.mail_sink_dir.resolve()}/ (one .eml file each);"
        )
        say("  list it, with the link to follow, with: consenthub mail list")
    say(f"\ndemo third party  {party.name}  GLN {party.gln}")
    say(f"client_id         {party.client_id}")
    say(f"client_secret     {credentials.client_secret}\n")
    say("get a token:")
    say(
        f"  curl -s -X POST {base}/sts/Token "
        "-H 'Content-Type: application/x-www-form-urlencoded' "
        f"-d 'grant_type=client_credentials&client_id={party.client_id}"
        f"&client_secret={credentials.client_secret}'\n",
    )
    say("then read data:")
    say(
        f"  curl -s {base}/api/v1/metering-points -H 'Authorization: Bearer <token>'\n",
    )


if __name__ == "__main__":
    app()
