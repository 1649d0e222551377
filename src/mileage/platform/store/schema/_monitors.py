"""Tables of the monitors area: monitored pipelines, their suites, runs, findings, statistics.

A *monitor* is a deployed pipeline under watch: a model (an MLflow registry URI such as
``models:/churn@champion``), a reference data set, a source of scoring batches and a source of
late labels. Every check of a batch is a *run*; what a run found wrong (or provisional) is a
*finding*, one row each with the check kind, column, statistic, threshold, severity and a few
offending values as evidence. *Statistics* keep every measured value, failing or not, so trends
and persistence across batches are plain queries.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mileage.platform.store.schema._core import Id, Json, Timestamp, metadata

monitors = Table(
    "monitors",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("model_uri", String(1024)),
    Column("tracking_uri", String(2048)),
    Column("reference_uri", Text, nullable=False),
    Column("batches_uri", Text),
    Column("labels_uri", Text),
    Column("id_column", String(256)),
    Column("cadence", String(32)),
    Column("owner", String(256)),
    Column("config", Json, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

monitor_suites = Table(
    "monitor_suites",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("monitor_id", Id, ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("origin", String(16), nullable=False),
    Column("reference_digest", String(64)),
    Column("spec", Json, nullable=False),
    Column("note", Text),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("monitor_id", "version"),
)

monitor_runs = Table(
    "monitor_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("monitor_id", Id, ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
    Column("batch_id", String(256), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("model_version", String(256)),
    Column("suite_version", Integer),
    Column("status", String(16), nullable=False),
    Column("n_rows", BigInteger),
    Column("n_columns", Integer),
    Column("n_findings", Integer, nullable=False),
    Column("n_blocking", Integer, nullable=False),
    Column("started_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp),
    Column("error", Text),
    Column("summary", Json, nullable=False),
    # The n-th run of this batch (1, 2, ...), as planned by the process that ran it: unique
    # per (monitor, batch), so two processes that planned the same check cannot both store it.
    Column("seq", Integer),
    Index("ix_monitor_runs_monitor_batch", "monitor_id", "batch_id"),
    Index("uq_monitor_runs_monitor_batch_seq", "monitor_id", "batch_id", "seq", unique=True),
    Index("ix_monitor_runs_monitor_started", "monitor_id", "started_at"),
)

monitor_findings = Table(
    "monitor_findings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("monitor_runs.id", ondelete="CASCADE"), nullable=False),
    Column("monitor_id", Id, ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
    Column("pipeline", String(128), nullable=False),
    Column("batch_id", String(256), nullable=False),
    Column("model_version", String(256)),
    Column("check_kind", String(32), nullable=False),
    Column("check", String(128), nullable=False),
    Column("column", String(512)),
    Column("slice", String(256)),
    Column("statistic", String(64), nullable=False),
    Column("value", Float),
    Column("threshold", Float),
    Column("severity", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("evidence", Json, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Index("ix_monitor_findings_monitor_batch", "monitor_id", "batch_id"),
    Index("ix_monitor_findings_kind_column", "monitor_id", "check_kind", "column"),
    Index("ix_monitor_findings_run", "run_id"),
)

monitor_statistics = Table(
    "monitor_statistics",
    metadata,
    Column("run_id", Id, ForeignKey("monitor_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("check_kind", String(32), primary_key=True),
    Column("column", String(512), primary_key=True),
    Column("slice", String(256), primary_key=True),
    Column("statistic", String(64), primary_key=True),
    Column("value", Float),
)

#: Tables created by the monitors migration, in dependency order.
MONITOR_TABLES = (monitors, monitor_suites, monitor_runs, monitor_findings, monitor_statistics)
