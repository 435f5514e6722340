"""SQL building blocks the stores share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.types import TypeEngine


def among(
    conn: Connection,
    column: ColumnElement[Any] | QueryableAttribute[Any],
    values: Sequence[str] | Sequence[int],
) -> ColumnElement[bool]:
    """``column`` is one of ``values``. On PostgreSQL one array parameter (``= ANY``):
    thousands of values in an ``IN`` list are rendered into the SQL text on every call
    and parsed again by the driver, which costs more than the query; SQLite takes them
    as an ``IN`` list of parameters (callers keep it under its limit)."""
    if conn.dialect.name != "postgresql":
        return column.in_(list(values))
    element: TypeEngine[Any] = Integer() if values and isinstance(values[0], int) else String()
    return column == any_(bindparam(None, list(values), type_=ARRAY(element)))
