"""All SQL of the signing keys."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from consenthub.store.tables import SigningKey


@dataclass(frozen=True)
class KeyState:
    kid: str
    public_jwk: dict[str, Any]
    # The private JWK, encrypted at rest.
    private_jwk: str
    created_at: dt.datetime
    activates_at: dt.datetime


def insert_key(conn: Connection, key: KeyState, *, algorithm: str) -> None:
    conn.execute(
        insert(SigningKey).values(
            kid=key.kid,
            algorithm=algorithm,
            private_jwk=key.private_jwk,
            public_jwk=key.public_jwk,
            created_at=key.created_at,
            activates_at=key.activates_at,
        )
    )


def any_key(conn: Connection) -> bool:
    return conn.execute(select(SigningKey.kid).limit(1)).first() is not None


def all_keys(conn: Connection) -> list[KeyState]:
    return [
        KeyState(row.kid, row.public_jwk, row.private_jwk, row.created_at, row.activates_at)
        for row in conn.execute(select(SigningKey)).all()
    ]
