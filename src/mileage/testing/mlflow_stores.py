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
    dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]
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


def build_large_store(
    path: Path,
    *,
    n_runs: int,
    n_params: int = 10,
    n_metrics: int = 10,
    n_steps: int = 50,
    n_experiments: int = 4,
    users: tuple[str, ...] = ("alice", "bob", "carol"),
    seed: int = 0,
    progress: Any = None,
) -> Path:
    """A large MLflow SQLite store: MLflow creates the schema, rows are bulk-inserted.

    Logging 10 million metric points through MLflow's client takes hours, so rows are
    written with one ``executemany`` per table into the tables MLflow created, exactly as
    MLflow's SQL store lays them out (``latest_metrics`` included; no ``ANALYZE``). The
    content is synthetic: each run changes one parameter of its predecessor.
    """
    import random
    import sqlite3
    import uuid

    _quiet_mlflow()
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    exp_ids = [client.create_experiment(f"experiment-{i}") for i in range(n_experiments)]
    rng = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA journal_mode=MEMORY")
    params = {f"param_{j}": str(rng.random()) for j in range(n_params)}
    clock = BASE_MS
    chunk = 500
    for start in range(0, n_runs, chunk):
        runs: list[tuple[Any, ...]] = []
        prm: list[tuple[Any, ...]] = []
        tags: list[tuple[Any, ...]] = []
        metrics: list[tuple[Any, ...]] = []
        latest: list[tuple[Any, ...]] = []
        for i in range(start, min(n_runs, start + chunk)):
            rid = uuid.UUID(int=rng.getrandbits(128)).hex
            exp = exp_ids[i % n_experiments]
            user = users[i % len(users)]
            clock += 1000
            params[f"param_{rng.randrange(n_params)}"] = str(rng.random())
            runs.append(
                (
                    rid,
                    f"run-{i}",
                    "LOCAL",
                    "bench.py",
                    "",
                    user,
                    "FINISHED",
                    clock,
                    clock + 900,
                    "",
                    "active",
                    f"{path.parent.as_uri()}/{rid}/artifacts",
                    int(exp),
                )
            )
            prm.extend((k, v, rid) for k, v in params.items())
            tags.extend(
                [
                    ("mlflow.user", user, rid),
                    ("mlflow.runName", f"run-{i}", rid),
                    ("mlflow.source.name", "bench.py", rid),
                ]
            )
            for m in range(n_metrics):
                key = f"metric_{m}"
                base = rng.random()
                for s in range(n_steps):
                    metrics.append((key, base / (s + 1), clock + s, rid, s, 0))
                latest.append((key, base / n_steps, clock + n_steps - 1, n_steps - 1, 0, rid))
        con.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            runs,
        )
        con.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", prm)
        con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tags)
        con.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)",
            metrics,
        )
        con.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?,?,?,?,?,?)",
            latest,
        )
        con.commit()
        if progress is not None:
            progress.advance(len(runs))
    con.close()
    return path
