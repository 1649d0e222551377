"""LightGBM configurations as numbers the meta-learner can compare.

A configuration stored by a collector is a learner name plus the hyperparameters it sets
(LightGBM's primary names, see :func:`mileage.platform.vocabulary.lightgbm_params`); the
learner says whose defaults fill in the rest (AutoGluon starts LightGBM at a learning rate of
0.05, LightGBM itself at 0.1). :func:`configuration_features` turns both into a fixed vector
on scales where distances mean something (logarithms of rates and counts).
MLflow runs carry their hyperparameters as run params: :func:`lightgbm_params_from_run`
reads the names the MLflow plugin logs (``lightgbm.num_leaves``), scikit-learn pipeline
names (``clf__num_leaves``) and bare names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mileage.platform.vocabulary import LIGHTGBM_PARAM_ALIASES

#: LightGBM's own defaults for the hyperparameters the meta-learner describes.
LIGHTGBM_DEFAULTS: dict[str, float] = {
    "learning_rate": 0.1,
    "num_leaves": 31.0,
    "feature_fraction": 1.0,
    "min_data_in_leaf": 20.0,
    "extra_trees": 0.0,
    "lambda_l1": 0.0,
    "lambda_l2": 0.0,
    "bagging_fraction": 1.0,
}
#: Defaults by learner (the ``configurations.learner`` column); others use LightGBM's.
LEARNER_DEFAULTS: dict[str, dict[str, float]] = {
    "autogluon.lightgbm": {**LIGHTGBM_DEFAULTS, "learning_rate": 0.05},
}
#: Names of :func:`configuration_features`, in order.
FEATURE_NAMES = (
    "log_learning_rate",
    "log2_num_leaves",
    "feature_fraction",
    "log_min_data_in_leaf",
    "extra_trees",
    "log1p_lambda_l1",
    "log1p_lambda_l2",
    "bagging_fraction",
)
_OTHER_ALIASES = {
    "eta": "learning_rate",
    "shrinkage_rate": "learning_rate",
    "num_leaf": "num_leaves",
    "max_leaves": "num_leaves",
    "sub_feature": "feature_fraction",
    "min_data_per_leaf": "min_data_in_leaf",
    "min_data": "min_data_in_leaf",
    "extra_tree": "extra_trees",
    "l1_regularization": "lambda_l1",
    "l2_regularization": "lambda_l2",
    "sub_row": "bagging_fraction",
}


def is_lightgbm(learner: str | None) -> bool:
    """Whether a learner name (AutoGluon's, FLAML's, an OpenML flow's, ours) is LightGBM."""
    text = (learner or "").lower()
    return "lightgbm" in text or "lgbm" in text


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "false"):
            return 1.0 if text == "true" else 0.0
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def canonical_name(name: str) -> str | None:
    """LightGBM's primary name for a hyperparameter name or alias, None for other names."""
    name = LIGHTGBM_PARAM_ALIASES.get(name, name)
    name = _OTHER_ALIASES.get(name, name)
    return name if name in LIGHTGBM_DEFAULTS else None


def configuration_features(params: Mapping[str, Any], learner: str = "lightgbm") -> list[float]:
    """The configuration as numbers (:data:`FEATURE_NAMES`), defaults filled in by learner.

    Values that are not numbers are ignored (the learner's default applies).
    """
    values = dict(LEARNER_DEFAULTS.get(learner, LIGHTGBM_DEFAULTS))
    for key, value in params.items():
        name = canonical_name(str(key))
        number = _number(value)
        if name is not None and number is not None:
            values[name] = number
    return [
        math.log(max(values["learning_rate"], 1e-6)),
        math.log2(max(values["num_leaves"], 2.0)),
        min(max(values["feature_fraction"], 0.0), 1.0),
        math.log(max(values["min_data_in_leaf"], 1.0)),
        1.0 if values["extra_trees"] else 0.0,
        math.log1p(max(values["lambda_l1"], 0.0)),
        math.log1p(max(values["lambda_l2"], 0.0)),
        min(max(values["bagging_fraction"], 0.0), 1.0),
    ]


def lightgbm_params_from_run(params: Mapping[str, str]) -> dict[str, Any]:
    """LightGBM hyperparameters (primary names, parsed values) found among MLflow run params.

    ``lightgbm.<name>`` (what the MLflow plugin logs) wins over ``<step>__<name>`` and bare
    names. Returns an empty dict when the run sets none.
    """
    found: dict[str, tuple[int, Any]] = {}
    for key, raw in params.items():
        if key.startswith("lightgbm."):
            priority, name = 0, key[len("lightgbm.") :]
        elif "__" in key:
            priority, name = 1, key.rsplit("__", 1)[1]
        else:
            priority, name = 2, key
        primary = canonical_name(name)
        number = _number(raw)
        if primary is None or number is None:
            continue
        if primary not in found or priority < found[primary][0]:
            value: Any = bool(number) if primary == "extra_trees" else number
            if primary in ("num_leaves", "min_data_in_leaf") and number == int(number):
                value = int(number)
            found[primary] = (priority, value)
    return {k: v for k, (_, v) in sorted(found.items())}


__all__ = [
    "FEATURE_NAMES",
    "LEARNER_DEFAULTS",
    "LIGHTGBM_DEFAULTS",
    "canonical_name",
    "configuration_features",
    "is_lightgbm",
    "lightgbm_params_from_run",
]
