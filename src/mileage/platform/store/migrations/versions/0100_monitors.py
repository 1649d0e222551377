"""Monitors: monitored pipelines, suite versions, runs, findings and statistics.

Revision ID: 0100_monitors
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0100_monitors"
down_revision = None
branch_labels = ("monitors",)
depends_on = "0001_core"


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("model_uri", sa.String(length=1024), nullable=True),
        sa.Column("tracking_uri", sa.String(length=2048), nullable=True),
        sa.Column("reference_uri", sa.Text(), nullable=False),
        sa.Column("batches_uri", sa.Text(), nullable=True),
        sa.Column("labels_uri", sa.Text(), nullable=True),
        sa.Column("id_column", sa.String(length=256), nullable=True),
        sa.Column("cadence", sa.String(length=32), nullable=True),
        sa.Column("owner", sa.String(length=256), nullable=True),
        sa.Column("config", _json(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitors")),
        sa.UniqueConstraint("name", name=op.f("uq_monitors_name")),
    )
    op.create_table(
        "monitor_runs",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("monitor_id", _id(), nullable=False),
        sa.Column("batch_id", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("model_version", sa.String(length=256), nullable=True),
        sa.Column("suite_version", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("n_rows", sa.BigInteger(), nullable=True),
        sa.Column("n_columns", sa.Integer(), nullable=True),
        sa.Column("n_findings", sa.Integer(), nullable=False),
        sa.Column("n_blocking", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("summary", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_monitor_runs_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_runs")),
    )
    op.create_index(
        "ix_monitor_runs_monitor_batch", "monitor_runs", ["monitor_id", "batch_id"], unique=False
    )
    op.create_index(
        "ix_monitor_runs_monitor_started",
        "monitor_runs",
        ["monitor_id", "started_at"],
        unique=False,
    )
    op.create_table(
        "monitor_suites",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("monitor_id", _id(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("reference_digest", sa.String(length=64), nullable=True),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_monitor_suites_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_suites")),
        sa.UniqueConstraint(
            "monitor_id", "version", name=op.f("uq_monitor_suites_monitor_id_version")
        ),
    )
    op.create_table(
        "monitor_findings",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("run_id", _id(), nullable=False),
        sa.Column("monitor_id", _id(), nullable=False),
        sa.Column("pipeline", sa.String(length=128), nullable=False),
        sa.Column("batch_id", sa.String(length=256), nullable=False),
        sa.Column("model_version", sa.String(length=256), nullable=True),
        sa.Column("check_kind", sa.String(length=32), nullable=False),
        sa.Column("check", sa.String(length=128), nullable=False),
        sa.Column("column", sa.String(length=512), nullable=True),
        sa.Column("slice", sa.String(length=256), nullable=True),
        sa.Column("statistic", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence", _json(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_monitor_findings_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["monitor_runs.id"],
            name=op.f("fk_monitor_findings_run_id_monitor_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_findings")),
    )
    op.create_index(
        "ix_monitor_findings_kind_column",
        "monitor_findings",
        ["monitor_id", "check_kind", "column"],
        unique=False,
    )
    op.create_index(
        "ix_monitor_findings_monitor_batch",
        "monitor_findings",
        ["monitor_id", "batch_id"],
        unique=False,
    )
    op.create_index("ix_monitor_findings_run", "monitor_findings", ["run_id"], unique=False)
    op.create_table(
        "monitor_statistics",
        sa.Column("run_id", _id(), nullable=False),
        sa.Column("check_kind", sa.String(length=32), nullable=False),
        sa.Column("column", sa.String(length=512), nullable=False),
        sa.Column("slice", sa.String(length=256), nullable=False),
        sa.Column("statistic", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["monitor_runs.id"],
            name=op.f("fk_monitor_statistics_run_id_monitor_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "run_id",
            "check_kind",
            "column",
            "slice",
            "statistic",
            name=op.f("pk_monitor_statistics"),
        ),
    )


def downgrade() -> None:
    op.drop_table("monitor_statistics")
    op.drop_index("ix_monitor_findings_run", table_name="monitor_findings")
    op.drop_index("ix_monitor_findings_monitor_batch", table_name="monitor_findings")
    op.drop_index("ix_monitor_findings_kind_column", table_name="monitor_findings")
    op.drop_table("monitor_findings")
    op.drop_table("monitor_suites")
    op.drop_index("ix_monitor_runs_monitor_started", table_name="monitor_runs")
    op.drop_index("ix_monitor_runs_monitor_batch", table_name="monitor_runs")
    op.drop_table("monitor_runs")
    op.drop_table("monitors")
