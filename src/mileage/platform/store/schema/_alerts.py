"""Tables of the alerts area: alerts (one per root cause), their history, the suggestions that
answer them (the inbox) and every delivery of a suggestion to a router.

An *alert* groups the findings that share one likely cause (a broken upstream column, a drift
of the inputs, an SLO breach after a release...) across batches: a repeat updates the open
alert instead of opening another. Every state change is an *alert event* with its time and
actor, so demotions and auto-resolutions stay visible. A *suggestion* is a remedy for an
alert, with evidence, expected effect and a configuration diff; the table is the inbox that
``mileage suggestions`` reads. *Deliveries* record each router's attempts (MLflow tags, a
webhook, plugins) per alert level, so a failing router is retried, an escalation to a page is
a new message, and nothing is sent twice. The *cursor* says
which monitor runs the alert policy has already read.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mileage.platform.store.schema._core import Id, Json, Timestamp, metadata

alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("monitor_id", Id, ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
    Column("pipeline", String(128), nullable=False),
    Column("key", String(640), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("level", String(16), nullable=False),
    Column("policy_level", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("demoted", Boolean, nullable=False),
    Column("slo_breached", Boolean, nullable=False),
    Column("owner", String(256), nullable=False),
    Column("model_version", String(256)),
    Column("columns", Json, nullable=False),
    Column("title", Text, nullable=False),
    Column("evidence", Json, nullable=False),
    Column("first_batch", String(256), nullable=False),
    Column("last_batch", String(256), nullable=False),
    Column("batches", Integer, nullable=False),
    Column("quiet_batches", Integer, nullable=False),
    Column("n_findings", Integer, nullable=False),
    Column("opened_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("acknowledged_at", Timestamp),
    Column("acknowledged_by", String(256)),
    Column("resolved_at", Timestamp),
    Column("resolved_by", String(256)),
    Index("ix_alerts_monitor_status", "monitor_id", "status"),
    Index("ix_alerts_monitor_key", "monitor_id", "key"),
    Index("ix_alerts_pipeline_kind", "pipeline", "kind"),
)

alert_findings = Table(
    "alert_findings",
    metadata,
    Column("alert_id", Id, ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "finding_id", Id, ForeignKey("monitor_findings.id", ondelete="CASCADE"), primary_key=True
    ),
    Index("ix_alert_findings_finding", "finding_id"),
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", Id, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(32), nullable=False),
    Column("level", String(16), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("detail", Json, nullable=False),
    Column("at", Timestamp, nullable=False),
    Index("ix_alert_events_alert", "alert_id"),
)

alert_cursors = Table(
    "alert_cursors",
    metadata,
    Column("monitor_id", Id, ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True),
    Column("last_run_id", Id, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

suggestions = Table(
    "suggestions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", Id, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("monitor_id", Id, ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
    Column("pipeline", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("auto", Boolean, nullable=False),
    Column("title", Text, nullable=False),
    Column("rationale", Text, nullable=False),
    Column("expected_effect", Text, nullable=False),
    Column("confidence", String(16), nullable=False),
    Column("evidence", Json, nullable=False),
    Column("diff", Text, nullable=False),
    Column("diff_format", String(8), nullable=False),
    Column("action", Json, nullable=False),
    Column("owner", String(256), nullable=False),
    Column("recipients", Json, nullable=False),
    Column("model_version", String(256)),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("decided_by", String(256)),
    Column("decided_at", Timestamp),
    Column("result", Json),
    UniqueConstraint("alert_id", "kind"),
    Index("ix_suggestions_status_owner", "status", "owner"),
    Index("ix_suggestions_monitor", "monitor_id"),
)

suggestion_deliveries = Table(
    "suggestion_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("suggestion_id", Id, ForeignKey("suggestions.id", ondelete="CASCADE"), nullable=False),
    Column("router", String(64), nullable=False),
    Column("level", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("next_attempt_at", Timestamp),
    Column("delivered_at", Timestamp),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    UniqueConstraint("suggestion_id", "router", "level"),
    Index("ix_suggestion_deliveries_status", "status"),
)

#: Tables created by the alerts migration, in dependency order.
ALERT_TABLES = (
    alerts,
    alert_findings,
    alert_events,
    alert_cursors,
    suggestions,
    suggestion_deliveries,
)
