"""Core tables of the trace store (SQLAlchemy Core): what collectors write.

Every collected object has a natural key, normally ``(source_id, external_id)``, so writes
are upserts and a replayed batch changes nothing. Source timestamps are kept as epoch
milliseconds (``*_ms``), as MLflow and OpenML report them; Mileage's own bookkeeping uses
timezone-aware datetimes.

Metric histories are stored one row per (run, metric key): the steps, timestamps and values
are packed little-endian arrays (int64, int64, float64) so that NaN and infinities survive
on every backend and a 500-point history is one row instead of 500. Summary columns (count,
last, min, max) serve queries that do not need the points; ``TraceStore.metric_history``
unpacks the rest.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql, sqlite

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

#: 64-bit ids on PostgreSQL; SQLite needs ``INTEGER PRIMARY KEY`` to autoincrement.
Id = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")
#: JSON documents (JSONB on PostgreSQL).
Json = JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = DateTime(timezone=True)


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _fk(name: str, target: str, *, nullable: bool = True, cascade: bool = False) -> Column[int]:
    return Column(
        name,
        Id,
        ForeignKey(target, ondelete="CASCADE" if cascade else "SET NULL"),
        nullable=nullable,
    )


sources = Table(
    "sources",
    metadata,
    _id(),
    Column("kind", String(32), nullable=False),
    Column("uri", String(2048), nullable=False),
    Column("display_name", String(512), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("kind", "uri"),
)

collector_cursors = Table(
    "collector_cursors",
    metadata,
    Column("source_id", Id, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Json, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

collector_passes = Table(
    "collector_passes",
    metadata,
    _id(),
    _fk("source_id", "sources.id", nullable=False, cascade=True),
    Column("started_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp),
    Column("status", String(16), nullable=False),
    Column("runs_written", Integer, nullable=False, default=0),
    Column("runs_unchanged", Integer, nullable=False, default=0),
    Column("warnings", Json, nullable=False),
    Column("error", Text),
    Index("ix_collector_passes_source_started", "source_id", "started_at"),
)

quarantine = Table(
    "quarantine",
    metadata,
    _id(),
    _fk("source_id", "sources.id", nullable=False, cascade=True),
    #: ``run``, ``row``, ``file`` or ``experiment``: what was set aside.
    Column("kind", String(32), nullable=False),
    #: The record's id in its source (run id, row key, or file path relative to the source).
    Column("record_id", String(512), nullable=False),
    #: The field that broke the rule (``start_time``, ``metrics.loss``, ``meta.yaml``...).
    Column("field", String(256), nullable=False),
    #: The rule and a short, truncated view of the value.
    Column("problem", Text, nullable=False),
    Column("first_seen_at", Timestamp, nullable=False),
    Column("last_seen_at", Timestamp, nullable=False),
    Column("passes", Integer, nullable=False, default=1),
    UniqueConstraint("source_id", "kind", "record_id", "field"),
)

experiments = Table(
    "experiments",
    metadata,
    _id(),
    _fk("source_id", "sources.id", nullable=False, cascade=True),
    Column("external_id", String(256), nullable=False),
    Column("name", String(1024), nullable=False),
    Column("artifact_location", Text),
    Column("lifecycle_stage", String(32), nullable=False),
    Column("created_ms", BigInteger),
    Column("tags", Json, nullable=False),
    UniqueConstraint("source_id", "external_id"),
)

datasets = Table(
    "datasets",
    metadata,
    _id(),
    _fk("source_id", "sources.id", nullable=False, cascade=True),
    Column("external_id", String(256), nullable=False),
    Column("name", String(1024), nullable=False),
    Column("digest", String(128)),
    Column("source_uri", Text),
    Column("schema", Json),
    Column("profile", Json),
    Column("meta_features", Json, nullable=False),
    UniqueConstraint("source_id", "external_id"),
)

tasks = Table(
    "tasks",
    metadata,
    _id(),
    _fk("source_id", "sources.id", nullable=False, cascade=True),
    Column("external_id", String(256), nullable=False),
    Column("name", String(1024)),
    _fk("dataset_id", "datasets.id"),
    Column("problem_type", String(32)),
    Column("target", String(256)),
    Column("metric", String(64)),
    Column("metric_direction", String(8)),
    Column("meta", Json, nullable=False),
    UniqueConstraint("source_id", "external_id"),
)

pipelines = Table(
    "pipelines",
    metadata,
    _id(),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("name", String(1024), nullable=False),
    Column("n_operators", Integer, nullable=False),
)

pipeline_operators = Table(
    "pipeline_operators",
    metadata,
    Column("pipeline_id", Id, ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", String(512), nullable=False),
    Column("kind", String(1024), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("params", Json, nullable=False),
    Column("inputs", Json, nullable=False),
)

configurations = Table(
    "configurations",
    metadata,
    _id(),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("learner", String(256), nullable=False),
    Column("params", Json, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    _id(),
    _fk("source_id", "sources.id", nullable=False, cascade=True),
    Column("external_id", String(256), nullable=False),
    _fk("experiment_id", "experiments.id"),
    Column("name", String(1024)),
    Column("user", String(256)),
    Column("status", String(16), nullable=False),
    Column("start_ms", BigInteger),
    Column("end_ms", BigInteger),
    Column("lifecycle_stage", String(32), nullable=False),
    Column("artifact_uri", Text),
    _fk("task_id", "tasks.id"),
    _fk("dataset_id", "datasets.id"),
    _fk("pipeline_id", "pipelines.id"),
    _fk("configuration_id", "configurations.id"),
    Column("signature", String(128), nullable=False),
    UniqueConstraint("source_id", "external_id"),
    Index("ix_runs_experiment_user_start", "experiment_id", "user", "start_ms"),
    Index("ix_runs_task", "task_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("value", Text, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("value", Text, nullable=False),
)

metric_histories = Table(
    "metric_histories",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("n_points", Integer, nullable=False),
    Column("last_step", BigInteger, nullable=False),
    Column("last_ms", BigInteger, nullable=False),
    Column("last_value", Float),
    Column("min_value", Float),
    Column("max_value", Float),
    Column("n_nonfinite", Integer, nullable=False),
    Column("steps", LargeBinary, nullable=False),
    Column("timestamps", LargeBinary, nullable=False),
    Column("values", LargeBinary, nullable=False),
)

run_datasets = Table(
    "run_datasets",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("dataset_id", Id, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("context", String(64), primary_key=True),
)

iterations = Table(
    "iterations",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    _fk("previous_run_id", "runs.id"),
    Column("chain_key", String(1024), nullable=False),
    Column("position", Integer, nullable=False),
    Column("unit", String(16), nullable=False),
    Column("n_previous_units", Integer, nullable=False),
    Column("n_reused_units", Integer, nullable=False),
    Column("reuse_ratio", Float),
    Column("changed_params", Json, nullable=False),
    Column("changed_operators", Json, nullable=False),
    Index("ix_iterations_chain", "chain_key", "position"),
)

model_versions = Table(
    "model_versions",
    metadata,
    _id(),
    _fk("source_id", "sources.id", nullable=False, cascade=True),
    Column("model_name", String(512), nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_external_id", String(256)),
    _fk("run_id", "runs.id"),
    Column("status", String(32)),
    Column("stage", String(32)),
    Column("source", Text),
    Column("description", Text),
    Column("created_ms", BigInteger),
    Column("updated_ms", BigInteger),
    Column("tags", Json, nullable=False),
    UniqueConstraint("source_id", "model_name", "version"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("source_id", Id, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column("model_name", String(512), primary_key=True),
    Column("alias", String(256), primary_key=True),
    Column("version", Integer, nullable=False),
)

registry_events = Table(
    "registry_events",
    metadata,
    _id(),
    _fk("source_id", "sources.id", nullable=False, cascade=True),
    Column("model_name", String(512), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(256), nullable=False),
    Column("version", Integer),
    Column("from_value", String(256)),
    Column("to_value", String(256)),
    Column("observed_ms", BigInteger, nullable=False),
    Index("ix_registry_events_model", "source_id", "model_name", "observed_ms"),
)

#: Tables created by the first migration, in dependency order.
CORE_TABLES = (
    sources,
    collector_cursors,
    collector_passes,
    experiments,
    datasets,
    tasks,
    pipelines,
    pipeline_operators,
    configurations,
    runs,
    params,
    tags,
    metric_histories,
    run_datasets,
    iterations,
    model_versions,
    model_aliases,
    registry_events,
)
