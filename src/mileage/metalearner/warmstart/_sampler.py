"""``WarmStartSampler``: an Optuna sampler that starts from the meta-learner and keeps learning.

How it proposes (see :mod:`mileage.metalearner.warmstart._adaptive` for the arithmetic):

1. The first trial gets the warm-start ranker's first pick for the dataset's meta-features.
2. After every completed trial the training tasks are re-weighted by how well their regret
   ranks the configurations tried so far the way the study's values rank them
   (performance-space similarity), and the next trial gets the greedy portfolio's next pick
   under those weights. When ``interpolate`` is on and the surrogate expects a configuration
   halfway between the best trial so far and that pick to do better, the halfway point is
   proposed instead.
3. When the meta-data stops paying (the rule of
   :meth:`~mileage.metalearner.warmstart._adaptive.AdaptivePortfolio.hand_over`, or
   ``max_warm_trials`` trials have finished) the study is handed to the independent sampler
   (TPE by default). It reads every trial of the study, so it starts seeded with all of them.

It works with the user's own search space: each ``trial.suggest_*`` whose name is a LightGBM
hyperparameter (``learning_rate``, ``num_leaves``, ``colsample_bytree``/``feature_fraction``,
``min_child_samples``/``min_data_in_leaf``, ``reg_alpha``, ``reg_lambda``, ``subsample``,
``extra_trees``, and their aliases) gets the proposed value clipped into its range (rounded
to integers and steps; a categorical keeps it only if it is one of the choices); every other
parameter is drawn by the independent sampler. Trials the sampler did not propose (enqueued,
from another process, from before a resume) are recognised by their parameters and learnt
from too, so a study resumed from RDB storage continues where it was. Nothing is written to
the study: the sampler's state is rebuilt from the trials.

Bad input (documented fallbacks, never a silent no-op):

* Multi-objective study: :class:`~mileage.platform.errors.ConfigError` at the first trial.
* ``direction="maximize"``: values are negated (higher is better is understood).
* A model trained without tasks of the study's problem type: ``ConfigError`` at construction.
* A search space with no LightGBM hyperparameter: a :class:`UserWarning` after the first
  trial, and the independent sampler takes over.
* An objective that raises: the failed (or pruned) trial is not learnt from and its
  configuration is not proposed again; Optuna re-raises unless ``catch`` says otherwise.
"""

from __future__ import annotations

import logging
import math
import threading
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from mileage.metalearner.warmstart._adaptive import (
    DEFAULT_TEMPERATURE,
    AdaptivePortfolio,
    HandOver,
    top_indices,
)
from mileage.metalearner.warmstart._configspace import (
    LEARNER_DEFAULTS,
    LIGHTGBM_DEFAULTS,
    canonical_name,
    configuration_features,
)
from mileage.platform.errors import ConfigError
from mileage.platform.vocabulary import PROBLEM_TYPES

if TYPE_CHECKING:
    from optuna.study import Study

    from mileage.metalearner.warmstart._service import LoadedModel

log = logging.getLogger("mileage.metalearner.warmstart")
#: Training tasks (the highest-weighted) on which the surrogate scores a configuration that
#: is not stored; keeps a trial's cost bounded with 10,000 training tasks.
SURROGATE_TASKS = 1000


def _full_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """A stored configuration with its learner's defaults filled in (LightGBM primary names)."""
    values: dict[str, Any] = dict(
        LEARNER_DEFAULTS.get(str(config.get("learner")), LIGHTGBM_DEFAULTS)
    )
    for key, value in dict(config.get("params") or {}).items():
        name = canonical_name(str(key))
        if name is not None:
            values[name] = value
    return values


def _lightgbm_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's LightGBM hyperparameters under their primary names."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        primary = canonical_name(name)
        if primary is not None:
            out[primary] = value
    return out


