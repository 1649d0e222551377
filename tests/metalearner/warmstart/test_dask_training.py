"""Warm-start training with the surrogate fitted on a 2-worker Dask LocalCluster ranks
held-out tasks like the single-machine fit, and saves the same LightGBM text model format.

Data: synthetic tasks (meta-features and configuration features drawn with numpy; a task's
error is a smooth function of both, with a third of the runs missing so the surrogate fills
them), evaluated leave-tasks-out on 20 held-out tasks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mileage.metalearner.warmstart import WarmStartRanker, export_training_table, fit_on_dask

pytestmark = pytest.mark.slow  # starts servers or clusters, or checks big batches

pytest.importorskip("distributed")


def synthetic_tasks(n_tasks: int = 220, n_configs: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_tasks, 4))
    C = rng.uniform(-1, 1, size=(n_configs, 3))
    best = np.tanh(X[:, :3])  # each task prefers the configuration nearest its optimum
    error = ((best[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    error += rng.normal(scale=0.05, size=error.shape)
    missing = rng.random(error.shape) < 0.33
    missing[np.arange(n_tasks), error.argmin(axis=1)] = False
    return X, C, np.where(missing, np.nan, error), error


def _regret_at(order: np.ndarray, truth: np.ndarray, k: int) -> float:
    lo, hi = truth.min(), truth.max()
    return float((truth[order[:k]].min() - lo) / (hi - lo))


def test_dask_surrogate_ranks_tasks_like_one_machine(dask_client, tmp_path: Path) -> None:
    X, C, errors, truth = synthetic_tasks()
    train, test = slice(0, 200), slice(200, 220)
    kwargs = dict(n_estimators=40, surrogate_estimators=60, random_state=0)
    local = WarmStartRanker(**kwargs).fit(X[train], errors[train], configurations=C)
    on_dask = fit_on_dask(
        WarmStartRanker(**kwargs),
        dask_client,
        X[train],
        errors[train],
        configurations=C,
        folder=tmp_path / "table",
        tasks_per_file=50,
    )
    # the same model format: LightGBM text, saved and loaded like the local one
    files = on_dask.to_files()
    assert files["surrogate.txt"].startswith("tree\nversion=v4")
    reloaded = WarmStartRanker.from_files(files)
    a_order, _ = local.recommend(X[test], k=C.shape[0])
    b_order, _ = on_dask.recommend(X[test], k=C.shape[0])
    c_order, _ = reloaded.recommend(X[test], k=C.shape[0])
    assert (b_order == c_order).all()
    taus = []
    for a, b in zip(a_order, b_order, strict=True):
        rank_a, rank_b = np.argsort(a), np.argsort(b)
        taus.append(stats.kendalltau(rank_a, rank_b).statistic)
    assert float(np.mean(taus)) >= 0.7, taus
    for k in (1, 3, 5):
        ra = np.mean([_regret_at(o, t, k) for o, t in zip(a_order, truth[test], strict=True)])
        rb = np.mean([_regret_at(o, t, k) for o, t in zip(b_order, truth[test], strict=True)])
        assert abs(ra - rb) <= 0.05, (k, ra, rb)


def test_exported_table_keeps_every_task_in_one_file(tmp_path: Path) -> None:
    import pandas as pd

    X, C, errors, _ = synthetic_tasks(n_tasks=23)
    observed = ~np.isnan(errors)
    files = export_training_table(X, C, errors, observed, tmp_path, tasks_per_file=5)
    assert len(files) == 5
    tasks = [set(pd.read_parquet(f, columns=["task"]).task) for f in files]
    assert sum(len(t) for t in tasks) == 23 and len(set().union(*tasks)) == 23
    assert sum(len(pd.read_parquet(f)) for f in files) == int(observed.sum())
