"""Executor and materialization planner: per-operator execution records.

Revision ID: 0500_materialize
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0500_materialize"
down_revision = None
branch_labels = ("materialize",)
depends_on = "0001_core"


def upgrade() -> None:
    op.create_table(
        "operator_executions",
        sa.Column(
            "run_id",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(length=512), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("output_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("compute_seconds", sa.Float(), nullable=True),
        sa.Column("load_seconds", sa.Float(), nullable=True),
        sa.Column("write_seconds", sa.Float(), nullable=True),
        sa.Column("output_bytes", sa.BigInteger(), nullable=True),
        sa.Column("materialized", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_operator_executions_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "position", name=op.f("pk_operator_executions")),
    )
    with op.batch_alter_table("operator_executions", schema=None) as batch_op:
        batch_op.create_index("ix_operator_executions_output", ["output_fingerprint"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("operator_executions", schema=None) as batch_op:
        batch_op.drop_index("ix_operator_executions_output")
    op.drop_table("operator_executions")
