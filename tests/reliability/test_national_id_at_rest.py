"""Issue 14, defect 15: national identity numbers were stored in the clear
(``end_users.national_id``), so a database dump or a backup showed every person's
number. They are now sealed (AES-GCM under keys derived from the hub secret key) and
found by a keyed hash; a dump of either database shows none, in no form, while login,
the import, DH-831's customer matching and consent's UserToken check still work."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import JSON, LargeBinary, String, Text, select, text, update
from sqlalchemy.engine import make_url

from consenthub.authorization_requests import service as dh831
from consenthub.authorization_requests.schemas import parse_request
from consenthub.consent import service as consent_service
from consenthub.domain.errors import Code, DomainError
from consenthub.imports.metering_points import import_metering_points
from consenthub.login.service import log_in
from consenthub.services import Services
from consenthub.store import end_users
from consenthub.store.database import Database
from consenthub.store.id_cipher import NationalIdCipher, NationalIdKeyError
from consenthub.store.tables import Base, EndUser
from tests.consent.parties import add_consumer, add_nav
from tests.consent.test_service import pairs
from tests.factories import add_party, end_user_by_national_id, fnr, gsrn, national_id_of
from tests.harness import LiveServer
from tests.imports.test_imports import MP_HEADER, mp_row, write_csv
from tests.login_flow import login, register_person

IMPORTED = fnr(5, 5, 80)
FINNISH = "131052-308T"
LOGGED_IN = fnr(7, 7, 77)
BROWSER = fnr(9, 9, 79)
PERSONS = (IMPORTED, FINNISH, LOGGED_IN, BROWSER)


def forms(national_id: str) -> list[bytes]:
    """Every way a number could sit in a dump: as text, without its separator, as the hex
    of its bytes (PostgreSQL's bytea), and as seed 002's UserToken (its SHA-256)."""
    digest = hashlib.sha256(national_id.encode()).hexdigest()
    shapes = {national_id, national_id.replace("-", ""), national_id.encode().hex(), digest}
    return [shape.encode() for shape in shapes]


def dump(db: Database) -> bytes:
    """Everything the database holds: SQLite's file and its WAL as bytes; PostgreSQL's
    ``pg_dump`` of the test database, or every text and binary column of every table."""
    if db.is_sqlite:
        path = Path(str(db.url.database))
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    url = make_url(db.url)
    try:
        return subprocess.run(
            [
                "pg_dump",
                "-h",
                url.host or "127.0.0.1",
                "-p",
                str(url.port or 5432),
                "-U",
                url.username or "postgres",
                "--no-password",
                str(url.database),
            ],
            capture_output=True,
            check=True,
            timeout=60,
            env={**os.environ, "PGPASSWORD": url.password or ""},
        ).stdout
    except (FileNotFoundError, subprocess.CalledProcessError):
        return _every_text_column(db)


def _every_text_column(db: Database) -> bytes:
    chunks: list[bytes] = []
    with db.read() as conn:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, String | Text | LargeBinary | JSON):
                    for value in conn.execute(select(column)).scalars():
                        chunks.append(value if isinstance(value, bytes) else orjson.dumps(value))
    return b"\n".join(chunks)


@pytest.fixture
def people(
    hub: Services, portal_server: LiveServer, oidc_issuer: str, tmp_path: Path
) -> dict[str, int]:
    """Persons made every way the hub makes them: the import, a login (service level and
    through a browser's flow), and found by DH-831 and the consent check."""
    import_metering_points(
        hub.database,
        write_csv(
            tmp_path / "points.csv",
            MP_HEADER,
            [mp_row(1, IMPORTED), mp_row(2, FINNISH), mp_row(3, IMPORTED)],
        ),
        ids=hub.ids,
    )
    logged_in = log_in(hub, {"pid": LOGGED_IN, "name": "Per Hansen"})
    # The imported person logs in too: found, not made again.
    again = log_in(hub, {"pid": IMPORTED, "name": "Kari Nordmann"})
    register_person(oidc_issuer, "at-rest", pid=BROWSER, name="Ola Nordmann")
    with httpx.Client() as client:
        assert login(client, portal_server, "at-rest").status_code == 303
        assert client.get(f"{portal_server.url}/minside").status_code == 200
    found = {person: end_user_by_national_id(hub.database, person) for person in PERSONS}
    assert None not in found.values()
    assert again.end_user_id == found[IMPORTED]
    assert logged_in.end_user_id == found[LOGGED_IN]
    return {person: int(end_user_id or 0) for person, end_user_id in found.items()}


def test_a_dump_of_the_database_shows_no_national_id(
    hub: Services, db: Database, people: dict[str, int]
) -> None:
    seller = add_party(db, seed=7, name="Sähkö Oy", roles=("seller",))
    body = orjson.dumps(
        {"customer": FINNISH, "accountingPoints": [gsrn(2)], "validFrom": hub.today().isoformat()}
    )
    request = dh831.create(
        hub,
        dh831.Seller(seller.party.id, "Sähkö Oy"),
        parse_request(body, allow_synthetic_ids=False),
    )
    assert request.end_user_id == people[FINNISH]  # DH-831's customer matching

    add_nav(db)
    add_consumer(db)
    token = hashlib.sha256(IMPORTED.encode()).hexdigest()
    link = consent_service.resolve_request(hub, pairs(hub, UserToken=token, OfferedBy=IMPORTED))
    request_id = consent_service.create_request(hub, link)
    assert consent_service.is_for(hub, request_id, people[IMPORTED])
    assert not consent_service.is_for(hub, request_id, people[LOGGED_IN])
    with pytest.raises(DomainError) as error:
        consent_service.open_request(hub, request_id, people[LOGGED_IN])
    assert error.value.code is Code.CONSENT_NOT_FOR_PERSON
    consent_service.open_request(hub, request_id, people[IMPORTED])
    code = consent_service.answer(hub, request_id, people[IMPORTED], accept=True).code
    assert code is not None

    everything = dump(db)
    # The dump is real: what the browser's login stored is in it.
    assert b"Ola Nordmann" in everything
    for person in PERSONS:
        for shape in forms(person):
            assert shape not in everything, f"{person[:6]}***** found as {shape[:8]!r}…"
    assert national_id_of(db, people[FINNISH]) == FINNISH


def test_a_wrong_key_id_or_secret_key_fails_clearly(hub: Services, db: Database) -> None:
    add_party(db)
    person = end_users_add(hub, IMPORTED)
    with db.write() as conn:
        conn.execute(update(EndUser).where(EndUser.id == person).values(national_id_key_id=7))
    with db.read() as conn, pytest.raises(NationalIdKeyError, match="key id 7") as error:
        end_users.national_id(conn, hub.ids, person)
    assert IMPORTED not in str(error.value)
    with db.write() as conn:
        conn.execute(update(EndUser).where(EndUser.id == person).values(national_id_key_id=1))
    stranger = NationalIdCipher(b"another hub's secret key")
    with db.read() as conn, pytest.raises(NationalIdKeyError, match="does not open"):
        end_users.national_id(conn, stranger, person)
    with db.read() as conn:
        # Another key finds nobody either: the lookup hash is keyed.
        assert end_users.find(conn, stranger, IMPORTED) is None
        assert end_users.national_id(conn, hub.ids, person) == IMPORTED


def test_a_ciphertext_moved_to_another_row_does_not_open(hub: Services, db: Database) -> None:
    first, second = end_users_add(hub, IMPORTED), end_users_add(hub, LOGGED_IN)
    with db.write() as conn:
        stolen = conn.execute(
            select(EndUser.national_id_cipher).where(EndUser.id == first)
        ).scalar_one()
        conn.execute(update(EndUser).where(EndUser.id == second).values(national_id_cipher=stolen))
    with db.read() as conn, pytest.raises(NationalIdKeyError):
        end_users.national_id(conn, hub.ids, second)


def test_consent_links_keep_only_keyed_hashes_of_the_person(hub: Services, db: Database) -> None:
    add_nav(db)
    add_consumer(db)
    token = hashlib.sha256(IMPORTED.encode()).hexdigest()
    link = consent_service.resolve_request(hub, pairs(hub, UserToken=token, OfferedBy=IMPORTED))
    request_id = consent_service.create_request(hub, link)
    with db.read() as conn:
        stored = conn.execute(
            text("SELECT details FROM access_requests WHERE id = :id"), {"id": request_id}
        ).scalar_one()
    details = stored if isinstance(stored, dict) else orjson.loads(stored)
    assert details["user_token"] == details["offered_by"] == hub.ids.user_token_tag(token)
    assert token not in orjson.dumps(details).decode()


def end_users_add(hub: Services, national_id: str) -> int:
    with hub.database.write() as conn:
        return end_users.add(conn, hub.ids, national_id, "person-no", None)
