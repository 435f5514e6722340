"""Token records become a deny-list: drop ``tokens``, add ``token_revocations``.

Access tokens are self-contained signed JWTs; only revoked ones need a row. Tokens
issued before this revision carry a ``ref_token`` that is simply not revoked, so
they keep working until they expire (their revocations, if any, are carried over).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "token_revocations",
        sa.Column("ref_token", sa.String(length=64), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_token_revocations_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("ref_token", name=op.f("pk_token_revocations")),
    )
    op.create_index(
        op.f("ix_token_revocations_party_id"), "token_revocations", ["party_id"], unique=False
    )
    op.create_index(
        op.f("ix_token_revocations_expires_at"), "token_revocations", ["expires_at"], unique=False
    )
    op.execute(
        "INSERT INTO token_revocations (ref_token, party_id, expires_at, revoked_at) "
        "SELECT ref_token, party_id, expires_at, revoked_at FROM tokens "
        "WHERE revoked_at IS NOT NULL"
    )
    op.drop_index(op.f("ix_tokens_expires_at"), table_name="tokens")
    op.drop_index(op.f("ix_tokens_party_id"), table_name="tokens")
    op.drop_table("tokens")


def downgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("ref_token", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=500), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_tokens_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("ref_token", name=op.f("pk_tokens")),
        sa.UniqueConstraint("jti", name=op.f("uq_tokens_jti")),
    )
    op.create_index(op.f("ix_tokens_expires_at"), "tokens", ["expires_at"], unique=False)
    op.create_index(op.f("ix_tokens_party_id"), "tokens", ["party_id"], unique=False)
    op.drop_table("token_revocations")
