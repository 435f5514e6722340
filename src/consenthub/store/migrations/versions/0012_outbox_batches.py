"""Outbox batches (issue 10): a change that tells a party of several events at once writes
one row holding them (``batch_events``), which the worker fans out into a message per
event; the messages keep the batch's place in the party's order (``batch_id``).

Rows written before have neither: each is one message in its own place (its ``id``), as
before, so they are delivered unchanged.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("batch_events", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column(
                "batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )


def downgrade() -> None:
    # The code before this revision would take a batch for one message and send its
    # whole payload as one event: refused while any batch is left.
    batches = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM outbox WHERE batch_events IS NOT NULL"))
        .scalar_one()
    )
    if batches:
        raise RuntimeError(
            f"{batches} outbox batches are not fanned out: let `consenthub worker` send"
            " them (a failed one after `consenthub webhooks retry`), then downgrade"
        )
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("batch_id")
        batch.drop_column("batch_events")
