"""Tables of the trace store, one module per area, all on one :data:`metadata`.

``_core`` holds what collectors write (sources, runs, params, tags, metric histories,
iterations, registry); ``_catalog`` holds OpenML flows, source-specific configuration ids and
configuration portfolios; ``_monitors`` holds monitored pipelines, their suites, runs, findings
and statistics; ``_alerts`` holds alerts, their events, the suggestion inbox and its
deliveries; ``_daemon`` holds the scheduler's job runs. Other areas add their tables in their
own module here, each with its own Alembic branch, and re-export them below.
"""

from __future__ import annotations

from mileage.platform.store.schema._alerts import (
    ALERT_TABLES,
    alert_cursors,
    alert_events,
    alert_findings,
    alerts,
    suggestion_deliveries,
    suggestions,
)
from mileage.platform.store.schema._catalog import (
    CATALOG_TABLES,
    flows,
    portfolio_members,
    source_configurations,
)
from mileage.platform.store.schema._core import (
    CORE_TABLES,
    NAMING,
    Id,
    Json,
    Timestamp,
    collector_cursors,
    collector_passes,
    configurations,
    datasets,
    experiments,
    iterations,
    metadata,
    metric_histories,
    model_aliases,
    model_versions,
    params,
    pipeline_operators,
    pipelines,
    quarantine,
    registry_events,
    run_datasets,
    runs,
    sources,
    tags,
    tasks,
)
from mileage.platform.store.schema._daemon import DAEMON_TABLES, job_runs
from mileage.platform.store.schema._materialize import MATERIALIZE_TABLES, operator_executions
from mileage.platform.store.schema._metalearner import (
    METALEARNER_TABLES,
    metalearner_model_files,
    metalearner_models,
)
from mileage.platform.store.schema._monitors import (
    MONITOR_TABLES,
    monitor_findings,
    monitor_runs,
    monitor_statistics,
    monitor_suites,
    monitors,
)

__all__ = [
    "ALERT_TABLES",
    "CATALOG_TABLES",
    "CORE_TABLES",
    "DAEMON_TABLES",
    "MATERIALIZE_TABLES",
    "METALEARNER_TABLES",
    "MONITOR_TABLES",
    "NAMING",
    "Id",
    "Json",
    "Timestamp",
    "alert_cursors",
    "alert_events",
    "alert_findings",
    "alerts",
    "collector_cursors",
    "collector_passes",
    "configurations",
    "datasets",
    "experiments",
    "flows",
    "iterations",
    "job_runs",
    "metadata",
    "metalearner_model_files",
    "metalearner_models",
    "metric_histories",
    "model_aliases",
    "model_versions",
    "monitor_findings",
    "monitor_runs",
    "monitor_statistics",
    "monitor_suites",
    "monitors",
    "operator_executions",
    "params",
    "pipeline_operators",
    "pipelines",
    "portfolio_members",
    "quarantine",
    "registry_events",
    "run_datasets",
    "runs",
    "source_configurations",
    "sources",
    "suggestion_deliveries",
    "suggestions",
    "tags",
    "tasks",
]