def _from_features(f: np.ndarray) -> dict[str, Any]:
    """Inverse of :func:`configuration_features` (for proposals between stored configurations)."""
    return {
        "learning_rate": float(math.exp(f[0])),
        "num_leaves": max(2, round(2 ** float(f[1]))),
        "feature_fraction": float(min(max(f[2], 0.0), 1.0)),
        "min_data_in_leaf": max(1, round(math.exp(float(f[3])))),
        "extra_trees": bool(f[4] >= 0.5),
        "lambda_l1": float(math.expm1(max(float(f[5]), 0.0))),
        "lambda_l2": float(math.expm1(max(float(f[6]), 0.0))),
        "bagging_fraction": float(min(max(f[7], 0.0), 1.0)),
    }


def map_value(value: Any, distribution: BaseDistribution) -> Any:
    """A proposed hyperparameter value placed in the user's distribution, or None if it
    cannot be (a categorical without it)."""
    if isinstance(distribution, CategoricalDistribution):
        choices = distribution.choices
        if value in choices:  # the user's own choice: 0.0 proposed for [False, True] is False
            return choices[list(choices).index(value)]
        if isinstance(value, bool) or value is None:
            return None
        numeric = [c for c in choices if isinstance(c, int | float) and not isinstance(c, bool)]
        if not numeric:
            return None
        return min(numeric, key=lambda c: abs(float(c) - float(value)))
    if isinstance(value, bool):
        value = float(value)
    if not isinstance(value, int | float) or not math.isfinite(float(value)):
        return None
    if isinstance(distribution, IntDistribution):
        low, high, istep = distribution.low, distribution.high, distribution.step
        iv = min(max(round(float(value)), low), high)
        return int(low + round((iv - low) / istep) * istep) if istep > 1 else int(iv)
    if isinstance(distribution, FloatDistribution):
        fv = min(max(float(value), distribution.low), distribution.high)
        if distribution.step is not None:
            fstep = float(distribution.step)
            fv = distribution.low + round((fv - distribution.low) / fstep) * fstep
            fv = min(max(fv, distribution.low), distribution.high)
        return float(fv)
    return None


