"""National identity numbers sealed at rest (issue 14, defect 15): ``end_users.national_id``
becomes its keyed hash, the number of the key that sealed it and its AES-GCM ciphertext
(``store.id_cipher``), converted in batches; a consent request's ``offered_by`` and
``user_token`` (SHA-256 of an id, which trying every number reverses) become keyed hashes.

The keys come from the hub secret key, handed in by ``consenthub db upgrade``
(``store.migrate.upgrade(secret_key=...)``); a database with end users cannot be
converted without it. So that the old numbers stay in no freed page, SQLite zeroes what
the migration frees (``secure_delete``; ``migrate.upgrade`` then empties the WAL) and
PostgreSQL rewrites ``end_users`` (``CLUSTER``). A downgrade opens the numbers again;
the consent hashes cannot be turned back, so a pending consent request that named a
person matches nobody after it (the person is asked to log in again), never anybody.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from consenthub.store.id_cipher import NationalIdCipher, SealedId

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
_end_users = sa.table(
    "end_users",
    sa.column("id", sa.Integer()),
    sa.column("national_id", sa.String()),
    sa.column("national_id_hash", sa.String()),
    sa.column("national_id_key_id", sa.Integer()),
    sa.column("national_id_cipher", sa.LargeBinary()),
)
_requests = sa.table(
    "access_requests",
    sa.column("id", sa.String()),
    sa.column("process", sa.String()),
    sa.column("details", sa.JSON()),
)
_PERSON_HASHES = ("offered_by", "user_token")


def _cipher(conn: sa.Connection) -> NationalIdCipher | None:
    """The hub's id cipher, or None on a database with no end users (nothing to seal)."""
    secret_key = context.config.attributes.get("secret_key")
    if secret_key is None:
        if conn.execute(sa.select(_end_users.c.id).limit(1)).first() is None:
            return None
        raise RuntimeError(
            "migration 0011 seals the stored national identity numbers with keys derived "
            "from the hub secret key: run it with `consenthub db upgrade`, which has the key"
        )
    return NationalIdCipher(secret_key, context.config.attributes.get("national_id_key_id", 1))


def _secure_delete(conn: sa.Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA secure_delete=ON")


def upgrade() -> None:
    conn = op.get_bind()
    _secure_delete(conn)
    with op.batch_alter_table("end_users") as batch:
        batch.add_column(sa.Column("national_id_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("national_id_key_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("national_id_cipher", sa.LargeBinary(), nullable=True))
    cipher = _cipher(conn)
    if cipher is not None:
        _seal_all(conn, cipher)
        _hash_consent_persons(conn, cipher)
    with op.batch_alter_table("end_users") as batch:
        batch.drop_constraint("uq_end_users_national_id", type_="unique")
        batch.drop_column("national_id")
        batch.alter_column("national_id_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("national_id_key_id", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("national_id_cipher", existing_type=sa.LargeBinary(), nullable=False)
        batch.create_unique_constraint(op.f("uq_end_users_national_id_hash"), ["national_id_hash"])
    if conn.dialect.name == "postgresql":
        # DROP COLUMN leaves the values in the rows until they are rewritten.
        conn.exec_driver_sql("CLUSTER end_users USING pk_end_users")


def _seal_all(conn: sa.Connection, cipher: NationalIdCipher) -> None:
    after = 0
    while True:
        rows = conn.execute(
            sa.select(_end_users.c.id, _end_users.c.national_id)
            .where(_end_users.c.id > after)
            .order_by(_end_users.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        sealed = [(row.id, cipher.seal(row.national_id)) for row in rows]
        conn.execute(
            _end_users.update()
            .where(_end_users.c.id == sa.bindparam("row_id"))
            .values(
                national_id_hash=sa.bindparam("lookup_hash"),
                national_id_key_id=sa.bindparam("key_id"),
                national_id_cipher=sa.bindparam("ciphertext"),
            ),
            [
                {
                    "row_id": row_id,
                    "lookup_hash": seal.lookup_hash,
                    "key_id": seal.key_id,
                    "ciphertext": seal.ciphertext,
                }
                for row_id, seal in sealed
            ],
        )
        after = rows[-1].id


def _hash_consent_persons(conn: sa.Connection, cipher: NationalIdCipher) -> None:
    rows = conn.execute(
        sa.select(_requests.c.id, _requests.c.details).where(_requests.c.process == "consent")
    ).all()
    for row in rows:
        details = dict(row.details or {})
        if not any(details.get(name) for name in _PERSON_HASHES):
            continue
        for name in _PERSON_HASHES:
            if details.get(name):
                details[name] = cipher.user_token_tag(details[name])
        conn.execute(_requests.update().where(_requests.c.id == row.id).values(details=details))


def downgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("end_users") as batch:
        batch.add_column(sa.Column("national_id", sa.String(length=11), nullable=True))
    cipher = _cipher(conn)
    if cipher is not None:
        rows = conn.execute(
            sa.select(
                _end_users.c.id,
                _end_users.c.national_id_hash,
                _end_users.c.national_id_key_id,
                _end_users.c.national_id_cipher,
            )
        ).all()
        for row in rows:
            plain = cipher.open(SealedId(row[1], row[2], row[3]))
            conn.execute(
                _end_users.update().where(_end_users.c.id == row.id).values(national_id=plain)
            )
    with op.batch_alter_table("end_users") as batch:
        batch.drop_constraint("uq_end_users_national_id_hash", type_="unique")
        batch.drop_column("national_id_cipher")
        batch.drop_column("national_id_key_id")
        batch.drop_column("national_id_hash")
        batch.alter_column("national_id", existing_type=sa.String(11), nullable=False)
        batch.create_unique_constraint(op.f("uq_end_users_national_id"), ["national_id"])
