"""Logging an executor run to MLflow, so the MLflow collector rebuilds its pipeline."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

from mileage.metalearner.executor._trace import flat_params, pipeline_tag
from mileage.platform.pipelines import PIPELINE_TAG, OperatorSpec

_BATCH = 100


def log_run(
    tracking_uri: str,
    *,
    experiment: str,
    run_name: str,
    user: str | None,
    specs: Sequence[OperatorSpec],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    start_ms: int,
    end_ms: int,
) -> str:
    """Create one finished MLflow run with params, metrics and the ``mileage.pipeline`` tag.

    Returns:
        The MLflow run id.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    exp_id = found.experiment_id if found is not None else client.create_experiment(experiment)
    all_tags = {PIPELINE_TAG: pipeline_tag(specs), **tags}
    if user:
        all_tags["mlflow.user"] = user
    run = client.create_run(exp_id, start_time=start_ms, tags=all_tags, run_name=run_name)
    run_id: str = run.info.run_id
    params = [Param(k, v) for k, v in flat_params(specs).items()]
    points = [Metric(k, float(v), end_ms, 0) for k, v in metrics.items() if v == v]
    for i in range(0, max(len(params), len(points)), _BATCH):
        client.log_batch(run_id, params=params[i : i + _BATCH], metrics=points[i : i + _BATCH])
    client.set_terminated(run_id, status="FINISHED", end_time=end_ms)
    return run_id


__all__ = ["log_run"]
