"""The meta-learner: learns from collected traces which configurations to try first, what
users change next and which intermediates to reuse.

Subpackages and modules, imported on demand so ``import mileage.metalearner`` stays light:

* :mod:`mileage.metalearner.metafeatures`: OpenML-style dataset meta-features.
* :mod:`mileage.metalearner.warmstart._ranker`: the warm-start ranker; :mod:`.adapters` hand its
  ranked configurations to Optuna, FLAML or JSON; :class:`WarmStartSampler` is an Optuna
  sampler that keeps learning from each trial.
* :mod:`mileage.metalearner.workflow`: workflows as DAGs of operators with exact fingerprints.
* :mod:`mileage.metalearner.nextstep`: which operator the next iteration changes (LightGBM).
* :mod:`mileage.metalearner.materialize`: the intermediate cache and the planner that decides
  what to keep under a byte budget and whether to load or recompute.
* :mod:`mileage.metalearner.executor`: runs workflows through the planner and logs each
  iteration to MLflow and the trace store.

The meta-learner reads what collectors stored through the trace store; it never imports them.
Heavy libraries (LightGBM, scikit-learn, Optuna) are imported where used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mileage.metalearner._errors import (
    CacheCorruptionWarning,
    CacheError,
    ModelFileError,
    NotCacheableError,
    WorkflowError,
)
from mileage.metalearner.metafeatures import compute_meta_features, meta_features_from_json

if TYPE_CHECKING:
    from mileage.metalearner.warmstart._ranker import ModelFormatError, WarmStartRanker
    from mileage.metalearner.warmstart._sampler import WarmStartSampler

_LAZY = {"ModelFormatError", "WarmStartRanker", "WarmStartSampler"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from mileage.metalearner import warmstart

        return getattr(warmstart, name)
    raise AttributeError(f"module 'mileage.metalearner' has no attribute {name!r}")


__all__ = [
    "CacheCorruptionWarning",
    "CacheError",
    "ModelFileError",
    "ModelFormatError",
    "NotCacheableError",
    "WarmStartRanker",
    "WarmStartSampler",
    "WorkflowError",
    "compute_meta_features",
    "meta_features_from_json",
]
