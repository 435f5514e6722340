"""Demo data: a third party, three synthetic persons, their metering points and values;
and the demo's local servers (login provider, example third party, SMTP sink); and for
Altinn consent (seed 002) NAV as data source of resource 5252_1 with the seed's
delegation-context template, and an insurer as consent consumer.

The persons' fødselsnummer are synthetic (Skatteetaten Tenor: month + 80), so
the demo runs with ``allow_synthetic_ids``. Loading is idempotent: a second
start reuses the data and the demo party's secret, which the registry keeps only
as a hash, so the demo keeps it in a file of its own beside the database
(``demo_secret_file``, mode 0600); only when that file is gone or its secret no
longer works is a new secret made. ``reset_demo`` empties a demo database so that
the next start loads the initial data again.
"""

from __future__ import annotations

import csv
import ctypes
import datetime as dt
import io
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx
from sqlalchemy import Connection, select
from sqlalchemy.engine import make_url

from consenthub import registry
from consenthub.config import Settings
from consenthub.domain.clock import system_clock
from consenthub.domain.errors import DomainError
from consenthub.grants import create_grant
from consenthub.imports.meter_values import import_meter_values
from consenthub.imports.metering_points import import_metering_points
from consenthub.mail import MailFolder
from consenthub.store import end_users
from consenthub.store.database import Database
from consenthub.store.id_cipher import NationalIdCipher
from consenthub.store.tables import Base, Grant, MeteringPoint

if TYPE_CHECKING:
    # Only the demo needs aiosmtpd (the demo and dev extras).
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session

DEMO_PARTY_NAME = "Demo Strøm AS"
DEMO_PARTY_GLN = "7080000000425"

DEMO_PERSONS = {
    "Kari Nordmann": "15838512329",
    "Ola Nordmann": "02917823432",
    "Nora Uten Målepunkt": "24869234504",
}
# metering point, person, move-in, move-out, address, grant scope for the demo party
DEMO_METERING_POINTS = (
    ("707057123456780015", "Kari Nordmann", "2022-08-01", "", "Storgata 1", "Full"),
    ("707057123456780022", "Kari Nordmann", "2023-05-01", "", "Fjellveien 12", "Limited"),
    ("707057123456780039", "Kari Nordmann", "2024-01-01", "", "Sjøgata 3", None),
    ("707057123456780046", "Kari Nordmann", "2015-03-01", "2020-12-31", "Elvebakken 7", None),
    ("707057123456780046", "Ola Nordmann", "2021-01-01", "", "Elvebakken 7", None),
)
VALUE_DAYS = 60
# Altinn consent (seed 002): NAV (its real org no.) and a demo insurer (synthetic).
DEMO_DATA_SOURCE = ("NAV", "889640782")
DEMO_CONSUMER = ("Demo Forsikring AS", "910000004")
DEMO_CONSENT_RESOURCE = "5252_1"
# Seed 002, "Tekst templat for DelegationContext til konsumentene".
NAV_DELEGATION_CONTEXT = (
    "For å behandle søknaden din, starte og stoppe utbetaling av uføreytelser, beregne riktig "
    "utbetalingsgrad og utbetale uføreytelser for riktig tidsperiode trenger NAVN_SELSKAP visse "
    "personopplysninger om deg fra NAV. Ved å samtykke, gir du NAV rett til å utlevere disse "
    "personopplysningene direkte og elektronisk til NAVN_SELSKAP. Dersom du ikke ønsker å "
    "samtykke til dette, kan du selv eller forsikringsselskapet hente inn opplysningene manuelt "
    "fra NAV. Du må da selv ta kontakt med forsikringsselskapet for videre saksgang. Merk at "
    "manuell innhenting av opplysninger ofte vil føre til noe lenger saksbehandlingstid. "
    "Personopplysningene som innhentes vil ikke bli brukt til andre formål enn det som er "
    "oppgitt her. Personopplysningene vil heller ikke bli utlevert til tredjemann. Du kan når "
    "som helst trekke samtykket tilbake. Dette kan du gjøre via Altinns samtykkeløsning "
    "www.altinn.no. Forsikringsselskapet vil da ikke lenger innhente personopplysninger om deg "
    "direkte og elektronisk fra NAV."
)
PR_SET_PDEATHSIG = 1
# Who the demo's data may name: ``reset_demo`` empties only a database of these parties.
DEMO_PARTY_IDENTIFIERS = frozenset({DEMO_PARTY_GLN, DEMO_DATA_SOURCE[1], DEMO_CONSUMER[1]})


