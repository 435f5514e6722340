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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from consenthub import outbox, registry, signing
from consenthub.cli import delivery_log
from consenthub.cli.imports import import_app
from consenthub.cli.mail import mail_app
from consenthub.cli.operator import end_user_app, grants_app, requests_app
from consenthub.cli.personal_data import audit_export, reencrypt_ids
from consenthub.cli.plain_help import JSON_OUTPUT, CommandGroup
from consenthub.config import Settings
from consenthub.domain.consent import ConsentResource
from consenthub.store import audit
from consenthub.store.database import Database
from consenthub.store.migrate import upgrade

if TYPE_CHECKING:
    from consenthub.services import Services

app = CommandGroup(
    no_args_is_help=True,
    add_completion=False,
    help="consenthub: consent and third-party access service for data hubs.",
)
db_app = CommandGroup(no_args_is_help=True, help="Database schema.")
party_app = CommandGroup(no_args_is_help=True, help="Registered third parties.")
webhooks_app = CommandGroup(
    no_args_is_help=True, help="Webhook deliveries: the log of what was sent, and retries."
)
resource_app = CommandGroup(
    no_args_is_help=True, help="Consent resources registered by data sources (Altinn consent)."
)
keys_app = CommandGroup(no_args_is_help=True, help="Token signing keys.")
audit_app = CommandGroup(no_args_is_help=True, help="The hash-chained audit log.")
app.add_typer(db_app, name="db")
app.add_typer(party_app, name="party")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(resource_app, name="resource")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(import_app, name="import")
app.add_typer(mail_app, name="mail")
app.add_typer(grants_app, name="grants")
app.add_typer(requests_app, name="requests")
app.add_typer(end_user_app, name="end-user")
audit_app.command("export")(audit_export)
db_app.command("reencrypt-ids")(reencrypt_ids)

console = Console()
errors = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
ClientIdArgument = Annotated[
    str, typer.Argument(metavar="CLIENT_ID", help="The party's client_id.", show_default=False)
]
# Where a receiver learns to check a delivery with its webhook secret.
VERIFY_HINT = (
    "Receivers verify each delivery's webhook-signature with it (Standard Webhooks); "
    'see README.md, "Webhooks".'
)


def fail(message: str, code: int = 2, *, problems: Sequence[tuple[str, str]] = ()) -> NoReturn:
    """Exit with ``code``: the message (or each ``(field, rule)`` problem, one line each)
    on stderr, not wrapped, markup in it shown as is; with ``--json`` as
    ``{"errors": [{"field", "message"}]}`` on stdout instead."""
    if JSON_OUTPUT.get():
        shown: list[dict[str, str | None]] = [
            {"field": field, "message": rule} for field, rule in problems
        ] or [{"field": None, "message": message}]
        print_json({"errors": shown})
        raise typer.Exit(code)
    for line in [f"{field}: {rule}" for field, rule in problems] or [message]:
        errors.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    errors.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def option_name(field: str) -> str:
    return f"--{field.replace('_', '-')}"


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


