"""The meta-learner: meta-features, the warm-start ranker and adapters to searches.

It learns from what collectors stored, read through the trace store (never by importing
collectors). Heavy libraries (LightGBM, scikit-learn, Optuna) are imported where used;
the estimator is loaded on first access so ``import mileage.metalearner`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mileage.metalearner.metafeatures import compute_meta_features, meta_features_from_json

if TYPE_CHECKING:
    from mileage.metalearner.warmstart import ModelFormatError, WarmStartRanker

_LAZY = {"ModelFormatError", "WarmStartRanker"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from mileage.metalearner import warmstart

        return getattr(warmstart, name)
    raise AttributeError(f"module 'mileage.metalearner' has no attribute {name!r}")


__all__ = [
    "ModelFormatError",
    "WarmStartRanker",
    "compute_meta_features",
    "meta_features_from_json",
]
