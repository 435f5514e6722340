"""Grants ended before 0003 say how: before ``ended_reason`` existed, the only way a grant
ended early was its end user ending it in Min side (a ``grant.ended`` audit event), so
those get ``end_user``; the worker would otherwise take them for grants that ran to
their end date and tell their parties ``expired``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    grants = sa.table(
        "grants", sa.column("id", sa.Integer()), sa.column("ended_reason", sa.String())
    )
    events = sa.table(
        "audit_events", sa.column("action", sa.String()), sa.column("subject", sa.String())
    )
    op.execute(
        grants.update()
        .where(
            grants.c.ended_reason.is_(None),
            sa.exists().where(
                events.c.action == "grant.ended",
                events.c.subject == sa.literal("grant:") + sa.cast(grants.c.id, sa.String()),
            ),
        )
        .values(ended_reason="end_user")
    )


def downgrade() -> None:
    """The reasons it set cannot be told from later ones; they stay."""
