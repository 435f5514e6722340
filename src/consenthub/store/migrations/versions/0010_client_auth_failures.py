"""Failed client authentications in the shared database, so that the throttle's budget
holds across server processes (probe defect 3; ``registry/throttle.py``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "client_auth_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("failed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_auth_failures")),
    )
    op.create_index(
        "ix_client_auth_failures_key_failed_at",
        "client_auth_failures",
        ["key", "failed_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_client_auth_failures_failed_at"),
        "client_auth_failures",
        ["failed_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_client_auth_failures_failed_at"), table_name="client_auth_failures")
    op.drop_index("ix_client_auth_failures_key_failed_at", table_name="client_auth_failures")
    op.drop_table("client_auth_failures")