class DemoError(Exception):
    """Why the demo cannot start (or reset): one line for the operator."""


def taken_port(ports: dict[int, tuple[str, str]]) -> str | None:
    """The first of ``ports`` (port → (host, what listens there, as the option naming it))
    that something already listens on, as a sentence; None when all are free.

    Bound with ``SO_REUSEADDR``, as uvicorn and the others bind, so that a port a stopped
    demo left in TIME_WAIT counts as free and only a listening socket as taken."""
    for port, (host, what) in ports.items():
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                return f"port {port} on {host} ({what}) is already in use"
    return None


def login_provider_users() -> list[str]:
    """The demo persons as oidc-provider-mock users: ``sub`` is the name shown on its
    login page, ``pid`` the national identity number (as ID-porten sends it)."""
    return [
        json.dumps({"sub": name, "pid": pid, "name": name}) for name, pid in DEMO_PERSONS.items()
    ]


def _die_with_parent() -> None:
    """In the child: Linux sends it SIGTERM when the demo dies, however the demo dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn_and_wait(
    command: list[str], ready_url: str, what: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    # Our own interpreter running fixed code; arguments are ours.
    process = subprocess.Popen(  # noqa: S603
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(ready_url, timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the {what} did not start")
        time.sleep(0.1)


def start_login_provider(port: int, users: list[str] | None = None) -> subprocess.Popen[bytes]:
    """Start a real local OpenID Connect provider process and wait until it answers:
    oidc-provider-mock with its pages styled from the machine (``consenthub.demo_provider``).

    ``users`` are JSON objects with ``sub`` and claims; default: the demo persons.
    """
    command = [
        sys.executable,
        "-m",
        "consenthub.demo_provider",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
    ]
    for user in login_provider_users() if users is None else users:
        command += ["--user-claims", user]
    return _spawn_and_wait(
        command,
        f"http://127.0.0.1:{port}/.well-known/openid-configuration",
        "local OpenID Connect provider",
    )


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_APP = EXAMPLES / "third_party_app.py"
# The consent examples (data source and consumer) run only from a source checkout.
CONSENT_EXAMPLES_PRESENT = (EXAMPLES / "data_source.py").exists() and (
    EXAMPLES / "consent_consumer.py"
).exists()


def start_example_app(
    port: int, settings: Settings, credentials: registry.NewCredentials
) -> subprocess.Popen[bytes] | None:
    """The example third party (``examples/third_party_app.py``) as the demo party, when the
    demo runs from a source checkout."""
    if not EXAMPLE_APP.exists():
        return None
    env = os.environ | {
        "HUB_URL": settings.base_url,
        "THIRD_PARTY_GLN": DEMO_PARTY_GLN,
        "CLIENT_ID": credentials.party.client_id,
        "CLIENT_SECRET": credentials.client_secret,
        "APP_URL": f"http://127.0.0.1:{port}",
        "HUB_TIMEZONE": settings.hub_timezone,
    }
    return _spawn_and_wait(
        [sys.executable, str(EXAMPLE_APP)],
        f"http://127.0.0.1:{port}/",
        "example third-party app",
        env=env,
    )


def consent_demo_credentials(
    settings: Settings, database: Database
) -> tuple[registry.NewCredentials, registry.NewCredentials]:
    """Fresh secrets for NAV (the data source) and the demo insurer (the consumer): they
    are stored as hashes, so each start makes new ones for the example apps."""
    secret_key = settings.resolved_secret_key()
    with database.write() as conn:
        by_orgnr = {party.orgnr: party for party in registry.list_parties(conn)}
        nav, consumer = (
            registry.rotate_secret(
                conn, secret_key, by_orgnr[orgnr].client_id, overlap=dt.timedelta(0), actor="demo"
            )
            for orgnr in (DEMO_DATA_SOURCE[1], DEMO_CONSUMER[1])
        )
    return nav, consumer


def start_consent_apps(
    settings: Settings, database: Database, data_source_port: int, consumer_port: int
) -> tuple[str, list[subprocess.Popen[bytes]]] | None:
    """The data source (``examples/data_source.py``, as NAV) and the consumer
    (``examples/consent_consumer.py``, as the demo insurer), when the demo runs from a
    source checkout; returns the consumer's address and the two processes. The consent
    link's answer lands there: it exchanges the code and shows what the data source
    returned."""
    if not CONSENT_EXAMPLES_PRESENT:
        return None
    nav, consumer = consent_demo_credentials(settings, database)
    data_source_url = f"http://127.0.0.1:{data_source_port}"
    consumer_url = f"http://127.0.0.1:{consumer_port}"
    data_source = _spawn_and_wait(
        [sys.executable, str(EXAMPLES / "data_source.py")],
        f"{data_source_url}/",
        "example data source",
        env=os.environ
        | {
            "HUB_URL": settings.base_url,
            "CLIENT_ID": nav.party.client_id,
            "CLIENT_SECRET": nav.client_secret,
            "HUB_AUDIENCE": settings.token_audience,
            "PORT": str(data_source_port),
        },
    )
    consumer_app = _spawn_and_wait(
        [sys.executable, str(EXAMPLES / "consent_consumer.py")],
        f"{consumer_url}/",
        "example consent consumer",
        env=os.environ
        | {
            "HUB_URL": settings.base_url,
            "CONSUMER_ORGNR": DEMO_CONSUMER[1],
            "CLIENT_ID": consumer.party.client_id,
            "CLIENT_SECRET": consumer.client_secret,
            "APP_URL": consumer_url,
            "DATA_SOURCE_URL": data_source_url,
            "HUB_TIMEZONE": settings.hub_timezone,
        },
    )
    return consumer_url, [data_source, consumer_app]


class _MailSink:
    """An aiosmtpd handler that takes every message and keeps it in the folder."""

    def __init__(self, folder: MailFolder) -> None:
        self.folder = folder

    # aiosmtpd calls the hook of each SMTP command by the command's name.
    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        self.folder.keep(envelope.original_content or b"", now=dt.datetime.now(dt.UTC))
        return "250 Message accepted for delivery"


def start_mail_sink(port: int, folder: Path) -> Controller:
    """A local SMTP server on loopback that accepts every mail and keeps it in ``folder``
    as an ``.eml`` file (``consenthub mail list`` shows them): the demo's worker sends
    real mail, and nothing leaves the machine. Returns the running aiosmtpd controller."""
    from aiosmtpd.controller import Controller

    controller = Controller(_MailSink(MailFolder(folder)), hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def _metering_points_csv() -> io.StringIO:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "metering_point_id",
            "end_user_id",
            "move_in",
            "move_out",
            "settlement_point",
            "address",
            "postcode",
            "city",
            "grid_area",
        ]
    )
    for gsrn, person, move_in, move_out, address, _ in DEMO_METERING_POINTS:
        writer.writerow(
            [gsrn, DEMO_PERSONS[person], move_in, move_out, "true", address, "0155", "Oslo", "NO1"]
        )
    out.seek(0)
    return out


def _values_csv(settings: Settings) -> io.StringIO:
    """Hourly values for the last days: a daily curve with a morning and evening peak."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metering_point_id", "start", "kwh"])
    today = dt.datetime.now(settings.zone).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - dt.timedelta(days=VALUE_DAYS)
    for index, gsrn in enumerate(sorted({row[0] for row in DEMO_METERING_POINTS})):
        for hour in range(VALUE_DAYS * 24):
            start = (first + dt.timedelta(hours=hour)).astimezone(settings.zone)
            load = (
                0.4
                + 0.3 * index
                + 0.8 * math.exp(-((start.hour - 8) ** 2) / 4)
                + 1.2 * math.exp(-((start.hour - 19) ** 2) / 6)
            )
            writer.writerow([gsrn, start.isoformat(), f"{load:.3f}"])
    out.seek(0)
    return out


