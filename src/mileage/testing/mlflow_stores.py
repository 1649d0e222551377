"""Build small but complete MLflow tracking stores with MLflow itself, for tests.

The store holds what real users produce: experiments, runs chained by user with one change
at a time (scikit-learn style ``step__param`` names), full metric histories (with NaN and
infinite values in one run), dataset inputs, a deleted run, a run left RUNNING, and a model
registry with versions, aliases and stage transitions.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASE_MS = 1_700_000_000_000


@dataclass
class BuiltStore:
    """What :func:`build_tracking_store` logged (the ground truth tests compare against)."""

    uri: str
    path: Path
    run_ids: list[str] = field(default_factory=list)
    params: dict[str, dict[str, str]] = field(default_factory=dict)
    metrics: dict[str, dict[str, list[tuple[int, int, float]]]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    running: set[str] = field(default_factory=set)
    experiments: list[str] = field(default_factory=list)


def _quiet_mlflow() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    import logging

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)


def build_tracking_store(
    path: Path, *, runs_per_chain: int = 6, steps: int = 20, registry: bool = True
) -> BuiltStore:
    """Create ``path`` (an MLflow SQLite database) and fill it.

    Args:
        path: Database file to create.
        runs_per_chain: Runs per (experiment, user) chain; there are 2 x 2 chains.
        steps: Points in each ``loss`` history.
        registry: Also register a model with versions, aliases and a stage transition.
    """
    _quiet_mlflow()
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    uri = f"sqlite:///{path}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    built = BuiltStore(uri=uri, path=path)
    artifacts = path.parent / "artifacts"
    clock = BASE_MS
    for exp_name in ("churn", "fraud"):
        exp_id = client.create_experiment(exp_name, artifact_location=artifacts.as_uri())
        built.experiments.append(exp_id)
        for user in ("alice", "bob"):
            params = {
                "scaler": "StandardScaler()",
                "scaler__with_mean": "True",
                "clf": "LogisticRegression()",
                "clf__C": "1.0",
                "clf__max_iter": "100",
            }
            for i in range(runs_per_chain):
                if i == 2:
                    params["clf__C"] = "0.1"
                elif i == 3:
                    params["scaler__with_mean"] = "False"
                elif i == 4:
                    params = {"pca": "PCA()", "pca__n_components": "5", **params}
                elif i >= 5:
                    params["clf__max_iter"] = str(100 * i)
                clock += 60_000
                run = client.create_run(
                    exp_id,
                    start_time=clock,
                    tags={"mlflow.user": user, "mlflow.runName": f"{user}-{i}"},
                    run_name=f"{user}-{i}",
                )
                rid = run.info.run_id
                history = [(s, clock + s * 10, 1.0 / (s + 1 + i)) for s in range(steps)]
                if exp_name == "fraud" and user == "bob" and i == 1:
                    history[3] = (3, history[3][1], float("nan"))
                    history[4] = (4, history[4][1], float("inf"))
                    history[5] = (5, history[5][1], float("-inf"))
                auc = [(0, clock + 5, 0.7 + i / 100)]
                metrics = [Metric("loss", v, ts, s) for s, ts, v in history] + [
                    Metric("auc", v, ts, s) for s, ts, v in auc
                ]
                client.log_batch(
                    rid, metrics=metrics, params=[Param(k, v) for k, v in params.items()]
                )
                built.run_ids.append(rid)
                built.params[rid] = dict(params)
                built.metrics[rid] = {"loss": history, "auc": auc}
                if exp_name == "churn" and user == "alice" and i == 0:
                    _log_dataset(client, rid)
                if exp_name == "fraud" and user == "alice" and i == runs_per_chain - 1:
                    built.running.add(rid)  # left RUNNING
                    continue
                client.set_terminated(rid, end_time=clock + 30_000)
    victim = built.run_ids[1]
    client.delete_run(victim)
    built.deleted.add(victim)
    if registry:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client.create_registered_model("churn-model")
            for rid in built.run_ids[2:5]:
                client.create_model_version("churn-model", f"runs:/{rid}/model", run_id=rid)
            client.set_registered_model_alias("churn-model", "champion", "1")
            client.transition_model_version_stage("churn-model", "1", "Staging")
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    return built


def _log_dataset(client: Any, run_id: str) -> None:
    import mlflow.data
    import pandas as pd
    from mlflow.entities import DatasetInput, InputTag

    frame = pd.DataFrame({"age": [31, 45, 27], "plan": ["a", "b", "a"], "churned": [0, 1, 0]})
    dataset = mlflow.data.from_pandas(
        frame, source="s3://bucket/churn.parquet", name="churn-train", targets="churned"
    )
    client.log_inputs(
        run_id,
        [DatasetInput(dataset._to_mlflow_entity(), [InputTag("mlflow.data.context", "training")])],
    )


def move_registry(uri: str) -> None:
    """Second act of the registry story: new champion, stage transitions, alias removal."""
    _quiet_mlflow()
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client.set_registered_model_alias("churn-model", "champion", "2")
        client.set_registered_model_alias("churn-model", "challenger", "3")
        client.transition_model_version_stage("churn-model", "1", "Archived")
        client.transition_model_version_stage("churn-model", "2", "Production")


def finite(value: float) -> bool:
    """True for finite floats (helper for comparing histories)."""
    return not (math.isnan(value) or math.isinf(value))
