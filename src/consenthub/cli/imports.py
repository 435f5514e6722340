"""``consenthub import``: metering points and meter values from CSV.

``consenthub.cli.main`` imports this module to register ``import_app``, so
its helpers are imported inside the commands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from consenthub.cli.plain_help import JSON_OUTPUT, CommandGroup
from consenthub.cli.wording import count
from consenthub.imports import ImportFileError
from consenthub.imports.meter_values import import_meter_values
from consenthub.imports.metering_points import import_metering_points
from consenthub.store.id_cipher import NationalIdCipher

import_app = CommandGroup(no_args_is_help=True, help="Import metering points and meter values.")

CsvFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file (UTF-8).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON summary.")]


@import_app.command("metering-points")
def metering_points(file: CsvFile, json_output: JsonOption = False) -> None:
    """Import metering points and their supply periods.

    Header: metering_point_id,end_user_id,move_in,move_out,settlement_point,address,
    postcode,city,grid_area. All or nothing: bad rows are listed and nothing is written.
    """
    from consenthub.cli.main import console, load_settings, open_database, print_json

    settings = load_settings()
    database = open_database(settings)
    try:
        with _progress_bar(file, hidden=json_output) as progress:
            report = import_metering_points(
                database,
                file,
                ids=NationalIdCipher(settings.resolved_secret_key(), settings.national_id_key_id),
                progress=progress,
                allow_synthetic_ids=settings.allow_synthetic_ids,
            )
    except ImportFileError as exc:
        _reject(file, exc)
    finally:
        database.dispose()
    if json_output:
        print_json(asdict(report))
        return
    console.print(
        f"imported {escape(report.file)}: {count(report.rows, 'row')}, "
        f"{count(report.metering_points, 'metering point')}, "
        f"{count(report.supply_periods, 'supply period')}, "
        f"{count(report.end_users_created, 'new end user')}",
        highlight=False,
        soft_wrap=True,
    )


@import_app.command("values")
def values(file: CsvFile, json_output: JsonOption = False) -> None:
    """Import hourly or 15-minute meter values.

    Header: metering_point_id,start,kwh. All or nothing: bad rows are listed and nothing
    is written.
    """
    from consenthub.cli.main import console, load_settings, open_database, print_json

    settings = load_settings()
    database = open_database(settings)
    try:
        with _progress_bar(file, hidden=json_output) as progress:
            report = import_meter_values(database, file, progress=progress)
    except ImportFileError as exc:
        _reject(file, exc)
    finally:
        database.dispose()
    if json_output:
        print_json(asdict(report))
        return
    console.print(
        f"imported {escape(report.file)}: {count(report.rows, 'row')}, "
        f"{count(report.values, 'value')} for {count(report.metering_points, 'metering point')}",
        highlight=False,
        soft_wrap=True,
    )


def _reject(file: Path, exc: ImportFileError) -> NoReturn:
    """Exit 2 with the problems on stderr, one unwrapped line each (scripts grep them);
    with --json as ``{"file", "errors": [{"line", "field", "message"}], "truncated"}`` on
    stdout."""
    from consenthub.cli.main import fail, print_json

    if JSON_OUTPUT.get():
        print_json(
            {
                "file": file.name,
                "errors": [
                    {"line": error.line, "field": error.field, "message": error.rule}
                    for error in exc.errors
                ],
                "truncated": exc.truncated,
            }
        )
        raise typer.Exit(2)
    fail(f"{file.name}: {exc}")


@contextmanager
def _progress_bar(file: Path, *, hidden: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar over the file's bytes on a terminal's stderr; gone when done."""
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(
        *columns, console=console, transient=True, disable=hidden or not console.is_terminal
    ) as bar:
        task = bar.add_task(f"importing {escape(file.name)}", total=file.stat().st_size)
        yield lambda done: bar.update(task, completed=done)