class WarmStartSampler(BaseSampler):
    """Optuna sampler: warm-start proposals re-weighted after every trial, then TPE.

    Args:
        meta_features: The dataset's meta-features (our names, e.g. from
            :func:`~mileage.metalearner.metafeatures.compute_meta_features`); None/NaN or
            absent mean unknown.
        problem_type: ``binary``, ``multiclass`` or ``regression``.
        model: The warm-start model (default: the embedded default; pass
            ``resolve_warmstart(store)`` to use the trace store's).
        independent_sampler: Draws parameters that are not LightGBM hyperparameters, and
            the whole study after the hand-over (default ``TPESampler(seed=seed)``).
        seed: Seed of the default independent sampler.
        max_warm_trials: Hand over after this many finished trials at the latest.
        temperature: How fast observed agreement overrides the meta-features (smaller:
            faster).
        min_gain: Hand over when the next stored configuration is expected to lower the
            weighted best regret by less than this.
        min_agreement: Hand over when the results agree with the training tasks no better.
        min_observations: Completed trials needed before handing over is considered.
        interpolate: Propose a configuration between the best trial and the next pick when
            the surrogate expects it to be better by at least ``interpolate_margin``.
        interpolate_margin: See ``interpolate``.

    Raises:
        ConfigError: Unknown problem type, or the model has no training task of it.

    Example:
        >>> sampler = WarmStartSampler({"log_n_instances": 8.5}, "binary")  # doctest: +SKIP
        >>> study = optuna.create_study(sampler=sampler)  # doctest: +SKIP
    """

    def __init__(
        self,
        meta_features: Mapping[str, Any],
        problem_type: str,
        *,
        model: LoadedModel | None = None,
        independent_sampler: BaseSampler | None = None,
        seed: int | None = None,
        max_warm_trials: int = 25,
        temperature: float = DEFAULT_TEMPERATURE,
        min_gain: float = 0.001,
        min_agreement: float = 0.0,
        min_observations: int = 3,
        interpolate: bool = True,
        interpolate_margin: float = 0.01,
    ) -> None:
        import pandas as pd

        from mileage.metalearner.warmstart._default import load_default
        from mileage.metalearner.warmstart._service import known_meta_features
        from mileage.metalearner.warmstart._traces import meta_matrix

        if problem_type not in PROBLEM_TYPES:
            raise ConfigError(
                f"problem type {problem_type!r} is unknown; use one of {', '.join(PROBLEM_TYPES)}."
            )
        loaded = model if model is not None else load_default()
        ranker = loaded.model
        names = list(loaded.metadata.get("meta_features") or ranker.feature_names_in_)
        column = f"problem_{problem_type}"
        if column in names:
            n_same = int(np.nansum(ranker.X_train_[:, names.index(column)]))
            if n_same == 0:
                trained = sorted(
                    n[len("problem_") :]
                    for n in names
                    if n.startswith("problem_")
                    and np.nansum(ranker.X_train_[:, names.index(n)]) > 0
                )
                raise ConfigError(
                    f"the warm-start model ({loaded.describe()}) has no {problem_type} training "
                    f"task (it knows {', '.join(trained)}); use the embedded default "
                    "(model=None) or train on traces of this problem type."
                )
        features = known_meta_features(meta_features)
        row = pd.DataFrame([{**features, "problem_type": problem_type}], index=["new"])
        self.loaded = loaded
        self.problem_type = problem_type
        self._ranker = ranker
        self._prior = ranker.task_weights(meta_matrix(row, names))[0]
        self._regret = np.nan_to_num(np.asarray(ranker.regret_, dtype=float), nan=1.0)
        configs = list(loaded.metadata.get("configurations", []))
        self._candidates = [_full_params(c) for c in configs]
        self._names = [str(next(iter(c["names"].values()), c["key"])) for c in configs]
        self._features = np.array(
            [configuration_features(p, "lightgbm") for p in self._candidates], dtype=float
        ).reshape(len(self._candidates), -1)
        self._independent = independent_sampler or optuna.samplers.TPESampler(seed=seed)
        self.max_warm_trials = max_warm_trials
        self.interpolate = interpolate
        self.interpolate_margin = interpolate_margin
        self._portfolio_params: dict[str, Any] = {
            "temperature": temperature,
            "min_gain": min_gain,
            "min_agreement": min_agreement,
            "min_observations": min_observations,
        }
        self._lock = threading.RLock()
        self._reset()

    def _reset(self) -> None:
        self._portfolio = AdaptivePortfolio(self._regret, self._prior, **self._portfolio_params)
        self._fed: set[int] = set()
        self._matches: dict[int, frozenset[int]] = {}
        self._mapped_cache: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        self._proposals: dict[int, dict[str, Any]] = {}
        self._proposal_names: dict[int, str] = {}
        self._no_lightgbm = False
        self.handed_over: HandOver | None = None
        self._study_id: int | None = None

    # -- state from the study's trials -----------------------------------------------------

    def _mapped(self, params: Mapping[str, Any], distributions: Mapping[str, Any]) -> dict:
        out = {}
        for name, dist in distributions.items():
            primary = canonical_name(name)
            if primary is not None and primary in params:
                value = map_value(params[primary], dist)
                if value is not None:
                    out[name] = value
        return out

    def _matching(self, trial: FrozenTrial) -> frozenset[int]:
        """Candidates that map onto this trial's LightGBM parameters in its space."""
        if trial.state.is_finished() and trial.number in self._matches:
            return self._matches[trial.number]
        names = sorted(n for n in trial.params if canonical_name(n) is not None)
        found: set[int] = set()
        if names:
            key = tuple((n, repr(trial.distributions[n])) for n in names)
            mapped = self._mapped_cache.get(key)
            if mapped is None:
                dists = {n: trial.distributions[n] for n in names}
                mapped = [tuple(sorted(self._mapped(p, dists).items())) for p in self._candidates]
                self._mapped_cache[key] = mapped
            values = tuple((n, trial.params[n]) for n in names)
            found = {j for j, m in enumerate(mapped) if m == values}
        result = frozenset(found)
        if trial.state.is_finished():
            self._matches[trial.number] = result
        return result

    def _column(self, trial: FrozenTrial) -> np.ndarray | None:
        """The trial's configuration's regret on every training task (None: not LightGBM)."""
        matches = self._matching(trial)
        if matches:
            return np.asarray(self._regret[:, min(matches)])
        params = _lightgbm_params(trial.params)
        if not params:
            return None
        return self._foreign_column(np.asarray(configuration_features(params, "lightgbm")))

    def _foreign_column(self, f: np.ndarray) -> np.ndarray:
        """Regret of a configuration that is not stored: the surrogate's prediction on the
        :data:`SURROGATE_TASKS` highest-weighted training tasks, the nearest stored
        configuration's regret on the rest (bounds the cost with many training tasks)."""
        nearest = int(np.argmin(((self._features - f) ** 2).sum(axis=1)))
        column = np.array(self._regret[:, nearest], dtype=float)
        if self._ranker.surrogate_ is None:
            return column
        top = top_indices(self._portfolio.weights(), SURROGATE_TASKS)
        predicted = self._ranker._surrogate_predict(
            self._ranker.X_train_[top], np.repeat(f[None, :], len(top), 0)
        )
        column[top] = np.clip(predicted, 0.0, 1.0)
        return column

    def _update(self, study: Study) -> list[FrozenTrial]:
        if len(study.directions) > 1:
            raise ConfigError(
                f"WarmStartSampler optimises one objective; study {study.study_name!r} has "
                f"{len(study.directions)} directions; use one objective (e.g. the validation "
                "loss) or another sampler."
            )
        study_id = getattr(study, "_study_id", None)
        if self._study_id is not None and study_id != self._study_id:
            self._reset()
        self._study_id = study_id
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        trials = study.get_trials(deepcopy=False)
        complete = sorted(
            (t for t in trials if t.state == TrialState.COMPLETE and t.number not in self._fed),
            key=lambda t: t.number,
        )
        for trial in complete:
            self._fed.add(trial.number)
            if trial.value is None or not math.isfinite(trial.value):
                continue
            col = self._column(trial)
            if col is None:
                if trial.distributions and not any(
                    canonical_name(n) is not None for n in trial.distributions
                ):
                    self._no_lightgbm = True
                continue
            self._portfolio.observe(col, sign * float(trial.value))
        return trials

    def _tried(self, trials: list[FrozenTrial], current: int) -> np.ndarray:
        mask = np.zeros(len(self._candidates), dtype=bool)
        for t in trials:
            if t.number == current:
                continue
            for j in self._matching(t):
                mask[j] = True
        for number, name in self._proposal_names.items():
            if number != current and name in self._names:
                mask[self._names.index(name)] = True
        return mask

    def _decide_hand_over(self, trials: list[FrozenTrial], tried: np.ndarray) -> None:
        if self.handed_over is not None:
            return
        finished = sum(t.state.is_finished() for t in trials)
        if self._no_lightgbm:
            self.handed_over = HandOver(
                True,
                "the search space has no LightGBM hyperparameter (learning_rate, num_leaves, "
                "colsample_bytree, min_child_samples, ...), so the meta-data cannot help",
            )
            warnings.warn(
                f"WarmStartSampler: {self.handed_over.reason}; the independent sampler "
                f"({type(self._independent).__name__}) samples this study.",
                UserWarning,
                stacklevel=3,
            )
        elif finished >= self.max_warm_trials:
            self.handed_over = HandOver(True, f"{finished} trials finished (max_warm_trials)")
        else:
            decision = self._portfolio.hand_over(tried)
            if decision.stop:
                self.handed_over = decision
        if self.handed_over is not None:
            log.info(
                "WarmStartSampler hands the study to %s: %s",
                type(self._independent).__name__,
                self.handed_over.reason,
            )

    def _best_features(self, study: Study, sign: float) -> np.ndarray | None:
        best: tuple[float, FrozenTrial] | None = None
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.value is not None and (best is None or sign * t.value < best[0]):
                best = (sign * t.value, t)
        if best is None:
            return None
        matches = self._matching(best[1])
        if matches:
            return np.asarray(self._features[min(matches)])
        params = _lightgbm_params(best[1].params)
        return np.asarray(configuration_features(params, "lightgbm")) if params else None

    def _between(self, study: Study, j: int) -> dict[str, Any] | None:
        """A configuration halfway between the best trial and candidate ``j``, when the
        surrogate expects it to beat ``j`` by ``interpolate_margin`` on the weighted tasks."""
        if self._ranker.surrogate_ is None or self._portfolio.n_observed < 2:
            return None
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        best = self._best_features(study, sign)
        if best is None or np.allclose(best, self._features[j]):
            return None
        middle = (best + self._features[j]) / 2
        middle[4] = self._features[j][4]  # extra_trees is on or off, not halfway
        weights = self._portfolio.weights()
        top = top_indices(weights, 256)  # the tasks that matter, bounded cost
        w = weights[top] / weights[top].sum()
        x = self._ranker.X_train_[top]
        predicted = np.clip(
            self._ranker._surrogate_predict(x, np.repeat(middle[None, :], len(top), 0)), 0, 1
        )
        reached = np.asarray(self._portfolio._best[top])
        reached = np.where(np.isfinite(reached), reached, 1.0)
        mid_score = float(w @ np.minimum(reached, predicted))
        j_score = float(w @ np.minimum(reached, self._regret[top, j]))
        if mid_score < j_score - self.interpolate_margin:
            return _from_features(middle)
        return None

    # -- the sampler interface -------------------------------------------------------------

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        """Decide this trial's configuration (or leave it to the independent sampler)."""
        with self._lock:
            if self.handed_over is not None and self._study_id == getattr(study, "_study_id", None):
                self._independent.before_trial(study, trial)
                return
            trials = self._update(study)
            if "fixed_params" in trial.system_attrs:  # enqueued by the user: theirs to run
                self._independent.before_trial(study, trial)
                return
            tried = self._tried(trials, trial.number)
            self._decide_hand_over(trials, tried)
            if self.handed_over is None:
                j, _ = self._portfolio.propose(tried)
                if j < 0:
                    self.handed_over = HandOver(True, "every stored configuration was tried")
                else:
                    params = self._candidates[j]
                    name = self._names[j]
                    between = self._between(study, j) if self.interpolate else None
                    if between is not None:
                        params, name = between, f"between best and {name}"
                    self._proposals[trial.number] = params
                    self._proposal_names[trial.number] = self._names[j]
                    log.debug("WarmStartSampler trial %d: %s", trial.number, name)
                    return
        self._independent.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """Empty while warm; the independent sampler's after the hand-over."""
        if self.handed_over is None:
            return {}
        return self._independent.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """The independent sampler's relative sample after the hand-over."""
        if self.handed_over is None or not search_space:
            return {}
        return self._independent.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """The proposal's value for a LightGBM hyperparameter; else the independent sampler's."""
        with self._lock:
            proposal = self._proposals.get(trial.number)
        primary = canonical_name(param_name)
        if proposal is not None and primary is not None and primary in proposal:
            value = map_value(proposal[primary], param_distribution)
            if value is not None:
                return value
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Any,
    ) -> None:
        """Forget the in-flight proposal (the trial's parameters now say what it was)."""
        with self._lock:
            # The proposal's name stays taken, so it is not proposed again (failed or pruned
            # trials are not learnt from, nor retried).
            self._proposals.pop(trial.number, None)
        self._independent.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        """Reseed the independent sampler (Optuna calls this for ``n_jobs > 1``)."""
        self._independent.reseed_rng()


__all__ = ["WarmStartSampler", "map_value"]
