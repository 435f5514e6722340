"""``import metering-points``: a semicolon-separated file is named so, and postcodes and
grid areas are held to the form of the metering point's country (its GSRN prefix)."""

from __future__ import annotations

from pathlib import Path

import pytest
from stdnum import ean
from typer.testing import CliRunner

from consenthub.cli.main import app
from consenthub.imports import ImportFileError
from consenthub.imports.metering_points import location_problems
from consenthub.store.database import Database
from tests.conftest import TEST_SECRET_KEY
from tests.factories import fnr, gsrn
from tests.imports.test_imports import MP_HEADER, import_metering_points, mp_row, write_csv


def finnish_gsrn(seed: int) -> str:
    body = f"643{seed:014d}"
    return body + ean.calc_check_digit(body)


@pytest.mark.parametrize(
    ("metering_point", "postcode", "grid_area", "problems"),
    [
        (gsrn(1), "0155", "NO1", []),
        (gsrn(1), "0155", "no5", []),
        (gsrn(1), "", "", []),
        (gsrn(1), "155", "NO1", ["postcode"]),
        (gsrn(1), "01555", "NO6", ["postcode", "grid_area"]),
        (gsrn(1), "0l55", "SE3", ["postcode", "grid_area"]),
        (finnish_gsrn(1), "00100", "", []),
        (finnish_gsrn(1), "0100", "", ["postcode"]),
    ],
)
def test_location_rules_follow_the_country(
    metering_point: str, postcode: str, grid_area: str, problems: list[str]
) -> None:
    found = location_problems(metering_point, postcode, grid_area)
    assert [field for field, _ in found] == problems


def test_bad_postcodes_and_grid_areas_are_named_by_line(db: Database, tmp_path: Path) -> None:
    rows = [
        mp_row(1, fnr(1)),
        mp_row(2, fnr(2), postcode="155"),
        mp_row(3, fnr(3), grid_area="NO9"),
    ]
    with pytest.raises(ImportFileError) as caught:
        import_metering_points(db, write_csv(tmp_path / "points.csv", MP_HEADER, rows))
    assert [(e.line, e.field) for e in caught.value.errors] == [
        (3, "postcode"),
        (4, "grid_area"),
    ]
    assert "line 4: grid_area: must be NO1, NO2, NO3, NO4 or NO5" in str(caught.value)
    assert "2 problems:" in str(caught.value)


def test_a_semicolon_separated_file_is_named_so(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    semicolons = write_csv(
        tmp_path / "points.csv",
        MP_HEADER.replace(",", ";"),
        [mp_row(1, fnr(1)).replace(",", ";")],
    )
    result = CliRunner().invoke(
        app,
        ["import", "metering-points", str(semicolons)],
        env={"CONSENTHUB_DATABASE_URL": database_url, "CONSENTHUB_SECRET_KEY": TEST_SECRET_KEY},
    )
    assert result.exit_code == 2
    assert "the file looks semicolon-separated" in result.stderr
    assert "missing:" not in result.stderr
    assert "1 problem:" in result.stderr
