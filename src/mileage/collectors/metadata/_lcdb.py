"""LCDB: learning curves of 20 scikit-learn learners (default hyperparameters) on OpenML
datasets, with their training times.

Two layouts are read:

* aggregated (the shared reference data): ``lcdb_curves_agg.parquet`` with the mean and
  standard deviation over seeds per metric, dataset, learner and training size, and
  ``datasets.csv`` with the datasets' OpenML qualities;
* the ``lcdb==0.1.0`` sdist: ``lcdb/database-<metric>.csv`` with one row per seed, which is
  aggregated the same way (mean, sample standard deviation, count) before import.

A run is one learner on one dataset. Its histories are indexed by training size (the
step): ``<metric>`` (validation mean), ``<metric>.std``, ``test_<metric>`` (and ``.std``),
``train_<metric>``, ``fit_time_s`` (and ``.std``) and ``n_seeds``; metrics follow the
vocabulary (``auc`` is ``roc_auc``, ``logloss`` is ``log_loss``; LCDB's ``f1`` takes the
minority class as positive and exists for binary datasets only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mileage.collectors.metadata._base import (
    ConfigSpec,
    DatasetSpec,
    MetadataBatch,
    RunSpec,
    TaskSpec,
    check_complete_csv,
)
from mileage.platform.errors import ConfigError, DataError
from mileage.platform.vocabulary import from_lcdb_metric, meta_features_from_openml, problem_type

AGGREGATED = "lcdb_curves_agg.parquet"
DATASETS = "datasets.csv"
RAW_METRICS = ("accuracy", "auc", "f1", "logloss")
_COLUMNS = {
    "metric",
    "openmlid",
    "learner",
    "size_train",
    "n",
    "valid_mean",
    "valid_std",
    "test_mean",
    "test_std",
    "train_mean",
    "traintime_mean",
    "traintime_std",
}


def learner_of(name: str) -> tuple[str, dict[str, Any]]:
    """``("sklearn.svm.SVC", {"kernel": "rbf"})`` from LCDB's ``SVC_rbf``; others map to
    ``sklearn.<module.Class>`` with default hyperparameters."""
    if name.startswith("SVC_"):
        return "sklearn.svm.SVC", {"kernel": name[4:]}
    return f"sklearn.{name}", {}


def aggregate_raw(folder: Path) -> Any:
    """The aggregated curves from the sdist's per-seed ``database-<metric>.csv`` files."""
    import pandas as pd

    frames = []
    for metric in RAW_METRICS:
        path = folder / f"database-{metric}.csv"
        if not path.is_file():
            continue
        check_complete_csv(path)
        raw = pd.read_csv(path)
        # the sdist writes "sklearn.ensemble.X", the aggregated table "ensemble.X"
        raw["learner"] = raw["learner"].str.removeprefix("sklearn.")
        grouped = raw.groupby(["openmlid", "learner", "size_train"])
        agg = grouped.agg(
            n=("score_valid", "size"),
            valid_mean=("score_valid", "mean"),
            valid_std=("score_valid", "std"),
            test_mean=("score_test", "mean"),
            test_std=("score_test", "std"),
            train_mean=("score_train", "mean"),
            traintime_mean=("traintime", "mean"),
            traintime_std=("traintime", "std"),
        ).reset_index()
        agg.insert(0, "metric", metric)
        frames.append(agg)
    if not frames:
        raise ConfigError(f"{str(folder)!r} holds no database-<metric>.csv files")
    return pd.concat(frames, ignore_index=True)


