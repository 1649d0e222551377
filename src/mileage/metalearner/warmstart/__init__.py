"""Warm starts: which configurations to try first on a new dataset.

:class:`WarmStartRanker` learns from a matrix of tasks x configurations (the traces the
collectors stored, or published meta-data) which configurations do well on tasks whose
meta-features resemble the new one. :func:`train_warmstart` trains it from the trace store,
:class:`WarmStartSampler` is an Optuna sampler that starts from it and re-weights the
training tasks after every trial. :func:`load_warmstart` loads the latest model (:func:`resolve_warmstart` falls back to the
embedded default, :func:`load_default`, built from TabRepo), :func:`recommend` ranks configurations for a
new task; :mod:`mileage.metalearner.warmstart.adapters` hands them to Optuna, FLAML or JSON.

Example:
    >>> from mileage.metalearner.warmstart import recommend  # doctest: +SKIP
    >>> recommend(store, meta_features, k=5)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mileage.metalearner.warmstart._configspace import (
    LIGHTGBM_DEFAULTS,
    configuration_features,
    lightgbm_params_from_run,
)
from mileage.metalearner.warmstart._dask import (
    export_training_table,
    fit_on_dask,
    fit_surrogate_on_dask,
)
from mileage.metalearner.warmstart._default import (
    DEFAULT_DIR,
    DEFAULT_SOURCE,
    DEFAULT_VERSION,
    build_default_files,
    load_default,
)
from mileage.metalearner.warmstart._metrics import MetalearnerSource
from mileage.metalearner.warmstart._ranker import (
    ModelFormatError,
    WarmStartRanker,
    greedy_portfolio,
    normalized_regret,
)
from mileage.metalearner.warmstart._service import (
    LoadedModel,
    ModelNotFoundError,
    NoTrainingDataError,
    Recommendation,
    TrainReport,
    candidate_sources,
    configurations_document,
    known_meta_features,
    latest_signature,
    load_warmstart,
    load_warmstart_dir,
    model_summary,
    recommend,
    resolve_warmstart,
    train_warmstart,
)
from mileage.metalearner.warmstart._traces import (
    Traces,
    has_training_data,
    read_traces,
    training_signature,
)
from mileage.metalearner.warmstart.adapters import (
    configurations_json,
    enqueue_optuna,
    flaml_starting_points,
)

if TYPE_CHECKING:
    from mileage.metalearner.warmstart._sampler import WarmStartSampler


def __getattr__(name: str) -> Any:
    # Optuna is heavy: the sampler module is imported when first asked for.
    if name == "WarmStartSampler":
        from mileage.metalearner.warmstart._sampler import WarmStartSampler

        return WarmStartSampler
    raise AttributeError(f"module 'mileage.metalearner.warmstart' has no attribute {name!r}")


__all__ = [
    "DEFAULT_DIR",
    "DEFAULT_SOURCE",
    "DEFAULT_VERSION",
    "LIGHTGBM_DEFAULTS",
    "LoadedModel",
    "MetalearnerSource",
    "ModelFormatError",
    "ModelNotFoundError",
    "NoTrainingDataError",
    "Recommendation",
    "Traces",
    "TrainReport",
    "WarmStartRanker",
    "WarmStartSampler",
    "build_default_files",
    "candidate_sources",
    "configuration_features",
    "configurations_document",
    "configurations_json",
    "enqueue_optuna",
    "export_training_table",
    "fit_on_dask",
    "fit_surrogate_on_dask",
    "flaml_starting_points",
    "greedy_portfolio",
    "has_training_data",
    "known_meta_features",
    "latest_signature",
    "lightgbm_params_from_run",
    "load_default",
    "load_warmstart",
    "load_warmstart_dir",
    "model_summary",
    "normalized_regret",
    "read_traces",
    "recommend",
    "resolve_warmstart",
    "train_warmstart",
    "training_signature",
]
