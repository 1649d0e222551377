"""Train the warm-start ranker from the trace store, keep it there, and ask it.

``mileage warmstart train`` and the daemon's ``metalearner`` job call :func:`train_warmstart`;
``mileage warmstart`` calls :func:`load_warmstart` and :func:`recommend`. The model is kept in
the trace store (tables ``metalearner_models`` and ``metalearner_model_files``) as LightGBM
text models plus JSON, and can also be written to a folder.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from mileage.metalearner.warmstart._configspace import (
    FEATURE_NAMES,
    configuration_features,
    is_lightgbm,
)
from mileage.platform.errors import ConfigError, DataError, MileageError
from mileage.platform.store import schema as t
from mileage.platform.store import utcnow
from mileage.platform.vocabulary import PROBLEM_TYPES

if TYPE_CHECKING:
    from mileage.metalearner.warmstart._ranker import WarmStartRanker
    from mileage.platform.store import TraceStore

KIND = "warmstart"


class NoTrainingDataError(MileageError, LookupError):
    """The trace store holds nothing the warm-start ranker can learn from."""


class ModelNotFoundError(MileageError, LookupError):
    """No warm-start model has been trained into the trace store yet."""


@dataclass
class TrainReport:
    """Outcome of :func:`train_warmstart`."""

    model_id: int
    tasks: int
    configurations: int
    scores: int
    tasks_by_source: dict[str, int]
    meta_features: list[str]
    skipped: dict[str, int]
    seconds: float
    output: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class LoadedModel:
    """A warm-start model read from the store with what it was trained on."""

    model: WarmStartRanker
    metadata: dict[str, Any]
    model_id: int
    created_at: datetime
    #: Where it came from: ``store``, ``directory`` or ``embedded``.
    origin: str = "store"

    def describe(self) -> str:
        """Which model this is, in one line (shown with every answer)."""
        tasks = sum(self.metadata.get("tasks_by_source", {}).values())
        sources = ", ".join(sorted(self.metadata.get("tasks_by_source", {}))) or "no source"
        if self.origin == "embedded":
            return (
                f"embedded default v{self.metadata.get('version', '?')} "
                f"({sources}, {tasks} tasks; train your own with 'mileage warmstart train')"
            )
        if self.origin == "directory":
            return f"model from {self.metadata.get('directory', 'a folder')} ({sources}, {tasks} tasks)"
        return f"model {self.model_id} in the trace store ({sources}, {tasks} tasks)"


@dataclass
class Recommendation:
    """One configuration to try, in rank order."""

    rank: int
    name: str
    learner: str
    params: dict[str, Any]
    expected_regret: float
    sources: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def train_warmstart(
    store: TraceStore,
    *,
    min_configurations: int = 5,
    output: Path | None = None,
    params: Mapping[str, Any] | None = None,
    keep: int = 3,
    client: Any = None,
    table_folder: Path | None = None,
) -> TrainReport:
    """Train the warm-start ranker on every usable trace in the store and keep it there.

    Args:
        store: The trace store (read, and written with the model).
        min_configurations: Tasks with fewer distinct LightGBM configurations are left out.
        output: Also write the model files into this folder.
        params: Estimator parameters (:class:`~mileage.metalearner.warmstart._ranker.WarmStartRanker`).
        keep: Models of this kind kept in the store (the newest; older ones are deleted).
        client: A ``distributed.Client``: the surrogate is fitted on its cluster with
            ``lightgbm.dask`` (the same LightGBM text model as on one machine).
        table_folder: Where the training table is exported for the cluster's workers (a
            path they see; a temporary folder by default, which suits a local cluster).

    Returns:
        What the model was trained on.

    Raises:
        NoTrainingDataError: Nothing in the store can be learnt from; the message says why
            and how to import some.
    """
    from mileage.metalearner.warmstart._ranker import WarmStartRanker
    from mileage.metalearner.warmstart._traces import read_traces, training_signature

    started = time.perf_counter()
    signature = training_signature(store)
    traces = read_traces(store, min_configurations=min_configurations)
    if len(traces.tasks) < 2:
        reasons = "; ".join(f"{n} x {why}" for why, n in sorted(traces.skipped.items()))
        raise NoTrainingDataError(
            f"the trace store {store.url!r} holds {len(traces.tasks)} task(s) with scored "
            f"LightGBM configurations on described datasets, at least 2 are needed"
            + (f" (left out: {reasons})" if reasons else "")
            + "; import public meta-data first, e.g. 'mileage collect metadata --source "
            "tabrepo-lightgbm --path ../shared/data/tabrepo-lightgbm', or tag in-house MLflow "
            "runs with mileage.meta_features (see mileage.metalearner.warmstart._traces.mlflow_tags)."
        )
    X = traces.meta_matrix()
    features = traces.configurations[list(FEATURE_NAMES)].to_numpy(dtype=float)
    ranker = WarmStartRanker(**dict(params or {}))
    errors = traces.errors.to_numpy(dtype=float)
    if client is None:
        model = ranker.fit(X, errors, configurations=features)
    else:
        import tempfile

        from mileage.metalearner.warmstart._dask import fit_on_dask

        with tempfile.TemporaryDirectory(prefix="mileage-warmstart-") as tmp:
            folder = table_folder or Path(tmp)
            model = fit_on_dask(ranker, client, X, errors, configurations=features, folder=folder)
    by_source: dict[str, int] = {}
    for source in traces.tasks["source"]:
        by_source[source] = by_source.get(source, 0) + 1
    metadata = {
        "kind": KIND,
        "trained_at": utcnow().isoformat(),
        "signature": signature,
        "meta_features": list(X.columns),
        "tasks_by_source": by_source,
        "skipped": traces.skipped,
        "configurations": [
            {
                "key": key,
                "learner": row["learner"],
                "params": row["params"],
                "names": dict(sorted(row["names"].items())),
            }
            for key, row in traces.configurations.iterrows()
        ],
    }
    files = model.to_files(metadata)
    with store.begin() as conn:
        model_id = int(
            conn.execute(
                insert(t.metalearner_models)
                .values(
                    kind=KIND,
                    created_at=utcnow(),
                    n_tasks=len(traces.tasks),
                    n_configurations=len(traces.configurations),
                    n_scores=traces.n_scores,
                    summary={
                        "signature": signature,
                        "tasks_by_source": by_source,
                        "meta_features": list(X.columns),
                    },
                )
                .returning(t.metalearner_models.c.id)
            ).scalar_one()
        )
        conn.execute(
            insert(t.metalearner_model_files),
            [{"model_id": model_id, "name": n, "content": c} for n, c in sorted(files.items())],
        )
        kept = (
            select(t.metalearner_models.c.id)
            .where(t.metalearner_models.c.kind == KIND)
            .order_by(t.metalearner_models.c.id.desc())
            .limit(max(1, keep))
        )
        old = [
            int(i)
            for i in conn.execute(
                select(t.metalearner_models.c.id).where(
                    t.metalearner_models.c.kind == KIND,
                    t.metalearner_models.c.id.not_in(kept.scalar_subquery()),
                )
            ).scalars()
        ]
        if old:
            conn.execute(
                delete(t.metalearner_model_files).where(
                    t.metalearner_model_files.c.model_id.in_(old)
                )
            )
            conn.execute(delete(t.metalearner_models).where(t.metalearner_models.c.id.in_(old)))
    written = [str(p) for p in model.save(output, metadata)] if output is not None else []
    return TrainReport(
        model_id=model_id,
        tasks=len(traces.tasks),
        configurations=len(traces.configurations),
        scores=traces.n_scores,
        tasks_by_source=by_source,
        meta_features=list(X.columns),
        skipped=traces.skipped,
        seconds=round(time.perf_counter() - started, 3),
        output=written,
    )


def latest_signature(store: TraceStore) -> dict[str, Any] | None:
    """The training signature of the newest model (None when there is none)."""
    with store.connect() as conn:
        summary = conn.execute(
            select(t.metalearner_models.c.summary)
            .where(t.metalearner_models.c.kind == KIND)
            .order_by(t.metalearner_models.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()
    return None if summary is None else dict(summary).get("signature")


def load_warmstart(store: TraceStore, model_id: int | None = None) -> LoadedModel:
    """The newest warm-start model in the store (or the one with ``model_id``).

    Raises:
        ModelNotFoundError: None has been trained; the message gives the command.
    """
    from mileage.metalearner.warmstart._ranker import WarmStartRanker

    m = t.metalearner_models
    with store.connect() as conn:
        query = select(m.c.id, m.c.created_at).where(m.c.kind == KIND)
        query = query.where(m.c.id == model_id) if model_id is not None else query
        row = conn.execute(query.order_by(m.c.id.desc()).limit(1)).one_or_none()
        if row is None:
            raise ModelNotFoundError(
                f"no warm-start model in the trace store {store.url!r}"
                + (f" with id {model_id}" if model_id is not None else "")
                + "; train one with 'mileage warmstart train' (after importing traces, e.g. "
                "'mileage collect metadata --source tabrepo-lightgbm --path DIR')."
            )
        files = dict(
            conn.execute(
                select(t.metalearner_model_files.c.name, t.metalearner_model_files.c.content).where(
                    t.metalearner_model_files.c.model_id == row.id
                )
            ).all()
        )
    model = WarmStartRanker.from_files(files)
    return LoadedModel(model, dict(getattr(model, "metadata_", {})), int(row.id), row.created_at)


def load_warmstart_dir(directory: Path) -> LoadedModel:
    """A model written by ``mileage warmstart train --model-dir DIR``."""
    from mileage.metalearner.warmstart._ranker import WarmStartRanker

    model = WarmStartRanker.load(directory)
    created = datetime.fromisoformat(model.metadata_.get("trained_at", "1970-01-01T00:00:00+00:00"))
    metadata = {**model.metadata_, "directory": str(directory)}
    return LoadedModel(model, metadata, 0, created, origin="directory")


def resolve_warmstart(store: TraceStore | None, *, train: bool = True) -> LoadedModel:
    """The model that should answer: the store's newest, else one trained now from the
    store's traces (public meta-data or tagged in-house runs), else the embedded default.

    Args:
        store: The trace store (None: the embedded default).
        train: Train a model when the store holds traces but no model yet (it is kept in the
            store, so this happens once).
    """
    from mileage.metalearner.warmstart._default import load_default
    from mileage.metalearner.warmstart._traces import has_training_data

    if store is None:
        return load_default()
    try:
        return load_warmstart(store)
    except ModelNotFoundError:
        pass
    if train and has_training_data(store):
        try:
            report = train_warmstart(store)
        except NoTrainingDataError:
            return load_default()
        return load_warmstart(store, report.model_id)
    return load_default()


def candidate_sources(loaded: LoadedModel, store: TraceStore | None = None) -> list[str]:
    """Names accepted by ``--candidates``: the model's sources and the store's LightGBM sources."""
    names = {s for c in loaded.metadata.get("configurations", []) for s in c["names"]}
    if store is not None:
        names.update(_store_candidates(store))
    return sorted(names)


def _store_candidates(
    store: TraceStore, source: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    sc, cfg, src = t.source_configurations, t.configurations, t.sources
    query = select(
        src.c.uri, sc.c.external_id, cfg.c.fingerprint, cfg.c.learner, cfg.c.params
    ).select_from(
        sc.join(cfg, cfg.c.id == sc.c.configuration_id).join(src, src.c.id == sc.c.source_id)
    )
    if source is not None:
        query = query.where(src.c.uri == source)
    out: dict[str, list[dict[str, Any]]] = {}
    with store.connect() as conn:
        for uri, name, fp, learner, params in conn.execute(query.order_by(sc.c.external_id)):
            if is_lightgbm(learner):
                out.setdefault(uri, []).append(
                    {"key": fp, "learner": learner, "params": dict(params), "names": {uri: name}}
                )
    return out


def recommend(
    loaded: LoadedModel,
    meta_features: Mapping[str, float | None],
    problem_type: str,
    *,
    k: int = 10,
    candidates: str | None = None,
    store: TraceStore | None = None,
) -> list[Recommendation]:
    """Rank configurations for a dataset described by its meta-features.

    Args:
        loaded: The model (:func:`load_warmstart`).
        meta_features: Our meta-feature names (missing ones are unknown).
        problem_type: ``binary``, ``multiclass`` or ``regression``.
        k: How many configurations to return.
        candidates: Rank only the configurations of this source (``tabrepo-lightgbm``); a
            source the model was not trained on is read from ``store`` and scored by the
            model's surrogate. None ranks every configuration the model knows.
        store: Where to look up candidate sources the model does not know.

    Returns:
        ``k`` recommendations, best first, with the expected regret after each.

    Raises:
        ConfigError: Unknown candidate source (the message lists the known ones), bad ``k``
            or problem type.
        DataError: A meta-feature is not a number or is infinite, or a count or ratio is
            negative (None and NaN mean unknown).
    """
    import numpy as np
    import pandas as pd

    from mileage.metalearner.warmstart._traces import meta_matrix

    if problem_type not in PROBLEM_TYPES:
        raise ConfigError(
            f"problem type {problem_type!r} is unknown; use one of {', '.join(PROBLEM_TYPES)}."
        )
    if k < 1:
        raise ConfigError(f"--k must be at least 1, got {k}")
    meta_features = known_meta_features(meta_features)
    names = list(loaded.metadata.get("meta_features") or loaded.model.feature_names_in_)
    row = pd.DataFrame([{**meta_features, "problem_type": problem_type}], index=["new"])
    x = meta_matrix(row, names)
    known = loaded.metadata.get("configurations", [])
    if candidates is None:
        pool, features = known, None
    else:
        pool = [c for c in known if candidates in c["names"]]
        if not pool and store is not None:
            pool = _store_candidates(store, candidates).get(candidates, [])
        if not pool:
            listed = candidate_sources(loaded, store)
            raise ConfigError(
                f"unknown candidate source {candidates!r}; known: {', '.join(listed) or 'none'} "
                "(a source's LightGBM configurations must be in the trace store or the model)."
            )
        features = np.array(
            [configuration_features(c["params"], c["learner"]) for c in pool], dtype=float
        )
    order, expected = loaded.model.recommend(x, k=k, candidates=features)
    out = []
    for rank, (j, e) in enumerate(zip(order[0], expected[0]), start=1):
        c = pool[int(j)]
        label = c["names"].get(candidates) if candidates else None
        if label is None:
            label = next(iter(c["names"].values()), c["key"][:12])
        out.append(
            Recommendation(
                rank=rank,
                name=str(label),
                learner=c["learner"],
                params=dict(c["params"]),
                expected_regret=round(float(e), 4),
                sources=sorted(c["names"]),
            )
        )
    return out


def known_meta_features(meta_features: Mapping[str, Any]) -> dict[str, float]:
    """The meta-features whose values are known: ``None`` and NaN mean unknown and are left
    out (the ranker's LightGBM models handle missing values).

    Raises:
        DataError: A value is not a number (booleans and strings included) or is infinite,
            or a count or ratio (``n_instances``, ``majority_class_size``,
            ``missing_values_ratio``...) is negative.
    """
    out: dict[str, float] = {}
    bad: dict[str, Any] = {}
    for name, value in meta_features.items():
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.inf
        if isinstance(value, bool | str) or math.isinf(number):
            bad[name] = value
        elif not math.isnan(number):
            out[name] = number
    if bad:
        raise DataError(
            f"meta-features {sorted(bad)} are not finite numbers ({bad}); pass numbers, "
            "or None/NaN for unknown ones."
        )
    negative = {
        name: number
        for name, number in out.items()
        if number < 0
        and (
            name.startswith("n_")
            or name.endswith(("_class_size", "_ratio"))
            or name in ("dimensionality", "inverse_dimensionality")
        )
    }
    if negative:
        shown = ", ".join(f"{name}={number:g}" for name, number in sorted(negative.items()))
        raise DataError(
            f"meta-features {shown}: counts and ratios must be 0 or more (None/NaN for unknown)."
        )
    return out


def configurations_document(recommendations: list[Recommendation]) -> dict[str, Any]:
    """``{"configurations": [{"name": ..., "params": {...}}, ...]}`` in rank order."""
    return {
        "configurations": [
            {
                "name": r.name,
                "params": r.params,
                "learner": r.learner,
                "expected_regret": r.expected_regret,
            }
            for r in recommendations
        ]
    }


def model_summary(loaded: LoadedModel) -> dict[str, Any]:
    """What a loaded model was trained on (for ``--json`` output)."""
    meta = loaded.metadata
    return {
        "origin": loaded.origin,
        "described": loaded.describe(),
        "version": meta.get("version"),
        "model_id": loaded.model_id,
        "trained_at": loaded.created_at.isoformat(),
        "tasks_by_source": meta.get("tasks_by_source", {}),
        "configurations": len(meta.get("configurations", [])),
        "meta_features": meta.get("meta_features", []),
    }


def dumps(data: Any) -> str:
    """JSON for people and machines (no NaN)."""
    return json.dumps(data, indent=2, sort_keys=False, allow_nan=False, default=str)


__all__ = [
    "KIND",
    "LoadedModel",
    "ModelNotFoundError",
    "NoTrainingDataError",
    "Recommendation",
    "TrainReport",
    "candidate_sources",
    "configurations_document",
    "known_meta_features",
    "latest_signature",
    "load_warmstart",
    "load_warmstart_dir",
    "model_summary",
    "recommend",
    "resolve_warmstart",
    "train_warmstart",
]
