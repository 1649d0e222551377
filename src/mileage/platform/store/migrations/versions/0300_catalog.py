"""Catalog: OpenML flows, source-specific configuration ids, configuration portfolios.

Revision ID: 0300_catalog
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0300_catalog"
down_revision = None
branch_labels = ("catalog",)
depends_on = "0001_core"

_ID = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "flows",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("source_id", _ID, nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("external_version", sa.String(length=1024), nullable=True),
        sa.Column("uploader", sa.String(length=256), nullable=True),
        sa.Column("upload_ms", sa.BigInteger(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("structure", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_flows_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flows")),
        sa.UniqueConstraint(
            "source_id", "external_id", name=op.f("uq_flows_source_id_external_id")
        ),
    )
    op.create_table(
        "source_configurations",
        sa.Column("source_id", _ID, nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=True),
        sa.Column("flow_external_id", sa.String(length=256), nullable=True),
        sa.Column("configuration_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["configuration_id"],
            ["configurations.id"],
            name=op.f("fk_source_configurations_configuration_id_configurations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_source_configurations_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", "external_id", name=op.f("pk_source_configurations")),
    )
    op.create_table(
        "portfolio_members",
        sa.Column("source_id", _ID, nullable=False),
        sa.Column("portfolio", sa.String(length=256), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("configuration_id", _ID, nullable=False),
        sa.Column("meta", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["configuration_id"],
            ["configurations.id"],
            name=op.f("fk_portfolio_members_configuration_id_configurations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_portfolio_members_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "source_id", "portfolio", "position", name=op.f("pk_portfolio_members")
        ),
    )


def downgrade() -> None:
    op.drop_table("portfolio_members")
    op.drop_table("source_configurations")
    op.drop_table("flows")
