"""SQL building blocks the stores share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import ColumnElement, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.types import TypeEngine


def among(
    conn: Connection,
    column: ColumnElement[Any] | QueryableAttribute[Any],
    values: Sequence[str] | Sequence[int],
) -> ColumnElement[bool]:
    """``column`` is one of ``values``, as one parameter however many there are: on
    PostgreSQL an array (``= ANY``), on SQLite a JSON array (``IN (SELECT value FROM
    json_each(…))``). Thousands of values in an ``IN`` list are rendered into the SQL
    text on every call and parsed again by the driver, which costs more than the query,
    and SQLite limits a statement's parameters; both databases look each value up in
    the column's index."""
    listed = list(values)
    if conn.dialect.name != "postgresql":
        array = func.json_each(bindparam(None, orjson.dumps(listed).decode(), type_=String()))
        return column.in_(select(array.table_valued("value").c.value))
    element: TypeEngine[Any] = column.type
    return column == any_(bindparam(None, listed, type_=ARRAY(element)))
