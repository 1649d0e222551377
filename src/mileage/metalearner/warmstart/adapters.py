"""Hand ranked configurations to the searches users already run: nothing runs by itself.

Every adapter takes the recommendations (or ``{"name", "params"}`` dicts from
``mileage warmstart --json``) and returns plain data or queues trials; the user's own
``study.optimize`` / ``flaml.tune.run`` / ``AutoML.fit`` decides when anything is evaluated.

* :func:`search_params` turns a configuration into explicit hyperparameters: the learner's
  defaults filled in (AutoGluon's LightGBM starts at learning rate 0.05), named as LightGBM's
  scikit-learn API names them (``colsample_bytree``, ``min_child_samples``) or LightGBM's own
  names, restricted and clipped to a search space when one is given.
* :func:`enqueue_optuna` queues them in an Optuna study (``study.enqueue_trial``), in rank
  order, with the rank and name as user attributes.
* :func:`flaml_points` gives ``points_to_evaluate`` for ``flaml.tune.run``;
  :func:`flaml_starting_points` gives ``starting_points`` for ``flaml.AutoML.fit``.

Example:
    >>> recs = [{"name": "LightGBM_r88", "params": {"learning_rate": 0.0246, "num_leaves": 22}}]
    >>> search_params(recs[0], space={"learning_rate": (0.001, 0.3), "num_leaves": (4, 256)})
    {'learning_rate': 0.0246, 'num_leaves': 22}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from mileage.metalearner.warmstart._configspace import (
    LEARNER_DEFAULTS,
    LIGHTGBM_DEFAULTS,
    canonical_name,
)
from mileage.platform.vocabulary import LIGHTGBM_PARAM_ALIASES

if TYPE_CHECKING:
    import optuna

    from mileage.metalearner.warmstart._service import Recommendation

Naming = Literal["sklearn", "lightgbm"]
Space = Mapping[str, "tuple[float, float] | Sequence[Any]"]
_TO_SKLEARN = {primary: sk for sk, primary in LIGHTGBM_PARAM_ALIASES.items()}
_INTEGERS = {"num_leaves", "min_data_in_leaf", "min_child_samples", "max_depth", "max_bin"}
#: FLAML's LightGBM search space names (``flaml.automl.model.LGBMEstimator``).
FLAML_LGBM_PARAMS = (
    "n_estimators",
    "num_leaves",
    "min_child_samples",
    "learning_rate",
    "log_max_bin",
    "colsample_bytree",
    "reg_alpha",
    "reg_lambda",
)


def _as_dict(item: Recommendation | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return dict(item)
    return item.to_dict()


def search_params(
    item: Recommendation | Mapping[str, Any],
    *,
    naming: Naming = "sklearn",
    space: Space | None = None,
    fill_defaults: bool = True,
) -> dict[str, Any]:
    """Explicit hyperparameters of one recommended configuration.

    Args:
        item: A :class:`~mileage.metalearner.warmstart._service.Recommendation` or a dict with
            ``params`` (and optionally ``learner``).
        naming: ``sklearn`` (``LGBMClassifier`` argument names) or ``lightgbm`` (primary names).
        space: When given, keep only these names; a ``(low, high)`` pair clips numbers into
            the range, a list of choices keeps a value only if it is one of them.
        fill_defaults: Fill the hyperparameters the configuration leaves at its learner's
            defaults (only those the ranker describes).

    Returns:
        Name -> value.
    """
    data = _as_dict(item)
    learner = str(data.get("learner") or "lightgbm")
    values: dict[str, Any] = {}
    if fill_defaults:
        values.update(LEARNER_DEFAULTS.get(learner, LIGHTGBM_DEFAULTS))
    for key, value in dict(data.get("params") or {}).items():
        values[canonical_name(str(key)) or str(key)] = value
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = _TO_SKLEARN.get(key, key) if naming == "sklearn" else key
        if name in ("extra_trees",):
            value = bool(value)
        elif name in _INTEGERS and isinstance(value, float) and value.is_integer():
            value = int(value)
        out[name] = value
    if space is None:
        return dict(sorted(out.items()))
    kept: dict[str, Any] = {}
    for name, bounds in space.items():
        if name not in out:
            continue
        value = out[name]
        if isinstance(bounds, tuple) and len(bounds) == 2 and not isinstance(value, bool):
            low, high = bounds
            clipped = min(max(float(value), float(low)), float(high))
            kept[name] = round(clipped) if isinstance(value, int) else clipped
        elif isinstance(bounds, Sequence) and not isinstance(bounds, str | tuple):
            if value in bounds:
                kept[name] = value
        else:
            kept[name] = value
    return kept


def configurations_json(items: Iterable[Recommendation | Mapping[str, Any]]) -> dict[str, Any]:
    """The plain-JSON hand-off: ``{"configurations": [{"name", "params"}, ...]}`` in rank order."""
    return {
        "configurations": [
            {"name": str(d.get("name")), "params": dict(d.get("params") or {})}
            for d in map(_as_dict, items)
        ]
    }


def enqueue_optuna(
    study: optuna.Study,
    items: Iterable[Recommendation | Mapping[str, Any]],
    *,
    naming: Naming = "sklearn",
    space: Space | None = None,
    skip_if_exists: bool = True,
) -> int:
    """Queue the configurations as the study's next trials, in rank order.

    Only queued: they run when the user's ``study.optimize`` asks for trials. With
    ``skip_if_exists`` a resumed script does not queue the same configuration twice.

    Returns:
        How many configurations were handed to ``study.enqueue_trial``.
    """
    n = 0
    for rank, item in enumerate(items, start=1):
        data = _as_dict(item)
        params = search_params(data, naming=naming, space=space)
        if not params:
            continue
        study.enqueue_trial(
            params,
            user_attrs={
                "source": "mileage.warmstart",
                "rank": rank,
                "name": str(data.get("name")),
            },
            skip_if_exists=skip_if_exists,
        )
        n += 1
    return n


def flaml_points(
    items: Iterable[Recommendation | Mapping[str, Any]],
    *,
    naming: Naming = "sklearn",
    space: Space | None = None,
) -> list[dict[str, Any]]:
    """``points_to_evaluate`` for ``flaml.tune.run(..., points_to_evaluate=...)``, in rank order.

    FLAML evaluates them first, in order; its search-space transform may perturb values in
    the last digits.
    """
    return [p for p in (search_params(i, naming=naming, space=space) for i in items) if p]


def flaml_starting_points(
    items: Iterable[Recommendation | Mapping[str, Any]], estimator: str = "lgbm"
) -> dict[str, list[dict[str, Any]]]:
    """``starting_points`` for ``flaml.AutoML().fit(..., starting_points=...)``.

    Keeps the names of FLAML's LightGBM search space (``num_leaves``, ``min_child_samples``,
    ``learning_rate``, ``colsample_bytree``, ``reg_alpha``, ``reg_lambda``); FLAML draws
    the others. ``reg_alpha``/``reg_lambda`` of 0 become FLAML's lower bound (1/1024), since
    FLAML samples them on a log scale.
    """
    points = []
    for item in items:
        params = search_params(item, naming="sklearn")
        point = {k: v for k, v in params.items() if k in FLAML_LGBM_PARAMS}
        for key in ("reg_alpha", "reg_lambda"):
            if key in point:
                point[key] = max(float(point[key]), 1 / 1024)
        if "num_leaves" in point:
            point["num_leaves"] = max(4, int(point["num_leaves"]))
        if "min_child_samples" in point:
            point["min_child_samples"] = max(2, int(point["min_child_samples"]))
        if point and all(math.isfinite(float(v)) for v in point.values()):
            points.append(point)
    return {estimator: points}


__all__ = [
    "FLAML_LGBM_PARAMS",
    "configurations_json",
    "enqueue_optuna",
    "flaml_points",
    "flaml_starting_points",
    "search_params",
]