def build_hub() -> Services:
    """The shared services for a command, as a server or the worker builds them."""
    from consenthub.services import build_services

    settings = load_settings()
    return build_services(settings, open_database(settings))


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def migrate(settings: Settings, database: Database) -> None:
    upgrade(
        database,
        secret_key=settings.resolved_secret_key(),
        national_id_key_id=settings.national_id_key_id,
    )
    with database.write() as conn:
        kid = signing.ensure_key(conn, settings.resolved_secret_key())
        if kid is not None:
            # The first key is audited like every later one (`keys rotate`).
            audit.append(
                conn,
                actor="cli",
                action="signing_key.created",
                subject=f"key:{kid}",
                details={"first": True},
            )


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
        list[str],
        typer.Option(metavar="ROLE", help="third_party, seller, consent_consumer, data_source"),
    ],
    gln: Annotated[str | None, typer.Option(help="GLN, 13 digits")] = None,
    orgnr: Annotated[str | None, typer.Option(help="Norwegian organisation number")] = None,
    return_url: Annotated[
        list[str] | None, typer.Option(metavar="URL", help="Whitelisted return address")
    ] = None,
    return_domain: Annotated[
        list[str] | None, typer.Option(metavar="DOMAIN", help="Whitelisted return domain")
    ] = None,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL", help="Webhook for the party's events (https; http for localhost)"
        ),
    ] = None,
    privacy_url: Annotated[
        str | None,
        typer.Option(metavar="URL", help="The party's privacy policy (https), linked in Min side"),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Register a party; prints its credentials, shown this once.

    The client_id and client_secret, and with --webhook-url the webhook secret.
    """
    options: dict[str, Any] = {
        "name": name,
        "roles": role,
        "gln": gln,
        "orgnr": orgnr,
        "return_urls": return_url or [],
        "return_domains": return_domain or [],
        "webhook_url": webhook_url,
        "privacy_url": privacy_url,
    }
    problems = registry.party_problems(**options)
    if problems:
        fail(
            "invalid options",
            problems=[(option_name(problem.field), problem.rule) for problem in problems],
        )
    settings = load_settings()
    database = open_database(settings)
    try:
        with database.write() as conn:
            created = registry.add_party(conn, settings.resolved_secret_key(), **options)
    except registry.RegistryError as exc:
        fail(f"{option_name(exc.field)}: {exc.rule}")
    # A third party with no return address can use the message-initiated processes, but
    # every BRS-NO-624 link of its is refused (docs/decisions.md, "The operator's CLI").
    unreachable = "third_party" in role and not (return_url or return_domain)
    if unreachable:
        warn(
            "a third party with no --return-url or --return-domain: its authorize links "
            "(BRS-NO-624) are refused until one is registered"
        )
    _print_credentials(created, json_output)


@party_app.command("update")
def party_update(
    client_id: ClientIdArgument,
    name: Annotated[str | None, typer.Option(help="The party's registered name.")] = None,
    privacy_url: Annotated[
        str | None,
        typer.Option(metavar="URL", help="The party's privacy policy (https); '' removes the link"),
    ] = None,
    add_return_url: Annotated[
        list[str] | None, typer.Option(metavar="URL", help="Whitelist one more return address")
    ] = None,
    remove_return_url: Annotated[
        list[str] | None, typer.Option(metavar="URL", help="Remove a whitelisted return address")
    ] = None,
    add_return_domain: Annotated[
        list[str] | None, typer.Option(metavar="DOMAIN", help="Whitelist one more return domain")
    ] = None,
    remove_return_domain: Annotated[
        list[str] | None,
        typer.Option(metavar="DOMAIN", help="Remove a whitelisted return domain"),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Change what is registered of a party: only the options given; audited.

    Not its GLN, organisation number or roles (they identify it); its webhook: set-webhook.
    """
    changes = registry.PartyChanges(
        name=name,
        privacy_url=privacy_url,
        add_return_urls=add_return_url or (),
        remove_return_urls=remove_return_url or (),
        add_return_domains=add_return_domain or (),
        remove_return_domains=remove_return_domain or (),
    )
    if not changes:
        fail(
            "nothing to update: give --name, --privacy-url, --add-return-url, "
            "--remove-return-url, --add-return-domain or --remove-return-domain"
        )
    problems = registry.update_problems(changes)
    if problems:
        fail(
            "invalid options",
            problems=[(option_name(problem.field), problem.rule) for problem in problems],
        )
    settings = load_settings()
    try:
        with open_database(settings).write() as conn:
            party = registry.update_party(conn, client_id, changes)
            urls = registry.return_urls(conn, party.id)
            domains = registry.return_domains(conn, party.id)
    except registry.RegistryError as exc:
        name_of = "CLIENT_ID" if exc.field == "client_id" else option_name(exc.field)
        fail(f"{name_of}: {exc.rule}", problems=[(name_of, exc.rule)])
    if "third_party" in party.roles and not (urls or domains):
        warn(
            "the third party has no return address left: its authorize links "
            "(BRS-NO-624) are refused until one is registered"
        )
    shown = {
        "client_id": party.client_id,
        "name": party.name,
        "gln": party.gln,
        "orgnr": party.orgnr,
        "roles": list(party.roles),
        "return_urls": urls,
        "return_domains": domains,
        "privacy_url": party.privacy_url,
    }
    if json_output:
        print_json(shown)
        return
    console.print(f"party        {party.name}  ({party.client_id})", highlight=False)
    console.print(f"privacy_url  {party.privacy_url or '(none)'}", highlight=False, soft_wrap=True)
    for url in urls + domains:
        console.print(f"return       {url}", highlight=False, soft_wrap=True)


def _print_credentials(
    created: registry.NewCredentials,
    json_output: bool,
    *,
    previous_valid_until: dt.datetime | None = None,
) -> None:
    party = created.party
    if json_output:
        shown: dict[str, Any] = {
            "client_id": party.client_id,
            "client_secret": created.client_secret,
            "name": party.name,
            "gln": party.gln,
            "orgnr": party.orgnr,
            "roles": list(party.roles),
        }
        if created.webhook_secret is not None:
            shown |= {"webhook_url": party.webhook_url, "webhook_secret": created.webhook_secret}
        if previous_valid_until is not None:
            shown["previous_valid_until"] = previous_valid_until.isoformat(timespec="seconds")
        print_json(shown)
        return
    console.print(f"party      {party.name}")
    console.print(f"client_id  {party.client_id}")
    console.print(f"client_secret  {created.client_secret}", highlight=False)
    console.print("[yellow]The secret is shown only now; it is stored as a hash.[/]")
    if created.webhook_secret is not None:
        console.print(f"webhook_url     {party.webhook_url}", highlight=False, soft_wrap=True)
        _print_new_webhook_secret(created.webhook_secret)


def _print_new_webhook_secret(secret: str) -> None:
    console.print(f"webhook_secret  {secret}", highlight=False, soft_wrap=True)
    console.print(
        "[yellow]The webhook secret is shown once; store it now.[/] "
        "It is stored encrypted and cannot be shown again.",
        highlight=False,
        soft_wrap=True,
    )
    console.print(VERIFY_HINT, highlight=False, soft_wrap=True)


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
            "privacy_url": p.privacy_url,
            "active": p.active,
        }
        for p in parties
    ]
    if json_output:
        print_json(rows)
        return
    table = Table()
    # Identifiers are copied whole from here: never wrapped, never cut short; the
    # narrower columns give way instead.
    for header in ("client_id", "GLN", "org no."):
        table.add_column(header, no_wrap=True, min_width=36 if header == "client_id" else 13)
    for header in ("name", "roles", "return addresses"):
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(
            row["client_id"],
            row["gln"] or "",
            row["orgnr"] or "",
            escape(row["name"]),
            ", ".join(row["roles"]),
            "\n".join(row["return_urls"] + row["return_domains"]),
        )
    console.print(table)


