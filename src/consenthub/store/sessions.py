"""All SQL of browser sessions (``web/sessions.py`` keeps them on the server)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from consenthub.store.tables import BrowserSession


@dataclass(frozen=True)
class StoredSession:
    end_user_id: int | None
    data: dict[str, Any]


def load(conn: Connection, id_hash: str, now: dt.datetime) -> StoredSession | None:
    """A live session: not ended, not expired."""
    row = conn.execute(
        select(BrowserSession.end_user_id, BrowserSession.data).where(
            BrowserSession.id_hash == id_hash,
            BrowserSession.ended_at.is_(None),
            BrowserSession.expires_at > now,
        )
    ).first()
    return None if row is None else StoredSession(row.end_user_id, dict(row.data))


def create(
    conn: Connection,
    id_hash: str,
    data: dict[str, Any],
    *,
    end_user_id: int | None,
    now: dt.datetime,
    expires_at: dt.datetime,
) -> None:
    conn.execute(
        insert(BrowserSession).values(
            id_hash=id_hash,
            end_user_id=end_user_id,
            data=data,
            created_at=now,
            expires_at=expires_at,
        )
    )


def save(conn: Connection, id_hash: str, data: dict[str, Any], end_user_id: int | None) -> None:
    conn.execute(
        update(BrowserSession)
        .where(BrowserSession.id_hash == id_hash)
        .values(data=data, end_user_id=end_user_id)
    )


def end(conn: Connection, id_hash: str, now: dt.datetime) -> None:
    conn.execute(
        update(BrowserSession)
        .where(BrowserSession.id_hash == id_hash, BrowserSession.ended_at.is_(None))
        .values(ended_at=now)
    )


def end_all_of(conn: Connection, end_user_id: int, now: dt.datetime) -> int:
    """End every live session of the person (e.g. "log out everywhere")."""
    result = conn.execute(
        update(BrowserSession)
        .where(BrowserSession.end_user_id == end_user_id, BrowserSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    return int(result.rowcount)
