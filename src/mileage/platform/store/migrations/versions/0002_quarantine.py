"""Core: the quarantine of records a collector set aside instead of ingesting.

Revision ID: 0002_quarantine
Revises: 0001_core
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_quarantine"
down_revision = "0001_core"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "quarantine",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("source_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=512), nullable=False),
        sa.Column("field", sa.String(length=256), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_quarantine_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
        sa.UniqueConstraint(
            "source_id",
            "kind",
            "record_id",
            "field",
            name=op.f("uq_quarantine_source_id_kind_record_id_field"),
        ),
    )


def downgrade() -> None:
    op.drop_table("quarantine")