def example_return_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/callback"


def demo_secret_file(settings: Settings) -> Path:
    """Where the demo keeps its party's secret: beside an SQLite database file
    (``consenthub.db-demo-secret``), else beside the hub's key file
    (``consenthub-demo-secret``)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database_file = Path(url.database)
        return database_file.with_name(f"{database_file.name}-demo-secret")
    return settings.secret_key_file.with_name("consenthub-demo-secret")


def _keep_secret(file: Path, credentials: registry.NewCredentials) -> None:
    """Only the demo's user may read the secret (0600, whatever the file was before)."""
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(
            {"client_id": credentials.party.client_id, "client_secret": credentials.client_secret},
            handle,
        )


def _kept_secret(settings: Settings, database: Database, party: registry.PartyRecord) -> str | None:
    """The secret in ``demo_secret_file`` if the token endpoint would accept it now."""
    try:
        kept = json.loads(demo_secret_file(settings).read_text())
        client_id, secret = str(kept["client_id"]), str(kept["client_secret"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if client_id != party.client_id:
        return None
    throttle = registry.FailureThrottle(
        database,
        system_clock,
        client_limit=settings.failed_auth_limit,
        address_limit=settings.failed_auth_address_limit,
        window_seconds=settings.failed_auth_window_seconds,
    )
    clients = registry.ClientAuthenticator(
        database, settings.resolved_secret_key(), throttle, cache_ttl=0
    )
    try:
        clients.authenticate(registry.ClientCredentials(client_id, secret, False), "demo")
    except DomainError:
        return None
    return secret


def reset_demo(settings: Settings, database: Database) -> None:
    """Empty a migrated demo database (every table, the schema kept), the kept secret and
    the caught mail, so that ``load_demo`` starts from the initial data. Refused for a
    database that holds parties the demo did not make: this is no way to empty a hub."""
    with database.write() as conn:
        foreign = [
            party.name
            for party in registry.list_parties(conn)
            if not {party.gln, party.orgnr} & DEMO_PARTY_IDENTIFIERS
        ]
        if foreign:
            raise DemoError(
                f"the database holds parties the demo did not make ({', '.join(foreign)}); "
                "--reset only resets a demo database"
            )
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    demo_secret_file(settings).unlink(missing_ok=True)
    for caught in MailFolder(settings.mail_sink_dir).caught():
        caught.file.unlink(missing_ok=True)


def load_demo(settings: Settings, database: Database, example_port: int) -> registry.NewCredentials:
    """Load the demo data once; the demo party's return address follows ``example_port``.
    Its secret is the kept one while that works, else a new one (then kept)."""
    secret_key = settings.resolved_secret_key()
    ids = NationalIdCipher(secret_key, settings.national_id_key_id)
    with database.read() as conn:
        party = registry.find_by_gln(conn, DEMO_PARTY_GLN)
    if party is not None:
        with database.write() as conn:
            registry.ensure_return_url(conn, party.id, example_return_url(example_port))
        kept = _kept_secret(settings, database, party)
        if kept is not None:
            return registry.NewCredentials(party, kept)
        with database.write() as conn:
            # Nobody holds a working copy of the current secret: no overlap is needed.
            rotated = registry.rotate_secret(
                conn, secret_key, party.client_id, overlap=dt.timedelta(0), actor="demo"
            )
        _keep_secret(demo_secret_file(settings), rotated)
        return rotated
    import_metering_points(
        database, _metering_points_csv(), ids=ids, allow_synthetic_ids=True, actor="demo"
    )
    import_meter_values(database, _values_csv(settings), actor="demo")
    with database.write() as conn:
        created = registry.add_party(
            conn,
            secret_key,
            name=DEMO_PARTY_NAME,
            roles=["third_party"],
            gln=DEMO_PARTY_GLN,
            return_urls=[example_return_url(example_port)],
            actor="demo",
        )
        _add_consent_demo(conn, secret_key)
        for gsrn, person, move_in, _, _, scope in DEMO_METERING_POINTS:
            if scope is None:
                continue
            mp_id = conn.execute(
                select(MeteringPoint.id).where(MeteringPoint.gsrn == gsrn)
            ).scalar_one()
            user_id = end_users.find(conn, ids, DEMO_PERSONS[person])
            assert user_id is not None  # the import just made them
            already = conn.execute(
                select(Grant.id).where(
                    Grant.party_id == created.party.id, Grant.metering_point_id == mp_id
                )
            ).first()
            if already is None:
                create_grant(
                    conn,
                    party_id=created.party.id,
                    metering_point_id=mp_id,
                    end_user_id=user_id,
                    scope=scope,
                    valid_from=dt.date.fromisoformat(move_in),
                    actor="demo",
                )
    _keep_secret(demo_secret_file(settings), created)
    return created


def _add_consent_demo(conn: Connection, secret_key: bytes) -> None:
    """NAV with resource 5252_1 (the seed's template and period parameters) and the demo
    insurer, whose return domain is this machine."""
    name, orgnr = DEMO_DATA_SOURCE
    nav = registry.add_party(
        conn, secret_key, name=name, roles=["data_source"], orgnr=orgnr, actor="demo"
    )
    registry.add_consent_resource(
        conn,
        code=DEMO_CONSENT_RESOURCE,
        data_source=nav.party,
        titles={
            "nb": "Opplysninger om uføreytelser",
            "nn": "Opplysningar om uføreytingar",
            "en": "Disability benefit data",
        },
        context_template=NAV_DELEGATION_CONTEXT,
        parameters=[
            registry.parse_parameter("fraOgMed:dd.mm.yyyy:required"),
            registry.parse_parameter("tilOgMed:dd.mm.yyyy:required"),
        ],
        max_duration_days=365,
        one_time=False,
        actor="demo",
    )
    name, orgnr = DEMO_CONSUMER
    registry.add_party(
        conn,
        secret_key,
        name=name,
        roles=["consent_consumer"],
        orgnr=orgnr,
        return_domains=["127.0.0.1"],
        actor="demo",
    )


def consent_demo_link(settings: Settings, consumer_url: str, now: dt.datetime) -> str:
    """A consumer's consent link (seed 002) for the demo insurer, valid for 30 days; the
    answer goes to the example consumer at ``consumer_url``."""
    valid_to = (now + dt.timedelta(days=30)).astimezone(settings.zone)
    query = urlencode(
        {
            "Resources": DEMO_CONSENT_RESOURCE,
            "CoveredBy": DEMO_CONSUMER[1],
            "RedirectUrl": f"{consumer_url}/consent-answer",
            "ValidToDate": valid_to.strftime("%Y-%m-%d %H:%M:%S"),
            "LanguageCode": "nb-NO",
            "DelegationContext": NAV_DELEGATION_CONTEXT,
            "ResponseType": "code",
            f"{DEMO_CONSENT_RESOURCE}_fraOgMed": f"01.01.{valid_to.year}",
            f"{DEMO_CONSENT_RESOURCE}_tilOgMed": f"31.12.{valid_to.year}",
        }
    )
    return f"{settings.base_url}/consent/request?{query}"
