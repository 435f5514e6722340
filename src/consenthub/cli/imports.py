"""``consenthub import``: metering points and meter values from CSV."""

from __future__ import annotations

import typer

import_app = typer.Typer(no_args_is_help=True, help="Import metering points and meter values.")
