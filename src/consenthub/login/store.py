"""All SQL of end-user login: the person behind a national identity number."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from consenthub.store.tables import EndUser, string_length

NAME_LENGTH = string_length(EndUser.__table__.c.name)


def upsert_end_user(conn: Connection, national_id: str, kind: str, name: str | None) -> int:
    """The person's id, registering them at first login; the provider's name wins."""
    existing = conn.execute(
        select(EndUser.id).where(EndUser.national_id == national_id)
    ).scalar_one_or_none()
    if existing is not None:
        if name:
            conn.execute(update(EndUser).where(EndUser.id == existing).values(name=name))
        return int(existing)
    return int(
        conn.execute(
            insert(EndUser)
            .values(national_id=national_id, kind=kind, name=name)
            .returning(EndUser.id)
        ).scalar_one()
    )
