"""A party's privacy policy address, linked on every request Min side shows of it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("parties", sa.Column("privacy_url", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of the table would drop
    # ``parties``, which the other tables' foreign keys refer to.
    op.drop_column("parties", "privacy_url")
