"""The outbox and webhooks: ``outbox``, ``webhook_secrets``, a party's disabled endpoint,
and how a grant ended (and whether it keeps values longer).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("failed_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_outbox_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_id")),
    )
    op.create_index(op.f("ix_outbox_party_id"), "outbox", ["party_id"], unique=False)
    op.create_index(
        "ix_outbox_open", "outbox", ["delivered_at", "failed_at", "due_at"], unique=False
    )
    op.create_table(
        "webhook_secrets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_webhook_secrets_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_secrets")),
    )
    op.create_index(
        op.f("ix_webhook_secrets_party_id"), "webhook_secrets", ["party_id"], unique=False
    )
    with op.batch_alter_table("parties") as batch:
        batch.add_column(sa.Column("webhook_disabled_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("ended_reason", sa.String(length=32), nullable=True))
        batch.add_column(
            sa.Column("extended_storage", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("extended_storage")
        batch.drop_column("ended_reason")
    with op.batch_alter_table("parties") as batch:
        batch.drop_column("webhook_disabled_at")
    op.drop_index(op.f("ix_webhook_secrets_party_id"), table_name="webhook_secrets")
    op.drop_table("webhook_secrets")
    op.drop_index("ix_outbox_open", table_name="outbox")
    op.drop_index(op.f("ix_outbox_party_id"), table_name="outbox")
    op.drop_table("outbox")
