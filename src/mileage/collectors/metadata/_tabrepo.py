"""TabRepo's complete LightGBM table: 93 OpenML tasks x 104 configurations.

Files (from the early history of autogluon/tabrepo, commit 27aa88f):

* ``lightgbm_results_ranked_by_dataset_valid.csv``: one row per (task, configuration):
  ``dataset`` is the OpenML task id, ``framework`` the configuration name, ``metric_error``
  is 1 - AUC (binary), log loss (multiclass) or RMSE (regression), with train and inference
  times in seconds. The ranks and rescaled columns are derived from these and not stored.
* ``configs_lightgbm_20221004.json``: each configuration's hyperparameters in AutoGluon's
  names (``LightGBM_c1`` is AutoGluon's default; ``ag_args`` only names it and is dropped).
* ``lightgbm_task_metadata_new_and_old.csv`` (and ``task_metadata_244.csv``): OpenML
  qualities of each task's dataset.

Configurations are stored as ``autogluon.lightgbm`` with LightGBM's primary parameter names.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from mileage.collectors.metadata._base import (
    ConfigSpec,
    DatasetSpec,
    MetadataBatch,
    RunSpec,
    TaskSpec,
    read_csv_rows,
)
from mileage.platform.errors import ConfigError, DataError
from mileage.platform.vocabulary import TABREPO_METRICS, lightgbm_params, meta_features_from_openml

RESULTS = "lightgbm_results_ranked_by_dataset_valid.csv"
CONFIGS = "configs_lightgbm_20221004.json"
METADATA = ("lightgbm_task_metadata_new_and_old.csv", "task_metadata_244.csv")
_QUALITY_COLUMNS = (
    "MajorityClassSize",
    "MaxNominalAttDistinctValues",
    "MinorityClassSize",
    "NumberOfClasses",
    "NumberOfFeatures",
    "NumberOfInstances",
    "NumberOfInstancesWithMissingValues",
    "NumberOfMissingValues",
    "NumberOfNumericFeatures",
    "NumberOfSymbolicFeatures",
)


def _float(value: str | None) -> float | None:
    try:
        out = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return out if out is not None and math.isfinite(out) else None


class TabRepoLightGBM:
    """Importer of TabRepo's LightGBM table (see the module docstring)."""

    name = "tabrepo-lightgbm"
    description = "TabRepo: 93 OpenML tasks x 104 LightGBM configurations, complete"
    package: str | None = None

    def locate(self, path: Path) -> Path:
        for candidate in (path, path / "tabrepo-lightgbm"):
            if (candidate / RESULTS).is_file() and (candidate / CONFIGS).is_file():
                return candidate
        raise ConfigError(
            f"{str(path)!r} does not hold TabRepo's LightGBM table ({RESULTS} and {CONFIGS}); "
            "pass the folder that holds them (from autogluon/tabrepo at commit 27aa88f, or the "
            "shared reference data's tabrepo-lightgbm folder)."
        )

    def files(self, root: Path) -> list[Path]:
        return [
            root / RESULTS,
            root / CONFIGS,
            *(root / m for m in METADATA if (root / m).is_file()),
        ]

    def read(self, root: Path) -> MetadataBatch:
        batch = MetadataBatch()
        configs = self._configs(root)
        batch.configurations = list(configs.values())
        metadata = self._metadata(root)
        problems: dict[str, str] = {}
        rows = read_csv_rows(root / RESULTS)
        missing = {"dataset", "framework", "problem_type", "metric_error"} - set(
            rows[0] if rows else {}
        )
        if missing:
            raise DataError(
                f"{RESULTS}: columns {sorted(missing)} are missing; is this TabRepo's table?"
            )
        for row in rows:
            task, config, problem = row["dataset"], row["framework"], row["problem_type"]
            if problems.setdefault(task, problem) != problem:
                batch.warnings.add(
                    "task with rows of two problem types (the first is kept)",
                    f"task {task}: {problem}",
                )
            if config not in configs:
                batch.warnings.add(
                    "row of a configuration not in the configuration file (kept without one)",
                    config,
                )
            metric, from_auc = TABREPO_METRICS.get(problem, (None, False))
            metrics: dict[str, tuple[list[int], list[float]]] = {}
            error = _float(row.get("metric_error"))
            if metric is None or error is None:
                batch.warnings.add(
                    "row without a usable score (kept unscored)",
                    f"{task}/{config}: {row.get('metric_error')!r}",
                )
            else:
                metrics[metric] = ([0], [1.0 - error if from_auc else error])
            for column, key in (("time_train_s", "fit_time_s"), ("time_infer_s", "predict_time_s")):
                value = _float(row.get(column))
                if value is not None:
                    metrics[key] = ([0], [value])
            batch.runs.append(
                RunSpec(
                    external_id=f"{task}/{config}",
                    task=task,
                    configuration=config if config in configs else None,
                    metrics=metrics,
                )
            )
        for task, problem in sorted(
            problems.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0
        ):
            meta = metadata.get(task)
            did = (meta or {}).get("did") or f"task-{task}"
            if meta is None:
                batch.warnings.add(
                    "task without OpenML qualities (no meta-features)", f"task {task}"
                )
                features: dict[str, float] = {}
            else:
                features, issues = meta_features_from_openml(
                    {c: meta.get(c) for c in _QUALITY_COLUMNS}, problem
                )
                for issue in issues:
                    batch.warnings.add(
                        "quality with an invalid value left out", f"task {task}: {issue}"
                    )
            name = (meta or {}).get("name") or f"task {task}"
            batch.datasets.append(
                DatasetSpec(
                    external_id=did,
                    name=name,
                    meta_features=features,
                    profile={"openml_dataset_id": _int(did), "name": name},
                )
            )
            batch.tasks.append(
                TaskSpec(
                    external_id=task,
                    dataset=did,
                    problem_type=problem,
                    metric=TABREPO_METRICS.get(problem, (None, False))[0],
                    name=f"{name} ({problem})",
                    target=(meta or {}).get("target_feature") or None,
                    meta={"openml_task_id": _int(task), "openml_dataset_id": _int(did)},
                )
            )
        batch.datasets = list({d.external_id: d for d in batch.datasets}.values())
        return batch

    def _configs(self, root: Path) -> dict[str, ConfigSpec]:
        try:
            data = json.loads((root / CONFIGS).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(f"{CONFIGS}: not JSON ({exc})") from None
        out = {}
        for name, spec in data.items():
            hyper = dict((spec or {}).get("hyperparameters") or {})
            hyper.pop("ag_args", None)
            out[name] = ConfigSpec(
                external_id=name,
                name=name,
                learner="autogluon.lightgbm",
                params=lightgbm_params(hyper),
            )
        return out

    def _metadata(self, root: Path) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name in METADATA:
            path = root / name
            if not path.is_file():
                continue
            for row in read_csv_rows(path):
                out.setdefault(row.get("tid", ""), row)
        return out


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None
