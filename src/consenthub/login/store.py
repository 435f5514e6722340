"""All SQL of end-user login: the person behind a national identity number, found by its
keyed hash (``store.end_users``); the number itself is stored only sealed."""

from __future__ import annotations

from sqlalchemy import Connection, update

from consenthub.store import end_users
from consenthub.store.id_cipher import NationalIdCipher
from consenthub.store.tables import EndUser, string_length

NAME_LENGTH = string_length(EndUser.__table__.c.name)


def upsert_end_user(
    conn: Connection, ids: NationalIdCipher, national_id: str, kind: str, name: str | None
) -> int:
    """The person's id, registering them at first login; the provider's name wins."""
    existing = end_users.find(conn, ids, national_id)
    if existing is not None:
        if name:
            conn.execute(update(EndUser).where(EndUser.id == existing).values(name=name))
        return existing
    return end_users.add(conn, ids, national_id, kind, name)
