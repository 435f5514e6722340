"""Typer apps whose ``--help`` shows no type after a flag.

Typer (0.29) labels every option with its Python type: ``--json <bool>``,
``--help <bool>``. A flag takes no value, so the label only misleads; an empty
metavar leaves its column blank. Options that take a value name it with their own
metavar where Typer's label would be Python (``<list[str]>``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption
from typer.models import CommandFunctionType


def _blank_flag_types(params: Iterable[object]) -> None:
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""


class PlainHelpCommand(TyperCommand):
    def format_help(self, ctx: Any, formatter: Any) -> None:
        # The help option is made when first asked for, so flags are found here.
        _blank_flag_types(self.get_params(ctx))
        super().format_help(ctx, formatter)


class PlainHelpGroup(TyperGroup):
    def format_help(self, ctx: Any, formatter: Any) -> None:
        _blank_flag_types(self.get_params(ctx))
        super().format_help(ctx, formatter)


class CommandGroup(typer.Typer):
    """``typer.Typer`` whose group and commands print their help as above."""

    def __init__(self, **options: Any) -> None:
        super().__init__(cls=PlainHelpGroup, **options)

    def command(
        self, name: str | None = None, **options: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        return super().command(name, cls=PlainHelpCommand, **options)