@party_app.command("rotate-secret")
def party_rotate_secret(
    client_id: ClientIdArgument,
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
    # Taken just before the rotation stamps it: the old secret works a moment longer.
    old_works_until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)).astimezone(
        settings.zone
    )
    try:
        with open_database(settings).write() as conn:
            created = registry.rotate_secret(
                conn, settings.resolved_secret_key(), client_id, overlap=dt.timedelta(hours=hours)
            )
    except registry.RegistryError as exc:
        fail(f"{exc.field}: {exc.rule}")
    _print_credentials(created, json_output, previous_valid_until=old_works_until)
    if json_output:
        return
    if hours == 0:
        console.print("The previous secret no longer works.")
        return
    console.print(
        f"The previous secret works until {old_works_until.isoformat(timespec='seconds')} "
        f"({settings.hub_timezone}); switch the client to the new one before then.",
        highlight=False,
        soft_wrap=True,
    )


@party_app.command("set-webhook")
def party_set_webhook(
    client_id: ClientIdArgument,
    url: Annotated[
        str,
        typer.Argument(
            metavar="URL", help="https; http only for localhost (development)", show_default=False
        ),
    ],
    json_output: JsonOption = False,
) -> None:
    """Send the party's events to URL; a first webhook secret is shown this once.

    Setting it again also re-enables an endpoint disabled after it answered 410 Gone.
    """
    settings = load_settings()
    try:
        with open_database(settings).write() as conn:
            endpoint = registry.set_webhook(
                conn, settings.resolved_secret_key(), client_id, url, now=dt.datetime.now(dt.UTC)
            )
    except registry.RegistryError as exc:
        fail(f"{exc.field}: {exc.rule}")
    if json_output:
        print_json(
            {
                "client_id": endpoint.party.client_id,
                "name": endpoint.party.name,
                "webhook_url": endpoint.url,
                # null: the party keeps the secret it has.
                "webhook_secret": endpoint.new_secret,
            }
        )
        return
    console.print(f"party        {endpoint.party.name}  ({endpoint.party.client_id})")
    console.print(f"webhook_url  {endpoint.url}", highlight=False, soft_wrap=True)
    console.print("Events go to this URL from now on.")
    if endpoint.new_secret is None:
        console.print(
            "The webhook secret is unchanged; "
            "make a new one with `consenthub party rotate-webhook-secret`.",
            highlight=False,
        )
    else:
        _print_new_webhook_secret(endpoint.new_secret)


