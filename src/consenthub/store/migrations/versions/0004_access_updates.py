"""BRS-NO-622: one pending request per party and metering point, enforced by a unique
key on the request items; received messages with their acknowledgements.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_request_items") as batch:
        batch.add_column(sa.Column("pending_key", sa.String(length=40), nullable=True))
        batch.create_unique_constraint(op.f("uq_access_request_items_pending_key"), ["pending_key"])
    op.create_table(
        "access_update_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledgement", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_access_update_messages_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_update_messages")),
        sa.UniqueConstraint(
            "party_id", "message_id", name=op.f("uq_access_update_messages_party_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("access_update_messages")
    with op.batch_alter_table("access_request_items") as batch:
        batch.drop_constraint(op.f("uq_access_request_items_pending_key"), type_="unique")
        batch.drop_column("pending_key")
