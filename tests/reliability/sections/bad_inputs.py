"""Section "bad inputs": Hypothesis property tests for every parser (issue 14).

Pure parsers run in process: identifiers (GLN, GSRN, organisation number, Y-tunnus,
fødselsnummer/D-number with and without synthetic numbers, HETU, UUID, the end-user id
that picks among them), calendar dates (BRS-NO-622, DH-831), the data API's ``from``/``to``
over the whole accepted range, consent's ``ValidToDate`` and ``dd.mm.yyyy`` metadata, and
the CSV rows of both imports. HTTP inputs go to a real server on loopback (the harness):
the URL parameters of ``/third-party-access/authorize`` and ``/consent/request``, the data
API's dates, and the JSON bodies of every POST API. Each input must end in the parser's
documented error (or be accepted and usable), never an unhandled exception or a 5xx.

Figures: ``N tried`` (generated inputs) and ``N unhandled`` (properties that broke).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import string
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consenthub.config import Settings
from consenthub.consent.errors import ConsentRequestError
from consenthub.consent.rules import valid_to
from consenthub.data_api.handler import parse_instant
from consenthub.domain import identifiers
from consenthub.domain.consent import ConsentResource, parse_date
from consenthub.domain.dates import calendar_date
from consenthub.domain.errors import DomainError
from consenthub.domain.windows import DateWindow, Interval, to_intervals
from consenthub.imports import ImportFileError
from consenthub.imports.meter_values import import_meter_values
from consenthub.imports.metering_points import import_metering_points
from consenthub.signing import keys
from consenthub.store.database import Database
from consenthub.store.id_cipher import NationalIdCipher
from consenthub.store.migrate import upgrade
from tests.conftest import TEST_SECRET_KEY
from tests.consent.parties import CONSUMER_ORGNR, REDIRECT_URL, add_consumer, add_nav
from tests.factories import add_end_user, add_metering_point, add_party, add_supply, fnr, gln, gsrn
from tests.harness import LiveServer, bearer

TITLE = "bad inputs"
OSLO = ZoneInfo("Europe/Oslo")
RETURN_URL = "https://app.example.no/callback"
HETU = "131052-308T"

# Text that reaches parsers: any Unicode, plus the shapes near the valid forms.
ANY_TEXT = st.text(max_size=40)
DIGITS = st.text(alphabet=string.digits, min_size=0, max_size=20)
NEAR_DATE = st.from_regex(r"\A[0-9+\-]{1,6}-[0-9]{1,3}-[0-9]{1,3}([T ][0-9:.+\-Z]{0,20})?\Z")
JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@dataclass
class Tally:
    tried: int = 0
    problems: list[str] = field(default_factory=list)


def probe(
    tally: Tally, name: str, strategy: st.SearchStrategy[Any], check: Callable[[Any], None], n: int
) -> None:
    """Run ``check`` on ``n`` generated inputs; the (shrunk) input that broke it is a problem."""
    failure: list[tuple[Any, BaseException]] = []

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def property_holds(value: Any) -> None:
        tally.tried += 1
        try:
            check(value)
        except BaseException as exc:
            failure[:] = [(value, exc)]
            raise

    try:
        property_holds()
    except Exception:
        value, exc = failure[-1] if failure else (None, None)
        tally.problems.append(f"{name}: {value!r} → {type(exc).__name__}: {exc}")


def expect(errors: tuple[type[BaseException], ...], call: Callable[[], object]) -> object | None:
    """The result of ``call``, or None when it raised one of the documented ``errors``."""
    try:
        return call()
    except errors:
        return None


# -- pure parsers -------------------------------------------------------------------------


def _identifier_probes(tally: Tally, n: int) -> None:
    validators: dict[str, Callable[[str], str]] = {
        "GLN": identifiers.validate_gln,
        "GSRN": identifiers.validate_gsrn,
        "org no.": identifiers.validate_orgnr,
        "Y-tunnus": identifiers.validate_ytunnus,
        "fnr": identifiers.validate_fodselsnummer,
        "fnr (synthetic)": lambda v: identifiers.validate_fodselsnummer(v, allow_synthetic=True),
        "HETU": identifiers.validate_hetu,
        "HETU (synthetic)": lambda v: identifiers.validate_hetu(v, allow_synthetic=True),
        "UUID": identifiers.validate_uuid,
        "end-user id": lambda v: identifiers.validate_end_user_id(v, allow_synthetic=True)[0],
    }
    shapes = (
        ANY_TEXT
        | DIGITS
        | st.from_regex(r"\A[0-9]{6}[-+ABCDEFUVWXY][0-9]{3}[0-9A-Z]\Z")
        | st.from_regex(r"\A[0-9]{7}-[0-9]\Z")
        | st.uuids().map(str).flatmap(lambda u: st.sampled_from([u, u.upper(), u.replace("-", "")]))
    )
    for name, validate in validators.items():

        def check(value: str, validate: Callable[[str], str] = validate) -> None:
            accepted = expect((identifiers.InvalidIdentifier,), lambda: validate(value))
            if accepted is not None:
                # What a validator accepts is its own canonical form: accepted again, unchanged.
                assert validate(str(accepted)) == accepted, "not idempotent"

        probe(tally, f"identifier {name}", shapes, check, n)


def _date_probes(tally: Tally, n: int) -> None:
    def calendar(value: str) -> None:
        date = calendar_date(value)
        if date is not None:
            assert date.isoformat() == value, "a calendar date is read as written"

    probe(tally, "calendar date (BRS-NO-622, DH-831)", ANY_TEXT | NEAR_DATE, calendar, n)

    def metadata_date(value: str) -> None:
        date = parse_date(value)
        if date is not None:
            assert date.strftime("%d.%m.%Y") == value, "dd.mm.yyyy read as written"

    probe(
        tally,
        "consent dd.mm.yyyy",
        ANY_TEXT | st.from_regex(r"\A[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,5}\Z"),
        metadata_date,
        n,
    )

    now = dt.datetime.now(dt.UTC)
    resource = ConsentResource.__new__(ConsentResource)
    object.__setattr__(resource, "max_duration_days", 365)

    def consent_valid_to(value: str) -> None:
        expect((ConsentRequestError,), lambda: valid_to(value, OSLO, now, [resource]))

    probe(
        tally,
        "consent ValidToDate",
        ANY_TEXT
        | st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)).map(
            lambda d: d.strftime("%Y-%m-%d %H:%M:%S")
        )
        | st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\Z"),
        consent_valid_to,
        n,
    )

    zones = st.sampled_from(
        [dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(-dt.timedelta(hours=12))]
    )
    edges = st.sampled_from(
        [
            "9999-12-31",
            "0001-01-01",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-12:00",
            "2027-W01-1",
            "2027-001",
            "20270101",
            "2027-01-01T00",
        ]
    )
    instants = (
        edges
        | ANY_TEXT
        | NEAR_DATE
        | st.dates(min_value=dt.date(1, 1, 1)).map(dt.date.isoformat)
        | st.builds(
            lambda d, zone: d.replace(tzinfo=zone).isoformat(),
            st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
            zones,
        )
    )

    def data_api_instant(value: str) -> None:
        instant = expect((DomainError,), lambda: parse_instant("from", value, OSLO))
        if isinstance(instant, dt.datetime):
            # Every accepted instant is one the data API can compute a window with.
            # (as data_api.service.meter_values does with from and to).
            epoch = int(instant.timestamp())
            DateWindow(
                instant.astimezone(OSLO).date(),
                instant.astimezone(OSLO).date() + dt.timedelta(days=1),
            )
            to_intervals([DateWindow(dt.date(1970, 1, 1))], OSLO, Interval(epoch, epoch + 3600))
            if len(value) == 10:
                assert calendar_date(value) is not None, "a date must be YYYY-MM-DD"

    probe(tally, "data API from/to", instants, data_api_instant, n)


def _csv_probes(tally: Tally, database: Database, n: int) -> None:
    ids = NationalIdCipher(TEST_SECRET_KEY.encode())
    cell = ANY_TEXT.filter(lambda text: "\x00" not in text) | DIGITS | NEAR_DATE
    metering_rows = st.lists(cell, min_size=9, max_size=9).map(
        lambda cells: [gsrn(500), *cells[1:]]
    )
    metering_rows = metering_rows | st.lists(cell, min_size=0, max_size=11)
    metering_header = (
        "metering_point_id,end_user_id,move_in,move_out,settlement_point,address,postcode,city,"
        "grid_area\n"
    )

    def as_csv(header: str, rows: list[str]) -> io.StringIO:
        buffer = io.StringIO()
        buffer.write(header)

        csv.writer(buffer).writerow(rows)
        buffer.seek(0)
        buffer.name = "probe.csv"
        return buffer

    def metering_points(cells: list[str]) -> None:
        expect(
            (ImportFileError,),
            lambda: import_metering_points(
                database, as_csv(metering_header, cells), ids=ids, allow_synthetic_ids=True
            ),
        )

    probe(tally, "CSV import metering-points", metering_rows, metering_points, n)

    value_rows = st.lists(cell, min_size=3, max_size=3).map(
        lambda c: [gsrn(500), *c[1:]]
    ) | st.lists(cell, min_size=0, max_size=5)

    def meter_values(cells: list[str]) -> None:
        expect(
            (ImportFileError,),
            lambda: import_meter_values(database, as_csv("metering_point_id,start,kwh\n", cells)),
        )

    probe(tally, "CSV import values", value_rows, meter_values, n)


# -- over HTTP ----------------------------------------------------------------------------


def _documented_error(answer: httpx.Response, name: str) -> None:
    """A refusal is a 4xx with the catalog's body (code, message) or an error page; a
    JSON refusal of a body names the field in ``errors`` or its message."""
    assert answer.status_code < 500, f"{name}: {answer.status_code} {answer.text[:300]}"
    if answer.status_code < 400:
        return
    if answer.headers.get("content-type", "").startswith("application/json"):
        body = answer.json()
        assert isinstance(body, dict), answer.text[:300]
        named = [item.get("field") for item in body.get("errors") or [] if isinstance(item, dict)]
        # The catalog's body (code, message), or a batch's answer naming each field.
        assert ("code" in body and "message" in body) or (
            bool(named) and all(isinstance(name, str) for name in named)
        ), answer.text[:300]
    else:
        assert "CH" in answer.text or "EH" in answer.text, f"{name}: an error page without code"


def _http_probes(
    tally: Tally, server: LiveServer, client: httpx.Client, n: int, ids: dict[str, str]
) -> None:
    url = server.url
    third = bearer(server, ids["third_id"], ids["third_secret"])
    seller = bearer(server, ids["seller_id"], ids["seller_secret"])
    consumer = bearer(server, ids["consumer_id"], ids["consumer_secret"])

    authorize = st.fixed_dictionaries(
        {},
        optional={
            "client_id": st.sampled_from([ids["third_gln"]]) | ANY_TEXT,
            "request_id": st.uuids().map(str) | ANY_TEXT,
            "scope": st.sampled_from(["Full", "Limited", "full", ""]) | ANY_TEXT,
            "redirect_uri": st.sampled_from(
                [RETURN_URL, RETURN_URL + "/x", "https://evil.example/"]
            )
            | ANY_TEXT,
            "lang": st.sampled_from(["en", "nb", "xx"]) | ANY_TEXT,
        },
    )

    def authorize_link(params: dict[str, str]) -> None:
        answer = client.get(f"{url}/third-party-access/authorize", params=params)
        _documented_error(answer, "authorize")
        location = answer.headers.get("location", "")
        assert not location.startswith("https://evil.example"), "redirected off the register"

    probe(tally, "GET /third-party-access/authorize", authorize, authorize_link, n)

    valid_to_text = (dt.datetime.now(OSLO) + dt.timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S")
    consent_base = {
        "Resources": "5252_1",
        "CoveredBy": CONSUMER_ORGNR,
        "RedirectUrl": REDIRECT_URL,
        "ValidToDate": valid_to_text,
        "DelegationContext": "NAVN_SELSKAP treng opplysningar.",
        "ResponseType": "code",
        "5252_1_fraOgMed": "01.01.2026",
        "5252_1_tilOgMed": "31.12.2026",
    }
    consent_changes = st.dictionaries(
        st.sampled_from([*consent_base, "LanguageCode", "OfferedBy", "UserToken", "5252_1_x"]),
        ANY_TEXT | NEAR_DATE | st.none(),
        max_size=3,
    )

    def consent_link(changes: dict[str, str | None]) -> None:
        params = {k: v for k, v in (consent_base | changes).items() if v is not None}
        answer = client.get(f"{url}/consent/request", params=params)
        _documented_error(answer, "consent request")
        assert not answer.headers.get("location", "").startswith("https://evil"), "open redirect"

    probe(tally, "GET /consent/request", consent_changes, consent_link, n)

    dates = st.dictionaries(
        st.sampled_from(["from", "to", "pageSize", "cursor"]), ANY_TEXT | NEAR_DATE, max_size=3
    )

    def values_query(params: dict[str, str]) -> None:
        answer = client.get(
            f"{url}/api/v1/metering-points/{gsrn(1)}/values", params=params, headers=third
        )
        _documented_error(answer, "values")

    probe(tally, "GET values from/to", dates, values_query, n)

    bodies: dict[str, tuple[str, dict[str, str], dict[str, Any]]] = {
        "POST /api/v1/third-party-access/updates": (
            "/api/v1/third-party-access/updates",
            third,
            {
                "messageId": str(uuid.uuid4()),
                "items": [{"meteringPointId": gsrn(1), "action": "add", "start": "2026-01-01"}],
            },
        ),
        "POST /api/v1/authorization-requests": (
            "/api/v1/authorization-requests",
            seller,
            {
                "customer": HETU,
                "accountingPoints": [gsrn(2)],
                "validFrom": dt.date.today().isoformat(),
                "validTo": (dt.date.today() + dt.timedelta(days=2)).isoformat(),
                "reason": "Sähkösopimus",
                "recipient": {"name": "Maija", "email": "maija@example.fi", "language": "fi"},
            },
        ),
        "POST /api/v1/consent-requests": (
            "/api/v1/consent-requests",
            consumer,
            {
                "id": str(uuid.uuid4()),
                **{k: v for k, v in consent_base.items() if k != "CoveredBy"},
            },
        ),
    }
    for name, (path, headers, valid) in bodies.items():
        mutation = st.one_of(
            st.builds(lambda k, v: ("set", k, v), st.sampled_from(list(valid)), JSON_VALUE),
            st.builds(lambda k: ("drop", k, None), st.sampled_from(list(valid))),
            st.builds(lambda k, v: ("set", k, v), st.text(max_size=10), JSON_VALUE),
            st.builds(lambda v: ("whole", "", v), JSON_VALUE),
            st.builds(lambda raw: ("raw", "", raw), st.binary(max_size=60)),
        )

        def post(
            change: tuple[str, str, Any],
            path: str = path,
            headers: dict[str, str] = headers,
            valid: dict[str, Any] = valid,
        ) -> None:
            kind, key, value = change
            body = dict(valid)
            if kind == "set":
                body[key] = value
            elif kind == "drop":
                body.pop(key, None)
            content = (
                value
                if kind == "raw"
                else json.dumps(value if kind == "whole" else body, allow_nan=True).encode()
            )
            answer = client.post(
                f"{url}{path}",
                content=content,
                headers={**headers, "Content-Type": "application/json"},
            )
            _documented_error(answer, path)

        probe(tally, name, mutation, post, n)

    token_form = st.dictionaries(
        st.sampled_from(
            ["grant_type", "client_id", "client_secret", "scope", "code", "redirect_uri", "x"]
        ),
        ANY_TEXT,
        max_size=4,
    )

    def token(form: dict[str, str]) -> None:
        answer = client.post(f"{url}/sts/Token", data=form)
        _documented_error(answer, "/sts/Token")

    probe(tally, "POST /sts/Token (form)", token_form, token, n)

    def token_json(value: Any) -> None:
        answer = client.post(
            f"{url}/sts/Token",
            content=json.dumps(value).encode(),
            headers={"Content-Type": "application/json"},
        )
        _documented_error(answer, "/sts/Token json")

    probe(tally, "POST /sts/Token (JSON)", JSON_VALUE, token_json, n)


@contextmanager
def _hub(database_url: str) -> Iterator[tuple[Database, Settings, dict[str, str]]]:
    database = Database(database_url)
    try:
        upgrade(database)
        with database.write() as conn:
            keys.ensure_key(conn, TEST_SECRET_KEY.encode())
        with TemporaryDirectory(prefix="consenthub-bad-inputs-") as directory:
            hub_settings = Settings(
                database_url=database_url,
                secret_key=TEST_SECRET_KEY,
                secret_key_file=Path(directory) / "unused.key",
                environment="test",
                base_url="http://127.0.0.1:8000",
                allow_synthetic_ids=True,
            )
            third = add_party(database, seed=1, return_urls=(RETURN_URL,))
            seller = add_party(database, seed=5, name="Sähkö Oy", roles=("seller",))
            add_nav(database)
            consumer = add_consumer(database)
            person = add_end_user(database, fnr())
            for seed in (1, 2):
                point = add_metering_point(database, seed)
                add_supply(database, point, person, dt.date(2020, 1, 1))
            ids = {
                "third_id": third.party.client_id,
                "third_secret": third.client_secret,
                "third_gln": gln(1),
                "seller_id": seller.party.client_id,
                "seller_secret": seller.client_secret,
                "consumer_id": consumer.party.client_id,
                "consumer_secret": consumer.client_secret,
            }
            yield database, hub_settings, ids
    finally:
        database.dispose()


def run(backend: str, database_url: str, quick: bool) -> tuple[list[tuple[str, int]], list[str]]:
    examples = 40 if quick else 250
    tally = Tally()
    _identifier_probes(tally, examples)
    _date_probes(tally, examples * 2)
    with _hub(database_url) as (database, hub_settings, ids):
        _csv_probes(tally, database, examples // 2 if quick else examples)
        with LiveServer(hub_settings, database) as server, httpx.Client(timeout=30) as client:
            _http_probes(tally, server, client, examples // 2 if quick else examples, ids)
    return [("tried", tally.tried), ("unhandled", len(tally.problems))], tally.problems
