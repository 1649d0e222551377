"""The meta-learner's training table, read from the trace store.

Whatever the store holds counts, as long as it is a scored LightGBM configuration on a
described dataset:

* **Tasks with a metric** (public meta-data such as TabRepo, OpenML runs): runs of a task
  whose configuration's learner is LightGBM, scored by the task's metric, with the
  meta-features of the task's dataset.
* **In-house MLflow runs**: runs whose params set LightGBM hyperparameters (as the MLflow
  plugin logs them, ``lightgbm.num_leaves``, or ``clf__num_leaves``) and that carry the
  dataset's meta-features in the tag ``mileage.meta_features`` (JSON, our names; see
  :func:`mlflow_tags`). Runs of one experiment on one dataset form a task, scored by the
  metric named in the tag ``mileage.metric``, else by the first vocabulary metric all of
  them logged (``roc_auc``, ``log_loss``, ``accuracy``, ``rmse``, ...).

Errors are kept in each task's own metric with "lower is better" (scores are negated); the
ranker normalises them per task. Repeated runs of one configuration on one task are averaged.
Tasks that evaluated fewer than ``min_configurations`` distinct configurations, or whose
scores do not differ, teach nothing about ranking and are left out (and counted).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from mileage.metalearner.warmstart._configspace import (
    configuration_features,
    is_lightgbm,
    lightgbm_params_from_run,
)
from mileage.platform.configurations import canonical_params, configuration_fingerprint
from mileage.platform.store import schema as t
from mileage.platform.vocabulary import METRICS_BY_NAME, PROBLEM_TYPES

if TYPE_CHECKING:
    import pandas as pd

    from mileage.platform.store import TraceStore

META_FEATURES_TAG = "mileage.meta_features"
PROBLEM_TYPE_TAG = "mileage.problem_type"
METRIC_TAG = "mileage.metric"
#: Metrics tried, in order, for MLflow runs without a ``mileage.metric`` tag.
METRIC_PRIORITY = (
    "roc_auc",
    "log_loss",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "rmse",
    "mae",
    "r2",
)
#: Metrics that rank choices rather than measure models: not training signal.
NOT_PERFORMANCE = frozenset({"portfolio_rank", "fit_time_s", "predict_time_s"})
#: Meta-features the ranker uses (when the training tasks know them), plus problem type.
MODEL_META_FEATURES = (
    "log_n_instances",
    "log_n_features",
    "log_inverse_dimensionality",
    "numeric_features_ratio",
    "missing_values_ratio",
    "instances_with_missing_ratio",
    "n_classes",
    "majority_class_ratio",
    "minority_class_ratio",
    "class_entropy",
)


@dataclass
class Traces:
    """Training data of the warm-start ranker.

    Attributes:
        tasks: One row per task (index: task key): ``name``, ``source``, ``problem_type``,
            ``metric`` and one column per meta-feature (our names; NaN when unknown).
        configurations: One row per configuration (index: fingerprint): ``learner``,
            ``params`` (dict), ``names`` (source -> the source's own name) and the
            configuration features.
        errors: Tasks x configurations, lower is better, NaN where not evaluated.
        skipped: Why rows were left out, with counts.
    """

    tasks: pd.DataFrame
    configurations: pd.DataFrame
    errors: pd.DataFrame
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def n_scores(self) -> int:
        """Observed (task, configuration) scores."""
        return int(self.errors.notna().to_numpy().sum())

    def meta_matrix(self, names: list[str] | None = None) -> pd.DataFrame:
        """The ranker's input: meta-features plus one-hot problem types."""
        return meta_matrix(self.tasks, names or model_feature_names(self.tasks))


def model_feature_names(tasks: pd.DataFrame, min_coverage: float = 0.5) -> list[str]:
    """Meta-features known for at least ``min_coverage`` of the tasks, plus problem types."""
    names = [
        n
        for n in MODEL_META_FEATURES
        if n in tasks.columns and tasks[n].notna().mean() >= min_coverage
    ]
    return names + [f"problem_{p}" for p in PROBLEM_TYPES]


def meta_matrix(tasks: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """``tasks`` (meta-features and ``problem_type``) as the ranker's numeric input."""
    import numpy as np
    import pandas as pd

    out = pd.DataFrame(index=tasks.index)
    for name in names:
        if name.startswith("problem_"):
            out[name] = (tasks["problem_type"] == name[len("problem_") :]).astype(float)
        else:
            out[name] = pd.to_numeric(tasks[name], errors="coerce") if name in tasks else np.nan
    return out.astype(float)


def _error(value: float | None, direction: str) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return -value if direction == "score" else value


def read_traces(store: TraceStore, *, min_configurations: int = 5) -> Traces:
    """Read every scored LightGBM configuration on a described dataset from the store.

    Args:
        store: The trace store.
        min_configurations: Tasks with fewer distinct configurations are left out.

    Returns:
        The training table (possibly empty).
    """
    import pandas as pd

    skipped: Counter[str] = Counter()
    task_rows: dict[str, dict[str, Any]] = {}
    config_rows: dict[str, dict[str, Any]] = {}
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    with store.connect() as conn:
        _read_tasks(conn, task_rows, config_rows, scores, skipped)
        _read_mlflow(conn, task_rows, config_rows, scores, skipped)
    by_task: dict[str, set[str]] = defaultdict(set)
    for task, config in scores:
        by_task[task].add(config)
    keep = set()
    for task, configs in by_task.items():
        distinct = {sum(scores[(task, c)]) / len(scores[(task, c)]) for c in configs}
        if len(configs) < min_configurations:
            skipped[f"task with fewer than {min_configurations} LightGBM configurations"] += 1
        elif len(distinct) < 2:
            skipped["task whose configurations all scored the same"] += 1
        else:
            keep.add(task)
    task_keys = sorted(keep)
    used = sorted({c for (task, c) in scores if task in keep})
    errors = pd.DataFrame(index=pd.Index(task_keys, name="task"), columns=used, dtype=float)
    for (task, config), observed in scores.items():
        if task in keep:
            errors.at[task, config] = sum(observed) / len(observed)
    task_frame = pd.DataFrame([task_rows[k] for k in task_keys], index=errors.index)
    configs = pd.DataFrame(
        [config_rows[c] for c in used], index=pd.Index(used, name="configuration")
    )
    if len(configs):
        from mileage.metalearner.warmstart._configspace import FEATURE_NAMES

        features = [configuration_features(r["params"], r["learner"]) for r in config_rows.values()]
        feature_frame = pd.DataFrame(features, index=list(config_rows), columns=FEATURE_NAMES)
        configs = configs.join(feature_frame)
    return Traces(task_frame, configs, errors, dict(skipped))


def _read_tasks(
    conn: Any,
    task_rows: dict[str, dict[str, Any]],
    config_rows: dict[str, dict[str, Any]],
    scores: dict[tuple[str, str], list[float]],
    skipped: Counter[str],
) -> None:
    """Runs of tasks that name a metric (public meta-data, OpenML)."""
    runs, tasks, mh, cfg, src, ds = (
        t.runs,
        t.tasks,
        t.metric_histories,
        t.configurations,
        t.sources,
        t.datasets,
    )
    query = (
        select(
            src.c.uri,
            tasks.c.external_id,
            tasks.c.name,
            tasks.c.problem_type,
            tasks.c.metric,
            tasks.c.metric_direction,
            ds.c.meta_features,
            cfg.c.fingerprint,
            cfg.c.learner,
            cfg.c.params,
            mh.c.last_value,
        )
        .select_from(
            runs.join(tasks, tasks.c.id == runs.c.task_id)
            .join(src, src.c.id == runs.c.source_id)
            .join(cfg, cfg.c.id == runs.c.configuration_id)
            .join(mh, and_(mh.c.run_id == runs.c.id, mh.c.key == tasks.c.metric))
            .outerjoin(ds, ds.c.id == tasks.c.dataset_id)
        )
        .where(tasks.c.metric.is_not(None))
    )
    for row in conn.execute(query):
        if not is_lightgbm(row.learner):
            skipped["run of a learner other than LightGBM"] += 1
            continue
        if row.metric in NOT_PERFORMANCE or row.metric_direction not in ("score", "error"):
            skipped["run scored by a metric that is not a performance measure"] += 1
            continue
        if not row.meta_features:
            skipped["run of a task without meta-features"] += 1
            continue
        error = _error(row.last_value, row.metric_direction)
        if error is None:
            skipped["run without a finite score"] += 1
            continue
        key = f"{row.uri}:{row.external_id}"
        task_rows.setdefault(
            key,
            {
                "name": row.name or key,
                "source": row.uri,
                "problem_type": row.problem_type,
                "metric": row.metric,
                **dict(row.meta_features),
            },
        )
        config_rows.setdefault(
            row.fingerprint,
            {"learner": row.learner, "params": dict(row.params), "names": {}},
        )
        scores[(key, row.fingerprint)].append(error)
    names = select(t.source_configurations.c.external_id, cfg.c.fingerprint, src.c.uri).select_from(
        t.source_configurations.join(
            cfg, cfg.c.id == t.source_configurations.c.configuration_id
        ).join(src, src.c.id == t.source_configurations.c.source_id)
    )
    for external_id, fp, uri in conn.execute(names):
        if fp in config_rows:
            config_rows[fp]["names"].setdefault(uri, external_id)


def _read_mlflow(
    conn: Any,
    task_rows: dict[str, dict[str, Any]],
    config_rows: dict[str, dict[str, Any]],
    scores: dict[tuple[str, str], list[float]],
    skipped: Counter[str],
) -> None:
    """In-house MLflow runs tagged with their dataset's meta-features."""
    runs, src = t.runs, t.sources
    tagged = (
        select(runs.c.id, runs.c.experiment_id, runs.c.name, runs.c.external_id, src.c.uri)
        .select_from(runs.join(src, src.c.id == runs.c.source_id))
        .where(
            runs.c.task_id.is_(None),
            runs.c.status == "FINISHED",
            runs.c.id.in_(select(t.tags.c.run_id).where(t.tags.c.key == META_FEATURES_TAG)),
        )
    )
    rows = conn.execute(tagged).all()
    if not rows:
        return
    ids = [r.id for r in rows]
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    params: dict[int, dict[str, str]] = defaultdict(dict)
    metrics: dict[int, dict[str, float]] = defaultdict(dict)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        for rid, k, v in conn.execute(
            select(t.tags.c.run_id, t.tags.c.key, t.tags.c.value).where(
                t.tags.c.run_id.in_(chunk),
                t.tags.c.key.in_((META_FEATURES_TAG, PROBLEM_TYPE_TAG, METRIC_TAG)),
            )
        ):
            tags[rid][k] = v
        for rid, k, v in conn.execute(
            select(t.params.c.run_id, t.params.c.key, t.params.c.value).where(
                t.params.c.run_id.in_(chunk)
            )
        ):
            params[rid][k] = v
        for rid, k, v in conn.execute(
            select(
                t.metric_histories.c.run_id,
                t.metric_histories.c.key,
                t.metric_histories.c.last_value,
            ).where(t.metric_histories.c.run_id.in_(chunk))
        ):
            if v is not None:
                metrics[rid][k] = float(v)
    groups: dict[str, list[Any]] = defaultdict(list)
    meta_of: dict[str, dict[str, float]] = {}
    for r in rows:
        try:
            meta = json.loads(tags[r.id][META_FEATURES_TAG])
        except (KeyError, ValueError):
            skipped["MLflow run with unreadable mileage.meta_features"] += 1
            continue
        if not isinstance(meta, dict):
            skipped["MLflow run with unreadable mileage.meta_features"] += 1
            continue
        meta = {
            k: float(v)
            for k, v in meta.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:12]
        key = f"{r.uri}:experiment {r.experiment_id}:{digest}"
        groups[key].append(r)
        meta_of[key] = meta
    for key, members in groups.items():
        metric = _task_metric([tags[m.id] for m in members], [metrics[m.id] for m in members])
        if metric is None:
            skipped["MLflow run without a vocabulary metric"] += len(members)
            continue
        direction = METRICS_BY_NAME[metric].direction
        first = tags[members[0].id]
        problem = first.get(PROBLEM_TYPE_TAG) or _problem_from(meta_of[key])
        for m in members:
            hyper = lightgbm_params_from_run(params[m.id])
            if not hyper:
                skipped["MLflow run without LightGBM hyperparameters"] += 1
                continue
            error = _error(metrics[m.id].get(metric), direction)
            if error is None:
                skipped["MLflow run without a finite score"] += 1
                continue
            fp = configuration_fingerprint("lightgbm", hyper)
            entry = config_rows.setdefault(
                fp, {"learner": "lightgbm", "params": canonical_params(hyper), "names": {}}
            )
            entry["names"].setdefault(m.uri, m.name or m.external_id)
            task_rows.setdefault(
                key,
                {
                    "name": f"experiment {m.experiment_id}",
                    "source": m.uri,
                    "problem_type": problem,
                    "metric": metric,
                    **meta_of[key],
                },
            )
            scores[(key, fp)].append(error)


def _task_metric(tags: list[dict[str, str]], metrics: list[dict[str, float]]) -> str | None:
    named = {t.get(METRIC_TAG) for t in tags} - {None}
    if len(named) == 1:
        (name,) = named
        return name if name in METRICS_BY_NAME and name not in NOT_PERFORMANCE else None
    for name in METRIC_PRIORITY:
        if all(name in m for m in metrics):
            return name
    return None


def _problem_from(meta: Mapping[str, float]) -> str | None:
    classes = meta.get("n_classes")
    if classes is None:
        return None
    if classes == 0:
        return "regression"
    return "binary" if classes == 2 else "multiclass"


def mlflow_tags(
    features: Mapping[str, float], problem_type: str, metric: str | None = None
) -> dict[str, str]:
    """Tags that make an MLflow run count as in-house training data for the warm start.

    Example:
        >>> from mileage.metalearner.metafeatures import compute_meta_features
        >>> features, problem = compute_meta_features(frame, "target")  # doctest: +SKIP
        >>> mlflow.set_tags(mlflow_tags(features, problem, "log_loss"))  # doctest: +SKIP
    """
    tags = {
        META_FEATURES_TAG: json.dumps(dict(sorted(features.items())), allow_nan=False),
        PROBLEM_TYPE_TAG: problem_type,
    }
    if metric is not None:
        tags[METRIC_TAG] = metric
    return tags


def has_training_data(store: TraceStore) -> bool:
    """Whether the store holds anything the ranker could learn from (a cheap check).

    True when some run of a task has a LightGBM configuration, or some MLflow run is
    tagged with its dataset's meta-features.
    """
    runs, cfg = t.runs, t.configurations
    with store.connect() as conn:
        scored = conn.execute(
            select(runs.c.id)
            .select_from(runs.join(cfg, cfg.c.id == runs.c.configuration_id))
            .where(
                runs.c.task_id.is_not(None),
                func.lower(cfg.c.learner).like("%lightgbm%")
                | func.lower(cfg.c.learner).like("%lgbm%"),
            )
            .limit(1)
        ).first()
        if scored is not None:
            return True
        tagged = conn.execute(
            select(t.tags.c.run_id).where(t.tags.c.key == META_FEATURES_TAG).limit(1)
        ).first()
    return tagged is not None


def training_signature(store: TraceStore) -> dict[str, int]:
    """A cheap summary that changes when new scored runs arrive (to skip needless retrains)."""
    with store.connect() as conn:
        n, top = conn.execute(select(func.count(), func.max(t.runs.c.id))).one()
        hist = conn.execute(select(func.count()).select_from(t.metric_histories)).scalar_one()
    return {"runs": int(n or 0), "max_run_id": int(top or 0), "metric_histories": int(hist or 0)}


__all__ = [
    "META_FEATURES_TAG",
    "METRIC_PRIORITY",
    "METRIC_TAG",
    "MODEL_META_FEATURES",
    "PROBLEM_TYPE_TAG",
    "Traces",
    "has_training_data",
    "meta_matrix",
    "mlflow_tags",
    "model_feature_names",
    "read_traces",
    "training_signature",
]
