"""SQL building blocks the stores share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import ColumnElement, String, any_, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.types import NullType, TypeEngine


def among(
    conn: Connection,
    column: ColumnElement[Any] | QueryableAttribute[Any],
    values: Sequence[str] | Sequence[int],
) -> ColumnElement[bool]:
    """``column`` is one of ``values``, as one parameter however many there are: on
    PostgreSQL an array (``= ANY``) in its text form, on SQLite a JSON array (``IN
    (SELECT value FROM json_each(…))``). Thousands of values in an ``IN`` list are
    rendered into the SQL text on every call and parsed again by the driver, which costs
    more than the query, and SQLite limits a statement's parameters; psycopg's own
    dumping of a list costs ~1.7 µs a value in Python, the text form built here a tenth
    of that. Both databases look each value up in the column's index (or hash them)."""
    if conn.dialect.name != "postgresql":
        listed = bindparam(None, orjson.dumps(list(values)).decode(), type_=String())
        return column.in_(select(func.json_each(listed).table_valued("value").c.value))
    element: TypeEngine[Any] = String() if isinstance(column.type, String) else column.type
    # Untyped, so that the parameter itself is of the array type and the planner gets a
    # constant array, which it hashes: a text parameter cast to an array is an
    # expression, searched value by value for every row a sequential scan reads.
    text_form = bindparam(None, array_literal(values), type_=NullType())
    return column == any_(cast(text_form, ARRAY(element)))


def array_literal(values: Sequence[str] | Sequence[int]) -> str:
    """PostgreSQL's text form of an array of these values (``{1,2}``, ``{"a","b"}``), to
    be cast to the array type in SQL. Strings are quoted (so commas, braces, blanks and
    the word NULL are plain text); a backslash or a double quote in one is escaped."""
    if not values:
        return "{}"
    if isinstance(values[0], int):
        return "{" + ",".join(map(str, values)) + "}"
    strings: Sequence[str] = values  # type: ignore[assignment]
    together = "".join(strings)
    if "\\" in together or '"' in together:
        strings = [value.replace("\\", "\\\\").replace('"', '\\"') for value in strings]
    return '{"' + '","'.join(strings) + '"}'
