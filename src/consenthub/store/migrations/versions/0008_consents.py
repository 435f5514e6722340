"""Altinn consent (seed 002): consent resources registered by data sources, and the
consents people give, with the hash of their single-use authorization code.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_resources",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("data_source_id", sa.Integer(), nullable=False),
        sa.Column("title_nb", sa.String(length=200), nullable=False),
        sa.Column("title_nn", sa.String(length=200), nullable=False),
        sa.Column("title_en", sa.String(length=200), nullable=False),
        sa.Column("context_template", sa.Text(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("max_duration_days", sa.Integer(), nullable=False),
        sa.Column("one_time", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["data_source_id"],
            ["parties.id"],
            name=op.f("fk_consent_resources_data_source_id_parties"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_consent_resources")),
    )
    op.create_index(
        op.f("ix_consent_resources_data_source_id"),
        "consent_resources",
        ["data_source_id"],
        unique=False,
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("access_request_id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("end_user_id", sa.Integer(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("valid_to", sa.DateTime(), nullable=False),
        sa.Column("one_time", sa.Boolean(), nullable=False),
        sa.Column("delegated_at", sa.DateTime(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("code_expires_at", sa.DateTime(), nullable=False),
        sa.Column("code_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.Column("expired_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["access_request_id"],
            ["access_requests.id"],
            name=op.f("fk_consents_access_request_id_access_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["end_user_id"], ["end_users.id"], name=op.f("fk_consents_end_user_id_end_users")
        ),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_consents_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
        sa.UniqueConstraint("access_request_id", name=op.f("uq_consents_access_request_id")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_consents_code_hash")),
    )
    op.create_index(op.f("ix_consents_end_user_id"), "consents", ["end_user_id"], unique=False)
    op.create_index(op.f("ix_consents_party_id"), "consents", ["party_id"], unique=False)
    op.create_index(op.f("ix_consents_valid_to"), "consents", ["valid_to"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_consents_valid_to"), table_name="consents")
    op.drop_index(op.f("ix_consents_party_id"), table_name="consents")
    op.drop_index(op.f("ix_consents_end_user_id"), table_name="consents")
    op.drop_table("consents")
    op.drop_index(op.f("ix_consent_resources_data_source_id"), table_name="consent_resources")
    op.drop_table("consent_resources")
