"""Which operator will the next iteration change? A LightGBM model on iteration chains.

Chains come from the trace store (:func:`load_chains`: MLflow, OpenML or Mileage's executor
history) or from the documented generator (:func:`generate_chains`, synthetic). The model,
:class:`NextChangePredictor`, follows the scikit-learn estimator contract and saves itself as
a LightGBM text model plus JSON; the baselines and :func:`evaluate` (split by chain) measure
it.
"""

from __future__ import annotations

from mileage.metalearner.nextstep._baselines import (
    ChangePredictor,
    MajorityBaseline,
    MarkovBaseline,
    RepeatLastBaseline,
    TopKResult,
    evaluate,
)
from mileage.metalearner.nextstep._bookkeeping import bookkeeping_units, modelling_only
from mileage.metalearner.nextstep._chains import (
    Chain,
    Step,
    dag_layout,
    diff_units,
    linear_layout,
    load_chains,
)
from mileage.metalearner.nextstep._features import FEATURES, Priors
from mileage.metalearner.nextstep._generator import (
    CHANGE_TYPES,
    TEMPLATE,
    Change,
    ChangeMix,
    SimulatedUser,
    generate_chains,
)
from mileage.metalearner.nextstep._model import ChangeClassifier, NextChangePredictor

__all__ = [
    "CHANGE_TYPES",
    "FEATURES",
    "TEMPLATE",
    "Chain",
    "Change",
    "ChangeClassifier",
    "ChangeMix",
    "ChangePredictor",
    "MajorityBaseline",
    "MarkovBaseline",
    "NextChangePredictor",
    "Priors",
    "RepeatLastBaseline",
    "SimulatedUser",
    "Step",
    "TopKResult",
    "bookkeeping_units",
    "dag_layout",
    "diff_units",
    "evaluate",
    "generate_chains",
    "linear_layout",
    "load_chains",
    "modelling_only",
]
