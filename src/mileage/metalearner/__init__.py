"""The meta-learner: meta-features, the warm-start ranker and adapters to searches.

It learns from what collectors stored, read through the trace store (never by importing
collectors). Heavy libraries (LightGBM, scikit-learn, Optuna) are imported where used.
"""

from __future__ import annotations

from mileage.metalearner.metafeatures import compute_meta_features, meta_features_from_json
from mileage.metalearner.warmstart import ModelFormatError, WarmStartRanker

__all__ = [
    "ModelFormatError",
    "WarmStartRanker",
    "compute_meta_features",
    "meta_features_from_json",
]
