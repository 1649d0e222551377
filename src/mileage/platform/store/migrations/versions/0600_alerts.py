"""Alerts: alerts grouped by root cause, their events, the suggestion inbox and deliveries.

Revision ID: 0600_alerts
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0600_alerts"
down_revision = None
branch_labels = ("alerts",)
depends_on = "0100_monitors"


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alert_cursors",
        sa.Column("monitor_id", _id(), nullable=False),
        sa.Column("last_run_id", _id(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_alert_cursors_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("monitor_id", name=op.f("pk_alert_cursors")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("monitor_id", _id(), nullable=False),
        sa.Column("pipeline", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=640), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("policy_level", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("demoted", sa.Boolean(), nullable=False),
        sa.Column("slo_breached", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(length=256), nullable=False),
        sa.Column("model_version", sa.String(length=256), nullable=True),
        sa.Column("columns", _json(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("evidence", _json(), nullable=False),
        sa.Column("first_batch", sa.String(length=256), nullable=False),
        sa.Column("last_batch", sa.String(length=256), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("quiet_batches", sa.Integer(), nullable=False),
        sa.Column("n_findings", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=256), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_alerts_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_monitor_key", "alerts", ["monitor_id", "key"], unique=False)
    op.create_index("ix_alerts_monitor_status", "alerts", ["monitor_id", "status"], unique=False)
    op.create_index("ix_alerts_pipeline_kind", "alerts", ["pipeline", "kind"], unique=False)
    op.create_table(
        "alert_events",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("alert_id", _id(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_events_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index("ix_alert_events_alert", "alert_events", ["alert_id"], unique=False)
    op.create_table(
        "suggestions",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("alert_id", _id(), nullable=False),
        sa.Column("monitor_id", _id(), nullable=False),
        sa.Column("pipeline", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("auto", sa.Boolean(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("expected_effect", sa.Text(), nullable=False),
        sa.Column("confidence", sa.String(length=16), nullable=False),
        sa.Column("evidence", _json(), nullable=False),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("diff_format", sa.String(length=8), nullable=False),
        sa.Column("action", _json(), nullable=False),
        sa.Column("owner", sa.String(length=256), nullable=False),
        sa.Column("recipients", _json(), nullable=False),
        sa.Column("model_version", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=256), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", _json(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_suggestions_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["monitor_id"],
            ["monitors.id"],
            name=op.f("fk_suggestions_monitor_id_monitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestions")),
        sa.UniqueConstraint("alert_id", "kind", name=op.f("uq_suggestions_alert_id_kind")),
    )
    op.create_index("ix_suggestions_monitor", "suggestions", ["monitor_id"], unique=False)
    op.create_index("ix_suggestions_status_owner", "suggestions", ["status", "owner"], unique=False)
    op.create_table(
        "alert_findings",
        sa.Column("alert_id", _id(), nullable=False),
        sa.Column("finding_id", _id(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_findings_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["monitor_findings.id"],
            name=op.f("fk_alert_findings_finding_id_monitor_findings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alert_id", "finding_id", name=op.f("pk_alert_findings")),
    )
    op.create_index("ix_alert_findings_finding", "alert_findings", ["finding_id"], unique=False)
    op.create_table(
        "suggestion_deliveries",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("suggestion_id", _id(), nullable=False),
        sa.Column("router", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["suggestion_id"],
            ["suggestions.id"],
            name=op.f("fk_suggestion_deliveries_suggestion_id_suggestions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestion_deliveries")),
        sa.UniqueConstraint(
            "suggestion_id",
            "router",
            "level",
            name=op.f("uq_suggestion_deliveries_suggestion_id_router_level"),
        ),
    )
    op.create_index(
        "ix_suggestion_deliveries_status", "suggestion_deliveries", ["status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_suggestion_deliveries_status", table_name="suggestion_deliveries")
    op.drop_table("suggestion_deliveries")
    op.drop_index("ix_alert_findings_finding", table_name="alert_findings")
    op.drop_table("alert_findings")
    op.drop_index("ix_suggestions_status_owner", table_name="suggestions")
    op.drop_index("ix_suggestions_monitor", table_name="suggestions")
    op.drop_table("suggestions")
    op.drop_index("ix_alert_events_alert", table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_index("ix_alerts_pipeline_kind", table_name="alerts")
    op.drop_index("ix_alerts_monitor_status", table_name="alerts")
    op.drop_index("ix_alerts_monitor_key", table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("alert_cursors")