class Lcdb:
    """Importer of LCDB (see the module docstring)."""

    name = "lcdb"
    description = "LCDB 0.1.0: learning curves of 20 learners on OpenML datasets, with train times"
    package: str | None = "lcdb==0.1.0"

    def locate(self, path: Path) -> Path:
        candidates = [path, path / "lcdb", *sorted(path.glob("lcdb-*/lcdb"))]
        for candidate in candidates:
            if (candidate / AGGREGATED).is_file() or (
                candidate / "database-accuracy.csv"
            ).is_file():
                return candidate
        raise ConfigError(
            f"{str(path)!r} holds neither {AGGREGATED} nor lcdb/database-accuracy.csv; pass the "
            "shared reference data's lcdb folder or an unpacked lcdb 0.1.0 sdist."
        )

    def files(self, root: Path) -> list[Path]:
        names = (
            [AGGREGATED]
            if (root / AGGREGATED).is_file()
            else [f"database-{m}.csv" for m in RAW_METRICS]
        )
        return [root / n for n in [*names, DATASETS] if (root / n).is_file()]

    def read(self, root: Path) -> MetadataBatch:
        import pandas as pd

        batch = MetadataBatch()
        curves = (
            pd.read_parquet(root / AGGREGATED)
            if (root / AGGREGATED).is_file()
            else aggregate_raw(root)
        )
        missing = _COLUMNS - set(curves.columns)
        if missing:
            raise DataError(f"LCDB curves in {root}: columns {sorted(missing)} are missing")
        qualities = pd.DataFrame()
        if (root / DATASETS).is_file():
            check_complete_csv(root / DATASETS)
            qualities = pd.read_csv(root / DATASETS)
        by_id = (
            {int(r["openmlid"]): r for r in qualities.to_dict("records")} if len(qualities) else {}
        )
        curve_ids = sorted(int(i) for i in curves["openmlid"].unique())
        for did in sorted(set(curve_ids) | set(by_id)):
            row = by_id.get(did)
            features: dict[str, float] = {}
            if row is None:
                batch.warnings.add(
                    "dataset without OpenML qualities (no meta-features)", f"dataset {did}"
                )
            else:
                features, issues = meta_features_from_openml(
                    {k: v for k, v in row.items() if k not in ("openmlid", "Name")}
                )
                for issue in issues:
                    batch.warnings.add(
                        "quality with an invalid value left out", f"dataset {did}: {issue}"
                    )
            name = str(row["Name"]) if row is not None else f"dataset {did}"
            batch.datasets.append(DatasetSpec(str(did), name, features, {"openml_dataset_id": did}))
            if did in curve_ids:
                batch.tasks.append(
                    TaskSpec(
                        external_id=str(did),
                        dataset=str(did),
                        problem_type=problem_type("classification", features.get("n_classes")),
                        metric="accuracy",
                        name=f"{name} (learning curves)",
                        meta={"openml_dataset_id": did},
                    )
                )
        learners = sorted(curves["learner"].unique())
        for name in learners:
            learner, params = learner_of(name)
            batch.configurations.append(ConfigSpec(name, learner, params, name))
        curves = curves.sort_values(["openmlid", "learner", "metric", "size_train"], kind="stable")
        columns = {c: curves[c].to_numpy() for c in _COLUMNS}
        groups = curves.groupby(["openmlid", "learner", "metric"], sort=True).indices
        by_run: dict[tuple[int, str], list[tuple[str, Any]]] = {}
        for (did, learner, metric), index in groups.items():
            by_run.setdefault((int(did), str(learner)), []).append((str(metric), index))
        for (did, learner), parts in sorted(by_run.items()):
            batch.runs.append(self._run(did, learner, parts, columns, batch))
        return batch

    def _run(
        self,
        did: int,
        learner: str,
        parts: list[tuple[str, Any]],
        columns: dict[str, Any],
        batch: MetadataBatch,
    ) -> RunSpec:
        metrics: dict[str, tuple[list[int], list[float]]] = {}
        times: dict[int, tuple[float, float, float]] = {}
        for metric, index in parts:
            try:
                ours = from_lcdb_metric(metric)
            except KeyError:
                batch.warnings.add("metric outside the vocabulary (skipped)", metric)
                continue
            steps = columns["size_train"][index].astype(int).tolist()
            for key, column in (
                (ours, "valid_mean"),
                (f"{ours}.std", "valid_std"),
                (f"test_{ours}", "test_mean"),
                (f"test_{ours}.std", "test_std"),
                (f"train_{ours}", "train_mean"),
            ):
                metrics[key] = (steps, columns[column][index].astype(float).tolist())
            for step, mean, std, n in zip(
                steps,
                columns["traintime_mean"][index].tolist(),
                columns["traintime_std"][index].tolist(),
                columns["n"][index].tolist(),
            ):
                times.setdefault(step, (float(mean), float(std), float(n)))
        ordered = sorted(times)
        metrics["fit_time_s"] = (ordered, [times[s][0] for s in ordered])
        metrics["fit_time_s.std"] = (ordered, [times[s][1] for s in ordered])
        metrics["n_seeds"] = (ordered, [times[s][2] for s in ordered])
        return RunSpec(
            external_id=f"{did}/{learner}",
            task=str(did),
            configuration=learner,
            metrics=metrics,
            tags={"lcdb.learner": learner},
        )


__all__ = ["Lcdb", "aggregate_raw", "learner_of"]
