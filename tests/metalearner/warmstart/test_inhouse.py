"""In-house MLflow runs tagged with their dataset's meta-features join the training data and
steer the ranking for datasets like theirs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mileage.collectors.metadata import import_metadata
from mileage.collectors.mlflow import MlflowCollector
from mileage.metalearner.metafeatures import compute_meta_features
from mileage.metalearner.warmstart._service import load_warmstart, recommend, train_warmstart
from mileage.metalearner.warmstart._traces import mlflow_tags, read_traces
from mileage.platform.store import TraceStore
from mileage.testing.mlflow_stores import BuiltStore

CONFIGS: list[dict[str, Any]] = [
    {"num_leaves": 4, "learning_rate": 0.3, "min_child_samples": 40, "colsample_bytree": 0.3},
    {"num_leaves": 8, "learning_rate": 0.1, "min_child_samples": 5, "colsample_bytree": 0.9},
    {"num_leaves": 16, "learning_rate": 0.05, "min_child_samples": 10, "colsample_bytree": 0.7},
    {"num_leaves": 31, "learning_rate": 0.02, "min_child_samples": 3, "colsample_bytree": 0.5},
    {"num_leaves": 64, "learning_rate": 0.5, "min_child_samples": 60, "colsample_bytree": 1.0},
    {"num_leaves": 2, "learning_rate": 0.01, "min_child_samples": 20, "colsample_bytree": 0.8},
]


def _log_wine_runs(uri: str) -> tuple[dict[str, float], str, int]:
    """Real LightGBM fits on wine, logged with the tags that make them training data.

    Uses ``MlflowClient`` with explicit ids: no process-wide MLflow state is left behind.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    import lightgbm as lgb
    from mlflow import MlflowClient
    from sklearn.datasets import load_wine
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split

    frame = load_wine(as_frame=True).frame
    features, problem = compute_meta_features(frame, "target")
    X, y = frame.drop(columns="target"), frame["target"]
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment("wine-lightgbm")
    losses = []
    for i, params in enumerate(CONFIGS):
        model = lgb.LGBMClassifier(n_estimators=200, n_jobs=1, verbose=-1, random_state=0, **params)
        model.fit(X_tr, y_tr)
        loss = float(log_loss(y_va, model.predict_proba(X_va)))
        losses.append(loss)
        run = client.create_run(experiment_id, run_name=f"wine-{i}")
        run_id = run.info.run_id
        for key, value in params.items():
            client.log_param(run_id, f"clf__{key}", value)
        client.log_metric(run_id, "log_loss", loss)
        for key, value in mlflow_tags(features, problem, "log_loss").items():
            client.set_tag(run_id, key, value)
        client.set_terminated(run_id, "FINISHED")
    return features, problem, int(np.argmin(losses))


@pytest.mark.slow
def test_tagged_mlflow_runs_become_a_training_task(
    sqlite_store: TraceStore, mlflow_store: BuiltStore, tabrepo_dir: Path
) -> None:
    features, problem, best = _log_wine_runs(mlflow_store.uri)
    MlflowCollector(mlflow_store.uri).collect(sqlite_store)
    import_metadata(sqlite_store, "tabrepo-lightgbm", tabrepo_dir)
    traces = read_traces(sqlite_store)
    inhouse = traces.tasks[traces.tasks["source"] != "tabrepo-lightgbm"]
    assert len(inhouse) == 1 and inhouse["metric"].iloc[0] == "log_loss"
    assert inhouse["problem_type"].iloc[0] == "multiclass"
    row = traces.errors.loc[inhouse.index[0]]
    assert row.notna().sum() == len(CONFIGS)  # the template's untagged runs are not training data
    report = train_warmstart(sqlite_store)
    assert report.tasks == 94 and len(report.tasks_by_source) == 2
    source = next(s for s in report.tasks_by_source if s != "tabrepo-lightgbm")
    loaded = load_warmstart(sqlite_store)
    # on its own dataset, the in-house task carries half of the weight
    x = traces.meta_matrix().loc[[inhouse.index[0]]]
    weights = loaded.model.task_weights(x)[0]
    position = list(traces.tasks.index).index(inhouse.index[0])
    assert weights[position] == pytest.approx(0.5)
    recs = recommend(
        loaded, features, problem, k=len(CONFIGS), candidates=source, store=sqlite_store
    )
    names = [r.name for r in recs]
    assert f"wine-{best}" in names[:2]  # the in-house winner is among the first two
    assert names[-1] == "wine-4"  # and the in-house disaster (loss 1.08) comes last
    assert all(r.sources == [source] for r in recs)
