"""Typer apps whose ``--help`` shows no type after a flag.

Typer (0.29) labels every option and argument with its Python type: ``--json <bool>``,
``--help <bool>``, ``--port <int>``. A flag takes no value, so the label only
misleads; an empty metavar leaves its column blank. An option that takes a value
without a metavar of its own is labelled with what it takes (TEXT, INTEGER, NUMBER).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

import orjson
import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import CommandFunctionType

# Whether the running command was given --json: its errors are then JSON too.
JSON_OUTPUT: ContextVar[bool] = ContextVar("json_output", default=False)


# What an option's value is, in words, for Python's type names.
_VALUE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "Path": "PATH"}


def _blank_flag_types(params: Iterable[object]) -> None:
    for param in params:
        if isinstance(param, TyperArgument):
            # Typer draws an argument's type column from display_type_rich, whatever its
            # metavar: say what it takes in words there too.
            bare = param.bare_type()
            label = _VALUE_NAMES.get(bare, bare.upper())
            setattr(param, "display_type_rich", lambda ctx, label=label: label)  # noqa: B010
            continue
        if not isinstance(param, TyperOption) or param.metavar is not None:
            continue
        if param.is_flag:
            param.metavar = ""
        else:
            bare = param.bare_type()
            param.metavar = _VALUE_NAMES.get(bare, bare.upper())


def _option_of(error: Exception) -> str | None:
    """The option a usage error is about, as the user typed it, where it is known."""
    param = getattr(error, "param", None)
    opts = getattr(param, "opts", None)
    return max(opts, key=len) if opts else None


class PlainHelpCommand(TyperCommand):
    def make_context(self, info_name: str | None, args: list[str], *rest: Any, **extra: Any) -> Any:
        """With ``--json``, a usage error (an unknown option, a bad value) is JSON on
        stdout too, exit 2, as the command's own errors are."""
        try:
            return super().make_context(info_name, list(args), *rest, **extra)
        except Exception as exc:
            # Typer ships its own copy of click, whose UsageError is not public: a usage
            # error is what exits 2 with a message to format.
            if "--json" not in args or getattr(exc, "exit_code", None) != 2:
                raise
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            shown = {"errors": [{"field": _option_of(exc), "message": message}]}
            sys.stdout.write(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode() + "\n")
            raise typer.Exit(2) from None

    def invoke(self, ctx: Any) -> Any:
        token = JSON_OUTPUT.set(bool(ctx.params.get("json_output")))
        try:
            return super().invoke(ctx)
        finally:
            JSON_OUTPUT.reset(token)

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
