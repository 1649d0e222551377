"""Tables of the trace store, one module per area, all on one :data:`metadata`.

``_core`` holds what collectors write (sources, runs, params, tags, metric histories,
iterations, registry). Other areas (meta-learner, monitors, suggestions, daemon) add their
tables in their own module here, each with its own Alembic branch, and re-export them below.
"""

from __future__ import annotations

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
    registry_events,
    run_datasets,
    runs,
    sources,
    tags,
    tasks,
)
from mileage.platform.store.schema._materialize import MATERIALIZE_TABLES, operator_executions

__all__ = [
    "CORE_TABLES",
    "MATERIALIZE_TABLES",
    "NAMING",
    "Id",
    "Json",
    "Timestamp",
    "collector_cursors",
    "collector_passes",
    "configurations",
    "datasets",
    "experiments",
    "iterations",
    "metadata",
    "metric_histories",
    "model_aliases",
    "model_versions",
    "operator_executions",
    "params",
    "pipeline_operators",
    "pipelines",
    "registry_events",
    "run_datasets",
    "runs",
    "sources",
    "tags",
    "tasks",
]
