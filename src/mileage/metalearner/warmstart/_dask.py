"""Meta-learner training on a Dask cluster: the surrogate over millions of runs.

The part of warm-start training that grows with the number of runs is the surrogate, a
LightGBM regressor over (meta-features, configuration features) -> regret with one row per
evaluated run. On Dask the training table is exported to Parquet, one file per block of
tasks (a task's runs are never split between two files, so never between two partitions),
read with ``dask.dataframe`` and fitted with ``lightgbm.dask.DaskLGBMRegressor`` with the
parameters of the single-machine fit. The fitted booster is the same LightGBM text model
the ranker saves on one machine; the embedding and the portfolio (one row per task, small)
are fitted in this process as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mileage.platform.extras import require

#: Tasks per exported Parquet file (one Dask partition each).
TASKS_PER_FILE = 200


def training_table(X: np.ndarray, C: np.ndarray, regret: np.ndarray, observed: np.ndarray) -> Any:
    """One row per evaluated run: ``task``, meta-features ``m*``, configuration features
    ``c*`` and the run's ``regret`` (tasks in order)."""
    import pandas as pd

    rows, cols = np.nonzero(observed)
    table = pd.DataFrame(X[rows], columns=[f"m{i}" for i in range(X.shape[1])])
    for j in range(C.shape[1]):
        table[f"c{j}"] = C[cols, j]
    table.insert(0, "task", rows.astype(np.int64))
    table["regret"] = regret[rows, cols]
    return table


def export_training_table(
    X: np.ndarray,
    C: np.ndarray,
    regret: np.ndarray,
    observed: np.ndarray,
    folder: Path,
    *,
    tasks_per_file: int = TASKS_PER_FILE,
) -> list[Path]:
    """Write the training table as Parquet files of whole tasks; returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("part-*.parquet"):
        old.unlink()
    table = training_table(X, C, regret, observed)
    files = []
    n_tasks = X.shape[0]
    for i, start in enumerate(range(0, n_tasks, tasks_per_file)):
        block = table[(table.task >= start) & (table.task < start + tasks_per_file)]
        path = folder / f"part-{i:05d}.parquet"
        block.to_parquet(path, index=False)
        files.append(path)
    return files


def fit_surrogate_on_dask(client: Any, folder: Path, params: dict[str, Any], rounds: int) -> Any:
    """Fit the surrogate from the exported table in ``folder`` on ``client``'s cluster.

    Returns:
        A ``lightgbm.Booster`` rebuilt from the fitted model's text (the format saved by
        :meth:`WarmStartRanker.to_files`).
    """
    require("dask", "meta-learner training on Dask")
    import dask.dataframe as dd
    import lightgbm as lgb
    from lightgbm.dask import DaskLGBMRegressor

    frame = dd.read_parquet(str(folder), split_row_groups=False)
    features = [c for c in frame.columns if c[0] in "mc" and c[1:].isdigit()]
    # Held on the workers as read (one partition per file, so per block of whole tasks):
    # the features and the target then share their partitions.
    frame = client.persist(frame[[*features, "regret"]])
    kwargs = {k: v for k, v in params.items() if k not in ("num_threads", "verbose")}
    model = DaskLGBMRegressor(client=client, n_estimators=rounds, verbose=-1, **kwargs)
    model.fit(frame[features], frame["regret"])
    return lgb.Booster(model_str=model.booster_.model_to_string())


def fit_on_dask(
    ranker: Any,
    client: Any,
    X: Any,
    y: Any,
    *,
    configurations: Any,
    folder: Path,
    tasks_per_file: int = TASKS_PER_FILE,
) -> Any:
    """``ranker.fit(X, y, configurations=...)`` with the surrogate trained on Dask.

    ``folder`` receives the exported training table; the workers must see it at the same
    path (a shared file system).
    """

    def trainer(
        params: dict[str, Any],
        rounds: int,
        X: np.ndarray,
        C: np.ndarray,
        regret: np.ndarray,
        observed: np.ndarray,
    ) -> Any:
        export_training_table(X, C, regret, observed, folder, tasks_per_file=tasks_per_file)
        return fit_surrogate_on_dask(client, folder, params, rounds)

    return ranker.fit(X, y, configurations=configurations, surrogate_trainer=trainer)


__all__ = ["export_training_table", "fit_on_dask", "fit_surrogate_on_dask", "training_table"]