@party_app.command("rotate-webhook-secret")
def party_rotate_webhook_secret(
    client_id: ClientIdArgument,
    overlap_hours: Annotated[
        float | None,
        typer.Option(
            help="How long the old secret keeps signing beside the new one "
            "(default: CONSENTHUB_WEBHOOK_SECRET_OVERLAP_HOURS)"
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Make a new webhook secret; the old one also signs for the overlap period.

    Every delivery carries both signatures until then, so the receiver can switch
    without missing one.
    """
    settings = load_settings()
    hours = settings.webhook_secret_overlap_hours if overlap_hours is None else overlap_hours
    if hours < 0:
        fail("--overlap-hours: must not be negative")
    try:
        with open_database(settings).write() as conn:
            endpoint = registry.rotate_webhook_secret(
                conn,
                settings.resolved_secret_key(),
                client_id,
                overlap=dt.timedelta(hours=hours),
                now=dt.datetime.now(dt.UTC),
            )
    except registry.RegistryError as exc:
        fail(f"{exc.field}: {exc.rule}")
    # A rotation always makes a secret and ends the previous ones.
    assert endpoint.new_secret is not None
    assert endpoint.previous_valid_until is not None
    old_signs_until = endpoint.previous_valid_until.isoformat(timespec="seconds")
    if json_output:
        print_json(
            {
                "client_id": endpoint.party.client_id,
                "name": endpoint.party.name,
                "webhook_url": endpoint.url,
                "webhook_secret": endpoint.new_secret,
                "previous_valid_until": old_signs_until,
            }
        )
        return
    console.print(f"party        {endpoint.party.name}  ({endpoint.party.client_id})")
    _print_new_webhook_secret(endpoint.new_secret)
    if hours == 0:
        console.print("The previous secret no longer signs.")
        return
    console.print(
        f"The previous secret also signs every delivery until {old_signs_until}; "
        "switch the receiver to the new one before then.",
        highlight=False,
        soft_wrap=True,
    )


def _resource_json(resource: ConsentResource) -> dict[str, Any]:
    return {
        "code": resource.code,
        "data_source": resource.data_source_name,
        "titles": resource.titles,
        "context_template": resource.context_template,
        "parameters": [
            {"name": item.name, "format": item.format.value, "required": item.required}
            for item in resource.parameters
        ],
        "max_duration_days": resource.max_duration_days,
        "one_time": resource.one_time,
    }


@resource_app.command("add")
def resource_add(
    code: Annotated[str, typer.Option(help="<serviceCode>_<edition>, e.g. 5252_1")],
    data_source: Annotated[
        str, typer.Option(metavar="CLIENT_ID", help="The data source party's client_id")
    ],
    title_nb: Annotated[str, typer.Option(help="Title in Norwegian bokmål")],
    title_nn: Annotated[str, typer.Option(help="Title in Norwegian nynorsk")],
    title_en: Annotated[str, typer.Option(help="Title in English")],
    context: Annotated[
        str,
        typer.Option(
            metavar="TEXT_OR_@FILE",
            help="Delegation-context template with NAVN_SELSKAP; @path reads a file",
        ),
    ],
    parameter: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME:FORMAT[:required|optional]",
            help="Metadata parameter, e.g. fraOgMed:dd.mm.yyyy:required",
        ),
    ] = None,
    max_duration_days: Annotated[
        int, typer.Option(help="Longest validity of a consent to this resource")
    ] = 365,
    one_time: Annotated[
        bool, typer.Option("--one-time", help="The consent is spent by its first token")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Register a consent resource of a data source."""
    settings = load_settings()
    database = open_database(settings)
    if context.startswith("@"):
        try:
            with open(context[1:], encoding="utf-8") as handle:
                context = handle.read().strip()
        except OSError as exc:
            fail(f"--context: cannot read {context[1:]}: {exc.strerror}")
    try:
        parameters = [registry.parse_parameter(text) for text in parameter or []]
        with database.write() as conn:
            party = registry.find_by_client_id(conn, data_source)
            if party is None:
                fail("--data-source: no party with this client_id")
            added = registry.add_consent_resource(
                conn,
                code=code,
                data_source=party,
                titles={"nb": title_nb, "nn": title_nn, "en": title_en},
                context_template=context,
                parameters=parameters,
                max_duration_days=max_duration_days,
                one_time=one_time,
            )
    except registry.RegistryError as exc:
        fail(f"--{exc.field.replace('_', '-')}: {exc.rule}")
    if json_output:
        print_json(_resource_json(added))
        return
    console.print(f"consent resource {added.code} registered for {added.data_source_name}")


@resource_app.command("list")
def resource_list(json_output: JsonOption = False) -> None:
    """List consent resources."""
    settings = load_settings()
    with open_database(settings).read() as conn:
        resources = registry.consent_resources(conn)
    if json_output:
        print_json([_resource_json(resource) for resource in resources])
        return
    table = Table("code", "data source", "title", "parameters", "max days", "one-time")
    for resource in resources:
        table.add_row(
            resource.code,
            resource.data_source_name,
            resource.title("nb"),
            ", ".join(
                f"{item.name} ({item.format.value}{', required' if item.required else ''})"
                for item in resource.parameters
            ),
            str(resource.max_duration_days),
            "yes" if resource.one_time else "no",
        )
    console.print(table)


@webhooks_app.command("list")
def webhooks_list(
    failed: Annotated[bool, typer.Option("--failed", help="Only messages given up on.")] = False,
    limit: Annotated[
        int, typer.Option(metavar="N", min=1, max=10_000, help="At most this many.")
    ] = 50,
    json_output: JsonOption = False,
) -> None:
    """The webhook delivery log, newest first: to whom, what, and how it went."""
    settings = load_settings()
    with open_database(settings).read() as conn:
        log = outbox.entries(conn, failed_only=failed, limit=limit)
    if json_output:
        print_json(
            [
                delivery_log.as_json(entry)
                | {
                    "client_id": entry.party_client_id,
                    "party_name": entry.party_name,
                    "batch_events": entry.batch_events,
                    "webhook_id": entry.message_id,
                    "last_status": entry.last_status,
                    "endpoint_disabled_at": delivery_log.timestamp(entry.endpoint_disabled_at),
                }
                for entry in log
            ]
        )
        return
    if not log:
        console.print("no failed webhook messages" if failed else "no webhook messages")
        return
    leading: list[delivery_log.Column] = [
        ("id", lambda entry: str(entry.id)),
        ("party", lambda entry: escape(entry.party_name or "")),
        ("event", _event_cell),
        ("webhook-id", lambda entry: entry.message_id),
    ]
    console.print(delivery_log.as_table(log, leading, "HTTP"))


def _event_cell(entry: outbox.DeliveryLogEntry) -> str:
    """The event, or for a batch not yet fanned out its events' types and number (each
    gets its own entry once the worker claims the batch)."""
    if entry.batch_events is None:
        return entry.event_type
    return f"{entry.event_type}\n(batch of {entry.batch_events} events)"


@webhooks_app.command("retry")
def webhooks_retry(
    message_id: Annotated[
        int,
        typer.Argument(
            metavar="ID", help="The message's id in `webhooks list`.", show_default=False
        ),
    ],
    json_output: JsonOption = False,
) -> None:
    """Send a failed webhook message again at the worker's next run."""
    settings = load_settings()
    now = dt.datetime.now(dt.UTC)
    with open_database(settings).write() as conn:
        entry = outbox.find_entry(conn, message_id)
        if entry is None:
            fail("id: no webhook message has this id")
        if entry.failed_at is None:
            fail(f"id: message {message_id} is {entry.status}; only a failed one is retried")
        if entry.endpoint_disabled_at is not None:
            fail(
                "id: the party's endpoint is disabled since it answered 410 Gone; "
                "set it again with `consenthub party set-webhook` first"
            )
        if not outbox.retry(conn, message_id, now=now):
            fail(f"id: message {message_id} is no longer failed")
        # The operator's decision is recorded with its effect, in the same transaction.
        audit.append(
            conn,
            actor="cli",
            action="webhook.retry",
            subject=f"webhook:{entry.message_id}",
            details={
                "id": message_id,
                "party": entry.party_client_id,
                "event_type": entry.event_type,
            },
            at=now,
        )
    if json_output:
        print_json({"id": message_id, "webhook_id": entry.message_id, "status": "pending"})
        return
    console.print(
        f"message {message_id} ({entry.message_id}) is due again; "
        "the worker sends it at its next run",
        soft_wrap=True,
    )


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
    """Show the effective configuration, secrets masked, and where each value came from:
    default, file (CONSENTHUB_CONFIG_FILE) or environment."""
    settings = load_settings()
    shown = settings.masked()
    origins = settings.origins()
    if json_output:
        print_json(
            {
                key: {"value": value, "source": origins.get(key, "derived")}
                for key, value in shown.items()
            }
        )
        return
    table = Table("setting", "value", "from")
    table.columns[1].overflow = "fold"
    for key, value in shown.items():
        table.add_row(key, escape(_shown_value(value)), origins.get(key, "derived"))
    console.print(table)


def _shown_value(value: Any) -> str:
    """A setting as an operator writes it: ``(not set)`` rather than Python's None."""
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes")] = 1,
) -> None:
    """Serve the hub over HTTP."""
    import uvicorn

    from consenthub.app import HTTP_PROTOCOL
    from consenthub.observability import configure_logging

    os.environ.setdefault("CONSENTHUB_BASE_URL", f"http://{host}:{port}")
    settings = load_settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        "consenthub.app:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
        server_header=False,
        # uvicorn's httptools protocol with header, body and time limits.
        http=HTTP_PROTOCOL,
    )


@app.command("worker")
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Run the due work and deliver what is due, then exit")
    ] = False,
) -> None:
    """Deliver webhooks, send mail and run the due work until stopped (SIGTERM or Ctrl-C)."""
    from consenthub.app import DUE_WORK
    from consenthub.observability import configure_logging
    from consenthub.services import build_services
    from consenthub.worker import Worker

    settings = load_settings()
    configure_logging(settings.log_level)
    hub = build_services(settings, open_database(settings))

    async def run() -> None:
        runner = Worker(hub, due_jobs=DUE_WORK)
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
    data_source_port: Annotated[int, typer.Option(help="Port of the example data source")] = 8002,
    consumer_port: Annotated[int, typer.Option(help="Port of the example consumer")] = 8003,
    reset: Annotated[
        bool,
        typer.Option("--reset", help="Start from the initial demo data (the demo's data only)"),
    ] = False,
) -> None:
    """Migrate, load demo data, start a local login provider, the example third party, the
    example consent consumer and data source, and an SMTP sink that keeps the mail the hub
    sends, and serve.

    Nothing is touched while a port it needs is taken (exit 2). A second start reuses the
    data and the demo party's secret; --reset starts from the initial data."""
    from consenthub.demo import (
        CONSENT_EXAMPLES_PRESENT,
        DEMO_PERSONS,
        EXAMPLE_APP,
        DemoError,
        load_demo,
        reset_demo,
        start_consent_apps,
        start_example_app,
        start_login_provider,
        start_mail_sink,
        taken_port,
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
    # Every port is checked before any data is touched: a second demo started beside a
    # running one must leave it (and the secret it printed) as it is.
    needed = [(port, host, "the hub, --port")]
    if own_provider:
        needed.append((login_port, "127.0.0.1", "the login provider, --login-port"))
    if own_mail_sink:
        needed.append((smtp_port, "127.0.0.1", "the SMTP sink, --smtp-port"))
    if EXAMPLE_APP.exists():
        needed.append((example_port, "127.0.0.1", "the example third party, --example-port"))
    if CONSENT_EXAMPLES_PRESENT:
        needed.append(
            (data_source_port, "127.0.0.1", "the example data source, --data-source-port")
        )
        needed.append((consumer_port, "127.0.0.1", "the example consumer, --consumer-port"))
    ports = {number: (address, what) for number, address, what in needed}
    if len(ports) < len(needed):
        fail(
            "the demo's ports (--port, --login-port, --smtp-port, --example-port, "
            "--data-source-port, --consumer-port) must all differ"
        )
    taken = taken_port(ports)
    if taken is not None:
        fail(f"{taken}: is a demo already running? Stop it, or choose another port")
    database = open_database(settings)
    migrate(settings, database)
    if reset:
        try:
            reset_demo(settings, database)
        except DemoError as exc:
            fail(str(exc))
        migrate(settings, database)
    sink = None
    if own_mail_sink:
        try:
            sink = start_mail_sink(smtp_port, settings.mail_sink_dir)
        except OSError as exc:
            fail(f"the mail sink cannot listen on 127.0.0.1:{smtp_port} ({exc}); try --smtp-port")
    credentials = load_demo(settings, database, example_port)
    # Both children die with this process (PR_SET_PDEATHSIG), however it ends.
    if own_provider:
        start_login_provider(login_port)
    example = start_example_app(example_port, settings, credentials)
    # The consent apps die with this process too.
    consent_apps = start_consent_apps(settings, database, data_source_port, consumer_port)
    _print_demo(
        settings,
        credentials,
        DEMO_PERSONS,
        f"http://127.0.0.1:{example_port}" if example else None,
        f"127.0.0.1:{smtp_port}" if sink else None,
        consent_apps[0] if consent_apps else None,
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
    consumer_url: str | None = None,
) -> None:
    from consenthub.demo import consent_demo_link

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
    if consumer_url:
        link = consent_demo_link(settings, consumer_url, dt.datetime.now(dt.UTC))
        say(
            f"Altinn consent, NAV as data source: {consumer_url}  → Give consent at the hub, "
            "or the consumer's link itself:"
        )
        say(f"  {link}")
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
