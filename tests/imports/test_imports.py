"""CSV imports (SPEC: ``consenthub import metering-points`` / ``values``): all or nothing."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from consenthub.cli.main import app
from consenthub.imports import MAX_ERRORS, ImportFileError
from consenthub.imports.meter_values import MeterValueReport, import_meter_values
from consenthub.imports.metering_points import MeteringPointReport
from consenthub.imports.metering_points import import_metering_points as import_sealing
from consenthub.store import audit, end_users
from consenthub.store.database import Database
from consenthub.store.tables import (
    AuditEvent,
    EndUser,
    MeteringPoint,
    MeterValue,
    SupplyPeriod,
)
from tests.factories import TEST_IDS, fnr, gsrn

MP_HEADER = (
    "metering_point_id,end_user_id,move_in,move_out,settlement_point,"
    "address,postcode,city,grid_area"
)
VALUES_HEADER = "metering_point_id,start,kwh"
TABLES = (EndUser, MeteringPoint, SupplyPeriod, MeterValue, AuditEvent)
HETU = "131052-308T"
ORGNR = "974760673"
YTUNNUS = "2077474-0"

# The import as the CLI runs it, under the tests' secret key.
import_metering_points = partial(import_sealing, ids=TEST_IDS)


def mp_row(
    seed: int,
    end_user: str,
    move_in: str = "2020-01-01",
    move_out: str = "",
    settlement_point: str = "true",
    address: str = "Storgata 1",
    postcode: str = "0155",
    city: str = "Oslo",
    grid_area: str = "NO1",
    metering_point: str | None = None,
) -> str:
    return ",".join(
        [
            metering_point or gsrn(seed),
            end_user,
            move_in,
            move_out,
            settlement_point,
            address,
            postcode,
            city,
            grid_area,
        ]
    )


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def bad_check_digit(value: str) -> str:
    return value[:-1] + str((int(value[-1]) + 1) % 10)


def counts(db: Database) -> dict[str, int]:
    with db.read() as conn:
        return {
            table.__tablename__: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in TABLES
        }


@dataclass(frozen=True)
class StoredEndUser:
    national_id: str
    kind: str
    name: str | None


def snapshot(db: Database) -> dict[str, Sequence[Any]]:
    """What the imports stored, national ids opened (they are stored sealed)."""
    with db.read() as conn:
        opened = {
            row.id: StoredEndUser(end_users.national_id(conn, TEST_IDS, row.id), row.kind, row.name)
            for row in conn.execute(select(EndUser.id, EndUser.kind, EndUser.name))
        }
        periods = conn.execute(
            select(
                MeteringPoint.gsrn,
                SupplyPeriod.end_user_id,
                SupplyPeriod.move_in,
                SupplyPeriod.move_out,
            )
            .join(MeteringPoint)
            .order_by(MeteringPoint.gsrn, SupplyPeriod.move_in)
        ).all()
        return {
            "metering_points": conn.execute(
                select(MeteringPoint).order_by(MeteringPoint.gsrn)
            ).all(),
            "supply_periods": [
                (row.gsrn, opened[row.end_user_id].national_id, row.move_in, row.move_out)
                for row in periods
            ],
            "end_users": sorted(opened.values(), key=lambda user: user.national_id),
            "meter_values": conn.execute(
                select(MeterValue).order_by(MeterValue.metering_point_id, MeterValue.start_ts)
            ).all(),
        }


def import_error(call: Any, *args: Any, **kwargs: Any) -> ImportFileError:
    with pytest.raises(ImportFileError) as caught:
        call(*args, **kwargs)
    return caught.value


def only_error(exc: ImportFileError) -> tuple[int, str, str]:
    assert len(exc.errors) == 1, str(exc)
    error = exc.errors[0]
    return error.line, error.field, error.rule


# --- metering points -------------------------------------------------------------------------


@pytest.fixture
def people() -> list[str]:
    return [fnr(day) for day in range(1, 29)]


def test_metering_points_are_imported(db: Database, tmp_path: Path, people: list[str]) -> None:
    path = write_csv(
        tmp_path / "points.csv",
        MP_HEADER,
        [
            mp_row(1, people[0], "2020-01-01", "2021-06-01"),
            mp_row(1, people[1], "2021-06-01"),
            mp_row(
                2,
                HETU,
                "2019-03-01",
                settlement_point="false",
                address='"Gate 2, H0101"',
                postcode="",
                city="Helsinki",
                grid_area="",
            ),
            mp_row(3, ORGNR, "2018-01-01", settlement_point="TRUE"),
            mp_row(4, YTUNNUS, "2018-01-01"),
            mp_row(5, people[0], "2022-01-01"),
        ],
    )

    report = import_metering_points(db, path)

    assert report == MeteringPointReport(
        file="points.csv", rows=6, metering_points=5, supply_periods=6, end_users_created=5
    )
    data = snapshot(db)
    point = data["metering_points"][1]
    assert (
        point.gsrn,
        point.settlement_point,
        point.address,
        point.postcode,
        point.city,
        point.grid_area,
    ) == (gsrn(2), False, "Gate 2, H0101", None, "Helsinki", None)
    assert data["metering_points"][2].settlement_point is True
    assert data["supply_periods"][:2] == [
        (gsrn(1), people[0], dt.date(2020, 1, 1), dt.date(2021, 6, 1)),
        (gsrn(1), people[1], dt.date(2021, 6, 1), None),
    ]
    kinds = {row.national_id: row.kind for row in data["end_users"]}
    assert kinds == {
        people[0]: "person-no",
        people[1]: "person-no",
        HETU: "person-fi",
        ORGNR: "organisation-no",
        YTUNNUS: "organisation-fi",
    }
    with db.read() as conn:
        event = conn.execute(select(AuditEvent)).one()
        assert audit.verify(conn).ok
    assert (event.actor, event.action, event.subject) == (
        "cli",
        "import.metering_points",
        "points.csv",
    )
    assert event.details == {
        "rows": 6,
        "metering_points": 5,
        "supply_periods": 6,
        "end_users_created": 5,
    }


def test_reimporting_the_same_file_changes_nothing(
    db: Database, tmp_path: Path, people: list[str]
) -> None:
    path = write_csv(
        tmp_path / "points.csv",
        MP_HEADER,
        [
            mp_row(1, people[0], "2020-01-01", "2021-06-01"),
            mp_row(1, people[1], "2021-06-01"),
            mp_row(2, people[0], "2019-03-01"),
        ],
    )
    import_metering_points(db, path)
    before, data = counts(db), snapshot(db)

    report = import_metering_points(db, path)

    assert report == MeteringPointReport(
        file="points.csv", rows=3, metering_points=0, supply_periods=0, end_users_created=0
    )
    assert snapshot(db) == data
    assert counts(db) == {**before, "audit_events": before["audit_events"] + 1}


def test_reimport_updates_master_data_and_supply_periods(
    db: Database, tmp_path: Path, people: list[str]
) -> None:
    import_metering_points(
        db,
        write_csv(
            tmp_path / "a.csv",
            MP_HEADER,
            [
                mp_row(1, people[0], "2020-01-01", address="Storgata 1"),
            ],
        ),
    )
    report = import_metering_points(
        db,
        write_csv(
            tmp_path / "b.csv",
            MP_HEADER,
            [
                mp_row(
                    1,
                    people[0],
                    "2020-01-01",
                    "2023-01-01",
                    address="Storgata 1B",
                    settlement_point="false",
                ),
                mp_row(1, people[1], "2023-01-01", address="Storgata 1B", settlement_point="false"),
            ],
        ),
    )

    assert (report.metering_points, report.supply_periods, report.end_users_created) == (1, 2, 1)
    data = snapshot(db)
    assert [(p.gsrn, p.address, p.settlement_point) for p in data["metering_points"]] == [
        (gsrn(1), "Storgata 1B", False)
    ]
    assert data["supply_periods"] == [
        (gsrn(1), people[0], dt.date(2020, 1, 1), dt.date(2023, 1, 1)),
        (gsrn(1), people[1], dt.date(2023, 1, 1), None),
    ]


def test_reimport_counts_only_what_it_inserts_or_changes(
    db: Database, tmp_path: Path, people: list[str]
) -> None:
    import_metering_points(
        db,
        write_csv(
            tmp_path / "a.csv",
            MP_HEADER,
            [
                mp_row(1, people[0], "2020-01-01"),
                mp_row(2, people[1], "2020-01-01"),
                mp_row(3, people[2], "2020-01-01"),
            ],
        ),
    )
    report = import_metering_points(
        db,
        write_csv(
            tmp_path / "b.csv",
            MP_HEADER,
            [
                mp_row(1, people[0], "2020-01-01"),
                mp_row(2, people[1], "2020-01-01", "2024-01-01", city="Bergen"),
                mp_row(2, people[3], "2024-01-01", city="Bergen"),
                mp_row(3, people[4], "2020-01-01"),
                mp_row(4, people[0], "2022-01-01"),
            ],
        ),
    )

    assert report == MeteringPointReport(
        file="b.csv", rows=5, metering_points=2, supply_periods=4, end_users_created=2
    )
    data = snapshot(db)
    assert [(p.gsrn, p.city) for p in data["metering_points"]] == [
        (gsrn(1), "Oslo"),
        (gsrn(2), "Bergen"),
        (gsrn(3), "Oslo"),
        (gsrn(4), "Oslo"),
    ]
    assert data["supply_periods"] == [
        (gsrn(1), people[0], dt.date(2020, 1, 1), None),
        (gsrn(2), people[1], dt.date(2020, 1, 1), dt.date(2024, 1, 1)),
        (gsrn(2), people[3], dt.date(2024, 1, 1), None),
        (gsrn(3), people[4], dt.date(2020, 1, 1), None),
        (gsrn(4), people[0], dt.date(2022, 1, 1), None),
    ]


def test_a_repeated_bad_value_is_reported_on_every_row(
    db: Database, tmp_path: Path, people: list[str]
) -> None:
    bad_id = bad_check_digit(people[0])
    path = write_csv(
        tmp_path / "points.csv",
        MP_HEADER,
        [
            mp_row(1, bad_id),
            mp_row(2, people[1], move_in="2020-02-30"),
            mp_row(3, bad_id),
            mp_row(4, people[1], move_in="2020-02-30"),
        ],
    )

    exc = import_error(import_metering_points, db, path)

    assert [str(error) for error in exc.errors] == [
        "line 2: end_user_id: second mod-11 control digit does not match",
        "line 3: move_in: is not a valid calendar date",
        "line 4: end_user_id: second mod-11 control digit does not match",
        "line 5: move_in: is not a valid calendar date",
    ]
    assert bad_id not in str(exc)
    assert counts(db)["metering_points"] == 0


BAD_ROWS = [
    pytest.param(
        lambda p: mp_row(99, p, metering_point=bad_check_digit(gsrn(99))),
        "metering_point_id",
        "GS1 mod-10 check digit does not match",
        id="gsrn-check",
    ),
    pytest.param(
        lambda p: mp_row(99, p, metering_point="70705700000000001"),
        "metering_point_id",
        "must be exactly 18 digits",
        id="gsrn-length",
    ),
    pytest.param(
        lambda p: mp_row(99, bad_check_digit(p)),
        "end_user_id",
        "second mod-11 control digit does not match",
        id="fnr-check",
    ),
    pytest.param(
        lambda p: mp_row(99, fnr(month=41)),
        "end_user_id",
        "synthetic test numbers are not accepted here",
        id="synthetic",
    ),
    pytest.param(lambda p: mp_row(99, ""), "end_user_id", "is required", id="fnr-missing"),
    pytest.param(
        lambda p: mp_row(99, p, move_in="01.01.2020"),
        "move_in",
        "must be a date YYYY-MM-DD",
        id="date-format",
    ),
    pytest.param(
        lambda p: mp_row(99, p, move_in="20200101"),
        "move_in",
        "must be a date YYYY-MM-DD",
        id="date-compact",
    ),
    pytest.param(
        lambda p: mp_row(99, p, move_in=""),
        "move_in",
        "must be a date YYYY-MM-DD",
        id="move-in-missing",
    ),
    pytest.param(
        lambda p: mp_row(99, p, move_out="2021-02-30"),
        "move_out",
        "is not a valid calendar date",
        id="date-invalid",
    ),
    pytest.param(
        lambda p: mp_row(99, p, "2021-01-01", "2020-12-31"),
        "move_out",
        "must be after move_in",
        id="move-out-before",
    ),
    pytest.param(
        lambda p: mp_row(99, p, "2021-01-01", "2021-01-01"),
        "move_out",
        "must be after move_in",
        id="move-out-same-day",
    ),
    pytest.param(
        lambda p: mp_row(99, p, settlement_point="yes"),
        "settlement_point",
        "must be true or false",
        id="flag",
    ),
    pytest.param(
        lambda p: mp_row(99, p, settlement_point=""),
        "settlement_point",
        "must be true or false",
        id="flag-missing",
    ),
    pytest.param(
        lambda p: mp_row(99, p, address="x" * 201),
        "address",
        "must be at most 200 characters",
        id="address-long",
    ),
    pytest.param(
        lambda p: mp_row(99, p) + ",extra", "row", "has 10 fields, expected 9", id="too-many-fields"
    ),
]


@pytest.mark.parametrize(("make_row", "field", "rule"), BAD_ROWS)
@pytest.mark.parametrize("position", ["first", "last"])
def test_a_bad_row_is_reported_and_nothing_is_stored(
    db: Database,
    tmp_path: Path,
    people: list[str],
    make_row: Any,
    field: str,
    rule: str,
    position: str,
) -> None:
    import_metering_points(
        db, write_csv(tmp_path / "existing.csv", MP_HEADER, [mp_row(100, people[27])])
    )
    before, data = counts(db), snapshot(db)
    good = [mp_row(seed, people[seed % 20], f"{2000 + seed % 20}-01-01") for seed in range(1, 51)]
    bad = make_row(people[25])
    rows = [bad, *good] if position == "first" else [*good, bad]
    path = write_csv(tmp_path / "points.csv", MP_HEADER, rows)

    exc = import_error(import_metering_points, db, path)

    line = 2 if position == "first" else len(rows) + 1
    assert only_error(exc) == (line, field, rule)
    assert str(exc).endswith(f"line {line}: {field}: {rule}")
    assert counts(db) == before
    assert snapshot(db) == data
    end_user = bad.split(",")[1]
    for value in (*people, end_user):
        assert not value or value not in str(exc)


def test_a_bad_row_after_many_batches_leaves_nothing(db: Database, tmp_path: Path) -> None:
    people = [fnr(1 + n % 28, 1 + n // 28 % 12, 50 + n // 336) for n in range(1000)]
    rows = [mp_row(seed, people[seed % 1000]) for seed in range(1, 25_001)]
    rows.append(mp_row(25_001, bad_check_digit(people[0])))
    before = counts(db)

    exc = import_error(import_metering_points, db, write_csv(tmp_path / "big.csv", MP_HEADER, rows))

    assert only_error(exc) == (25_002, "end_user_id", "second mod-11 control digit does not match")
    assert counts(db) == before


def test_errors_name_every_bad_row_up_to_a_limit(
    db: Database, tmp_path: Path, people: list[str]
) -> None:
    three = write_csv(
        tmp_path / "three.csv",
        MP_HEADER,
        [
            mp_row(1, people[0]),
            mp_row(2, bad_check_digit(people[1])),
            mp_row(3, people[2], settlement_point="ja", move_in="2020-13-01"),
        ],
    )
    exc = import_error(import_metering_points, db, three)
    assert [(e.line, e.field) for e in exc.errors] == [
        (3, "end_user_id"),
        (4, "move_in"),
        (4, "settlement_point"),
    ]
    assert not exc.truncated

    many = write_csv(
        tmp_path / "many.csv",
        MP_HEADER,
        [mp_row(seed, people[0], settlement_point="no") for seed in range(1, 41)],
    )
    exc = import_error(import_metering_points, db, many)
    assert len(exc.errors) == MAX_ERRORS
    assert exc.truncated
    assert [e.line for e in exc.errors] == list(range(2, 2 + MAX_ERRORS))
    assert f"the first {MAX_ERRORS} problems:" in str(exc)


def test_overlaps_are_listed_up_to_the_limit(
    db: Database, tmp_path: Path, people: list[str]
) -> None:
    rows = [
        row
        for seed in range(1, 26)
        for row in (mp_row(seed, people[0], "2020-01-01"), mp_row(seed, people[1], "2021-01-01"))
    ]
    exc = import_error(import_metering_points, db, write_csv(tmp_path / "p.csv", MP_HEADER, rows))
    assert len(exc.errors) == MAX_ERRORS
    assert exc.truncated
    assert str(exc.errors[0]) == "line 3: move_in: supply period overlaps the one on line 2"


@pytest.mark.parametrize(
    ("header", "rule"),
    [
        pytest.param(
            MP_HEADER.replace(",grid_area", ""),
            "must be exactly metering_point_id,end_user_id,move_in,move_out,"
            "settlement_point,address,postcode,city,grid_area (missing: grid_area)",
            id="missing-column",
        ),
        pytest.param(
            MP_HEADER.replace("move_in,move_out", "move_out,move_in"),
            "must be exactly metering_point_id,end_user_id,move_in,move_out,"
            "settlement_point,address,postcode,city,grid_area",
            id="order",
        ),
        pytest.param(
            MP_HEADER.replace("city", "town"),
            "must be exactly metering_point_id,end_user_id,move_in,move_out,"
            "settlement_point,address,postcode,city,grid_area (missing: city)",
            id="renamed",
        ),
    ],
)
def test_wrong_header_is_rejected(
    db: Database, tmp_path: Path, people: list[str], header: str, rule: str
) -> None:
    before = counts(db)
    path = write_csv(tmp_path / "points.csv", header, [mp_row(1, people[0])])
    assert only_error(import_error(import_metering_points, db, path)) == (1, "header", rule)
    assert counts(db) == before


def test_headerless_and_empty_files_are_rejected_without_echoing_data(
    db: Database, tmp_path: Path, people: list[str]
) -> None:
    headerless = write_csv(tmp_path / "points.csv", mp_row(1, people[0]), [mp_row(2, people[1])])
    exc = import_error(import_metering_points, db, headerless)
    assert only_error(exc)[:2] == (1, "header")
    assert people[0] not in str(exc)
    assert gsrn(1) not in str(exc)

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert only_error(import_error(import_metering_points, db, empty)) == (
        1,
        "header",
        "the file is empty",
    )
    assert counts(db)["metering_points"] == 0


def test_supply_periods_in_the_file_must_not_overlap(
    db: Database, tmp_path: Path, people: list[str]
) -> None:
    path = write_csv(
        tmp_path / "points.csv",
        MP_HEADER,
        [
            mp_row(1, people[0], "2020-01-01", "2021-01-01"),
            mp_row(2, people[1], "2020-01-01"),
            mp_row(1, people[2], "2020-12-31"),
            mp_row(3, people[3], "2020-01-01"),
            mp_row(3, people[4], "2020-01-01", "2020-06-01"),
            mp_row(4, people[5], "2019-01-01"),
            mp_row(4, people[6], "2024-01-01", "2025-01-01"),
        ],
    )
    before = counts(db)

    exc = import_error(import_metering_points, db, path)

    assert [str(error) for error in exc.errors] == [
        "line 4: move_in: supply period overlaps the one on line 2",
        "line 6: move_in: supply period overlaps the one on line 5",
        "line 8: move_in: supply period overlaps the one on line 7",
    ]
    assert counts(db) == before


def test_adjacent_supply_periods_do_not_overlap(
    db: Database, tmp_path: Path, people: list[str]
) -> None:
    path = write_csv(
        tmp_path / "points.csv",
        MP_HEADER,
        [
            mp_row(1, people[2], "2022-01-01"),
            mp_row(1, people[0], "2020-01-01", "2021-01-01"),
            mp_row(1, people[1], "2021-01-01", "2022-01-01"),
        ],
    )
    assert import_metering_points(db, path).supply_periods == 3


def test_supply_periods_must_not_overlap_stored_ones(
    db: Database, tmp_path: Path, people: list[str]
) -> None:
    import_metering_points(
        db,
        write_csv(
            tmp_path / "a.csv",
            MP_HEADER,
            [
                mp_row(1, people[0], "2020-01-01"),
                mp_row(2, people[1], "2022-01-01", "2023-01-01"),
            ],
        ),
    )
    before, data = counts(db), snapshot(db)

    exc = import_error(
        import_metering_points,
        db,
        write_csv(
            tmp_path / "b.csv",
            MP_HEADER,
            [
                mp_row(1, people[2], "2022-01-01"),
                mp_row(2, people[3], "2021-01-01", "2022-02-01"),
                mp_row(2, people[4], "2023-01-01"),
            ],
        ),
    )

    assert [str(error) for error in exc.errors] == [
        "line 2: move_in: supply period overlaps the stored one from 2020-01-01 to no end",
        "line 3: move_out: supply period overlaps the stored one from 2022-01-01 to 2023-01-01",
    ]
    assert (counts(db), snapshot(db)) == (before, data)


def test_rows_of_one_metering_point_must_agree_on_master_data(
    db: Database, tmp_path: Path, people: list[str]
) -> None:
    path = write_csv(
        tmp_path / "points.csv",
        MP_HEADER,
        [
            mp_row(1, people[0], "2020-01-01", "2021-01-01", city="Oslo"),
            mp_row(2, people[1], "2020-01-01"),
            mp_row(1, people[1], "2021-01-01", city="Bergen"),
        ],
    )
    assert only_error(import_error(import_metering_points, db, path)) == (
        4,
        "city",
        "differs from line 2 for the same metering point",
    )
    assert counts(db)["metering_points"] == 0


def test_synthetic_ids_are_accepted_when_allowed(db: Database, tmp_path: Path) -> None:
    synthetic = fnr(month=41)
    path = write_csv(tmp_path / "points.csv", MP_HEADER, [mp_row(1, synthetic)])
    assert import_metering_points(db, path, allow_synthetic_ids=True).end_users_created == 1
    assert [user.national_id for user in snapshot(db)["end_users"]] == [synthetic]


def test_byte_order_mark_crlf_and_blank_lines_are_accepted(
    db: Database, tmp_path: Path, people: list[str]
) -> None:
    path = tmp_path / "excel.csv"
    text = "\r\n".join([MP_HEADER, mp_row(1, people[0], address="Bækkelagsveien 1"), "", ""])
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    seen: list[int] = []

    report = import_metering_points(db, path, progress=seen.append)

    assert report.rows == 1
    assert snapshot(db)["metering_points"][0].address == "Bækkelagsveien 1"
    assert seen[-1] == path.stat().st_size


def test_a_file_that_is_not_utf8_is_rejected(
    db: Database, tmp_path: Path, people: list[str]
) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        "\n".join(
            [MP_HEADER, mp_row(1, people[0]), mp_row(2, people[1], address="Bækkelagsveien 1")]
        ).encode("latin-1")
    )
    assert only_error(import_error(import_metering_points, db, path)) == (
        3,
        "row",
        "is not UTF-8 text",
    )
    assert counts(db)["metering_points"] == 0


# --- meter values ------------------------------------------------------------------------------


@pytest.fixture
def points(db: Database, tmp_path: Path) -> list[str]:
    people = [fnr(day) for day in range(1, 4)]
    import_metering_points(
        db,
        write_csv(
            tmp_path / "points.csv",
            MP_HEADER,
            [mp_row(seed, people[seed - 1]) for seed in (1, 2, 3)],
        ),
    )
    return [gsrn(seed) for seed in (1, 2, 3)]


def stored_values(db: Database) -> dict[tuple[str, int], int]:
    with db.read() as conn:
        rows = conn.execute(
            select(MeteringPoint.gsrn, MeterValue.start_ts, MeterValue.wh).join(MeteringPoint)
        ).all()
    return {(row.gsrn, row.start_ts): row.wh for row in rows}


def epoch(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp())


def test_values_are_imported_exactly(db: Database, tmp_path: Path, points: list[str]) -> None:
    path = write_csv(
        tmp_path / "values.csv",
        VALUES_HEADER,
        [
            f"{points[0]},2024-01-01T00:00:00+01:00,1.234",
            f"{points[0]},2024-01-01T01:00:00+01:00,4.35",
            f"{points[0]},2024-01-01T02:00:00+01:00,1.005",
            f"{points[0]},2024-01-01T03:00:00+01:00,0",
            f"{points[1]},2024-01-01T00:00:00Z,0.001",
            f"{points[1]},2024-01-01T00:15:00Z,123456.789",
            f"{points[1]},2024-01-01T00:30:00+00:00,2",
            f"{points[1]},2024-01-01T02:45:00+02:00,1.2300",
        ],
    )

    report = import_meter_values(db, path)

    assert report == MeterValueReport(file="values.csv", rows=8, values=8, metering_points=2)
    assert stored_values(db) == {
        (points[0], 1704063600): 1234,
        (points[0], 1704067200): 4350,
        (points[0], 1704070800): 1005,
        (points[0], 1704074400): 0,
        (points[1], 1704067200): 1,
        (points[1], 1704068100): 123456789,
        (points[1], 1704069000): 2000,
        (points[1], epoch("2024-01-01T00:45:00+00:00")): 1230,
    }
    with db.read() as conn:
        event = conn.execute(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert audit.verify(conn).ok
    assert event is not None
    assert (event.action, event.subject, event.details) == (
        "import.meter_values",
        "values.csv",
        {"rows": 8, "values": 8, "metering_points": 2},
    )


def test_reimported_values_are_updated_not_duplicated(
    db: Database, tmp_path: Path, points: list[str]
) -> None:
    first = write_csv(
        tmp_path / "a.csv",
        VALUES_HEADER,
        [
            f"{points[0]},2024-01-01T00:00:00+01:00,1.000",
            f"{points[0]},2024-01-01T01:00:00+01:00,2.000",
        ],
    )
    import_meter_values(db, first)
    assert import_meter_values(db, first).values == 0

    report = import_meter_values(
        db,
        write_csv(
            tmp_path / "b.csv",
            VALUES_HEADER,
            [
                f"{points[0]},2023-12-31T23:00:00Z,9.000",
                f"{points[0]},2024-01-01T01:00:00+01:00,2",
                f"{points[0]},2024-01-01T02:00:00+01:00,3.000",
            ],
        ),
    )

    assert (report.rows, report.values) == (3, 2)
    assert stored_values(db) == {
        (points[0], 1704063600): 9000,
        (points[0], 1704067200): 2000,
        (points[0], 1704070800): 3000,
    }


@pytest.mark.parametrize(
    ("row", "field", "rule"),
    [
        pytest.param(
            "{gsrn},2024-01-01T00:00:00,1.0",
            "start",
            "must include a UTC offset such as +01:00 or Z",
            id="naive",
        ),
        pytest.param(
            "{gsrn},2024-01-01,1.0",
            "start",
            "must include a UTC offset such as +01:00 or Z",
            id="date-only",
        ),
        pytest.param(
            "{gsrn},01.01.2024 00:00,1.0",
            "start",
            "must be an ISO 8601 date and time such as 2024-01-01T00:00:00+01:00",
            id="not-iso",
        ),
        pytest.param(
            "{gsrn},2024-01-01T00:10:00+01:00,1.0",
            "start",
            "must be on a whole quarter hour (hourly or 15-minute values)",
            id="10-min",
        ),
        pytest.param(
            "{gsrn},2024-01-01T00:15:30+01:00,1.0",
            "start",
            "must be on a whole quarter hour (hourly or 15-minute values)",
            id="seconds",
        ),
        pytest.param(
            "{gsrn},2024-01-01T00:00:00+01:00,1.2345",
            "kwh",
            "must have at most 3 decimals",
            id="4-decimals",
        ),
        pytest.param(
            "{gsrn},2024-01-01T00:00:00+01:00,-0.5", "kwh", "must not be negative", id="negative"
        ),
        pytest.param(
            '{gsrn},2024-01-01T00:00:00+01:00,"1,5"',
            "kwh",
            "must be a decimal number such as 1.234",
            id="comma",
        ),
        pytest.param(
            "{gsrn},2024-01-01T00:00:00+01:00,1e3",
            "kwh",
            "must be a decimal number such as 1.234",
            id="exponent",
        ),
        pytest.param(
            "{gsrn},2024-01-01T00:00:00+01:00,",
            "kwh",
            "must be a decimal number such as 1.234",
            id="missing",
        ),
        pytest.param(
            "{gsrn},2024-01-01T00:00:00+01:00,99999999999999999",
            "kwh",
            "is too large",
            id="too-large",
        ),
        pytest.param(
            "{bad_gsrn},2024-01-01T00:00:00+01:00,1.0",
            "metering_point_id",
            "GS1 mod-10 check digit does not match",
            id="gsrn-check",
        ),
        pytest.param(
            "{unknown},2024-01-01T00:00:00+01:00,1.0",
            "metering_point_id",
            "no metering point {unknown}; import metering points first",
            id="unknown",
        ),
        pytest.param(
            "{gsrn},2024-01-01T00:00:00+01:00", "row", "has 2 fields, expected 3", id="fields"
        ),
    ],
)
def test_a_bad_value_row_is_reported_and_nothing_is_stored(
    db: Database, tmp_path: Path, points: list[str], row: str, field: str, rule: str
) -> None:
    import_meter_values(
        db,
        write_csv(
            tmp_path / "existing.csv", VALUES_HEADER, [f"{points[2]},2023-01-01T00:00:00Z,1"]
        ),
    )
    before, data = counts(db), snapshot(db)
    names = {"gsrn": points[0], "bad_gsrn": bad_check_digit(points[0]), "unknown": gsrn(99)}
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    good = [
        f"{points[n % 2]},{(start + dt.timedelta(minutes=15 * n)).isoformat()},1.5"
        for n in range(25_000)
    ]
    path = write_csv(tmp_path / "values.csv", VALUES_HEADER, [*good, row.format(**names)])

    exc = import_error(import_meter_values, db, path)

    assert only_error(exc) == (25_002, field, rule.format(**names))
    assert (counts(db), snapshot(db)) == (before, data)


def test_an_unknown_metering_point_is_reported_once(
    db: Database, tmp_path: Path, points: list[str]
) -> None:
    path = write_csv(
        tmp_path / "values.csv",
        VALUES_HEADER,
        [
            f"{points[0]},2024-01-01T00:00:00Z,1",
            f"{gsrn(98)},2024-01-01T00:00:00Z,1",
            f"{gsrn(98)},2024-01-01T01:00:00Z,1",
            f"{gsrn(99)},2024-01-01T00:00:00Z,1",
        ],
    )
    exc = import_error(import_meter_values, db, path)
    assert [(error.line, error.field) for error in exc.errors] == [
        (3, "metering_point_id"),
        (5, "metering_point_id"),
    ]
    assert stored_values(db) == {}


def test_a_later_row_for_the_same_value_wins(
    db: Database, tmp_path: Path, points: list[str]
) -> None:
    path = write_csv(
        tmp_path / "values.csv",
        VALUES_HEADER,
        [
            f"{points[0]},2024-01-01T00:00:00+01:00,1",
            f"{points[0]},2023-12-31T23:00:00Z,2",
        ],
    )
    import_meter_values(db, path)
    assert stored_values(db) == {(points[0], 1704063600): 2000}


def test_values_can_come_from_a_text_stream(db: Database, points: list[str]) -> None:
    stream = io.StringIO(f"{VALUES_HEADER}\n{points[0]},2024-01-01T00:00:00Z,0.5\n")
    assert import_meter_values(db, stream) == MeterValueReport(
        file="-", rows=1, values=1, metering_points=1
    )
    assert stored_values(db) == {(points[0], 1704067200): 500}


def test_values_header_must_match(db: Database, tmp_path: Path, points: list[str]) -> None:
    path = write_csv(
        tmp_path / "values.csv",
        "metering_point_id,from,kwh",
        [f"{points[0]},2024-01-01T00:00:00Z,1"],
    )
    assert only_error(import_error(import_meter_values, db, path)) == (
        1,
        "header",
        "must be exactly metering_point_id,start,kwh (missing: start)",
    )


# --- command line ------------------------------------------------------------------------------


@pytest.fixture
def cli(database_url: str) -> CliRunner:
    return CliRunner(env={"CONSENTHUB_DATABASE_URL": database_url, "CONSENTHUB_SECRET_KEY": "x"})


def test_cli_imports_with_json_summary(db: Database, tmp_path: Path, cli: CliRunner) -> None:
    people = [fnr(1), fnr(2)]
    points = write_csv(
        tmp_path / "points.csv", MP_HEADER, [mp_row(1, people[0]), mp_row(2, people[1])]
    )
    values = write_csv(
        tmp_path / "values.csv", VALUES_HEADER, [f"{gsrn(1)},2024-01-01T00:00:00+01:00,1.5"]
    )

    result = cli.invoke(app, ["import", "metering-points", str(points), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "file": "points.csv",
        "rows": 2,
        "metering_points": 2,
        "supply_periods": 2,
        "end_users_created": 2,
    }

    result = cli.invoke(app, ["import", "values", str(values), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "file": "values.csv",
        "rows": 1,
        "values": 1,
        "metering_points": 1,
    }
    assert stored_values(db) == {(gsrn(1), 1704063600): 1500}


def test_cli_prints_a_one_line_summary(db: Database, tmp_path: Path, cli: CliRunner) -> None:
    person = fnr(1)
    points = write_csv(tmp_path / "points.csv", MP_HEADER, [mp_row(1, person)])
    result = cli.invoke(app, ["import", "metering-points", str(points)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "imported points.csv: 1 row, 1 metering point, 1 supply period, 1 new end user"
    )
    assert person not in result.output


def test_cli_rejects_a_bad_file_with_exit_2(db: Database, tmp_path: Path, cli: CliRunner) -> None:
    people = [fnr(1), fnr(2)]
    bad_id = bad_check_digit(people[1])
    points = write_csv(
        tmp_path / "points.csv", MP_HEADER, [mp_row(1, people[0]), mp_row(2, bad_id)]
    )

    result = cli.invoke(app, ["import", "metering-points", str(points)])

    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "line 3: end_user_id: second mod-11 control digit does not match" in result.stderr
    assert "points.csv" in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for value in (*people, bad_id):
        assert value not in result.output
    assert counts(db)["metering_points"] == 0


def test_cli_rejects_bad_values_and_missing_files(
    db: Database, tmp_path: Path, cli: CliRunner
) -> None:
    values = write_csv(
        tmp_path / "values.csv",
        VALUES_HEADER,
        [f"{gsrn(1)},2024-01-01T00:00:00Z,1.5", f"{gsrn(1)},2024-01-01T01:00:00,1.5"],
    )
    result = cli.invoke(app, ["import", "values", str(values)])
    assert result.exit_code == 2
    assert (
        f"\n  line 2: metering_point_id: no metering point {gsrn(1)}; "
        "import metering points first\n"
    ) in result.stderr
    assert "\n  line 3: start: must include a UTC offset such as +01:00 or Z\n" in result.stderr
    assert result.stdout == ""
    # With --json the same problems are JSON on stdout, and the exit is still 2.
    result = cli.invoke(app, ["import", "values", str(values), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["errors"] == [
        {
            "line": 2,
            "field": "metering_point_id",
            "message": f"no metering point {gsrn(1)}; import metering points first",
        },
        {"line": 3, "field": "start", "message": "must include a UTC offset such as +01:00 or Z"},
    ]

    result = cli.invoke(app, ["import", "values", str(tmp_path / "missing.csv")])
    assert result.exit_code == 2
