"""The SQL every process shares about end users and their national identity numbers,
which are stored sealed (``store.id_cipher``): found by their keyed hash, opened only
where the number itself is needed (a consent token's ``OfferedBy``, the person's own
data export)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from consenthub.store.id_cipher import NationalIdCipher, SealedId
from consenthub.store.tables import EndUser

# Rows re-sealed per transaction by ``reseal``: short transactions keep logins going.
RESEAL_BATCH = 1000


def sealed_values(cipher: NationalIdCipher, national_id: str) -> dict[str, Any]:
    """The ``end_users`` columns that hold ``national_id``."""
    sealed = cipher.seal(national_id)
    return {
        "national_id_hash": sealed.lookup_hash,
        "national_id_key_id": sealed.key_id,
        "national_id_cipher": sealed.ciphertext,
    }


def find(conn: Connection, cipher: NationalIdCipher, national_id: str) -> int | None:
    """The id of the end user with this (canonical) national id, if the hub knows them."""
    found = conn.execute(
        select(EndUser.id).where(EndUser.national_id_hash == cipher.lookup_hash(national_id))
    ).scalar_one_or_none()
    return None if found is None else int(found)


def add(
    conn: Connection, cipher: NationalIdCipher, national_id: str, kind: str, name: str | None
) -> int:
    return int(
        conn.execute(
            insert(EndUser)
            .values(kind=kind, name=name, **sealed_values(cipher, national_id))
            .returning(EndUser.id)
        ).scalar_one()
    )


def national_id(conn: Connection, cipher: NationalIdCipher, end_user_id: int) -> str:
    """The person's national id in the clear: for them, or for what the seed sends."""
    row = conn.execute(
        select(
            EndUser.national_id_hash, EndUser.national_id_key_id, EndUser.national_id_cipher
        ).where(EndUser.id == end_user_id)
    ).one()
    return cipher.open(SealedId(row[0], row[1], row[2]))


def stale_count(conn: Connection, cipher: NationalIdCipher) -> int:
    """How many stored ids are sealed under another key than the current one."""
    return int(
        conn.execute(
            select(func.count()).where(EndUser.national_id_key_id != cipher.key_id)
        ).scalar_one()
    )


def reseal(
    begin: Callable[[], Any], cipher: NationalIdCipher, batch: int = RESEAL_BATCH
) -> Iterator[int]:
    """Seal every id under another key again under the current one, ``batch`` rows per
    transaction (``begin()`` opens one, e.g. ``database.write``); yields the rows done
    after each. A row changed meanwhile by someone else is sealed anew by them anyway."""
    after = 0
    while True:
        with begin() as conn:
            rows = conn.execute(
                select(
                    EndUser.id,
                    EndUser.national_id_hash,
                    EndUser.national_id_key_id,
                    EndUser.national_id_cipher,
                )
                .where(EndUser.national_id_key_id != cipher.key_id, EndUser.id > after)
                .order_by(EndUser.id)
                .limit(batch)
            ).all()
            for row in rows:
                plain = cipher.open(SealedId(row[1], row[2], row[3]))
                conn.execute(
                    update(EndUser)
                    .where(EndUser.id == row[0])
                    .values(**sealed_values(cipher, plain))
                )
        if not rows:
            return
        after = int(rows[-1][0])
        yield len(rows)
