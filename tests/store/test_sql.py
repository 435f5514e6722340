"""The shared SQL building blocks, on the database the suite runs against."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from consenthub.store.database import Database
from consenthub.store.sql import among

AWKWARD = ["plain", "a,b", '"quoted"', "back\\slash", "{braces}", "NULL", "", " blank ", "Ærøy"]


def _found(db: Database, kind: Any, stored: list[Any], asked: list[Any]) -> list[Any]:
    """The values of ``stored`` that ``among`` finds when asked for ``asked``."""
    table = Table("among_values", MetaData(), Column("v", kind), prefixes=["TEMPORARY"])
    with db.write() as conn:
        table.create(conn)
        conn.execute(insert(table), [{"v": value} for value in stored])
        found = list(conn.execute(select(table.c.v).where(among(conn, table.c.v, asked))).scalars())
        table.drop(conn)
    return sorted(found)


def test_among_finds_exactly_the_values_named_whatever_they_hold(db: Database) -> None:
    """One parameter for any number of values: quotes, backslashes, commas, braces,
    blanks, the word NULL and the empty string are values like any other."""
    assert _found(db, String(40), [*AWKWARD, "other"], AWKWARD) == sorted(AWKWARD)
    assert _found(db, String(40), AWKWARD, []) == []


def test_among_takes_thousands_of_integers(db: Database) -> None:
    found = _found(db, Integer, list(range(0, 30_000, 3)), list(range(0, 60_000, 2)))
    assert found == list(range(0, 30_000, 6))
