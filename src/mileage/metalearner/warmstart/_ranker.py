"""The warm-start ranker: which configurations to try first on a new dataset.

Design (chosen with ``benchmarks/warmstart.py``, where a pointwise ``LGBMRanker`` over
meta-features x configuration features is one of the compared methods and loses):

1. **Regret matrix.** Each training task's errors are normalised to regret in ``[0, 1]``
   (``(error - best) / (worst - best)`` over the configurations it evaluated), so tasks
   scored by AUC, log loss or RMSE are comparable. Entries a task never evaluated are filled
   by a LightGBM *surrogate* over meta-features x configuration features when configuration
   features are given (else by the configuration's mean regret).
2. **Performance embedding.** The tasks' regret vectors are projected on their first
   principal components: tasks close there agree on which configurations are good.
   LightGBM regressors learn to place a task in that space from its meta-features alone.
3. **Weighted greedy portfolio.** For a new dataset, training tasks are weighted by a
   Gaussian kernel between its predicted position and theirs (both predicted from
   meta-features, so a training task on the same dataset weighs most), and configurations
   are chosen one at a
   time to minimise the weighted mean of the best regret reached so far (the criterion of
   auto-sklearn 2.0's portfolios, made task-specific). The order is the ranking; the
   weighted mean after ``i`` picks is the *expected regret* reported with it.
4. **Honest self-assessment.** During ``fit`` the embedding regressors are also fitted in
   5 folds, so every training task gets an out-of-fold position; each training task is then
   ranked from its out-of-fold position by the other tasks alone. That inner
   leave-one-task-out calibrates the expected regret (the in-sample value is scaled by the
   optimism measured there) and, with ``bandwidth="auto"``, picks the kernel width.

Models are saved as LightGBM text models plus JSON (:meth:`WarmStartRanker.to_files`);
nothing is pickled. Everything runs on one thread and is deterministic for a given
``random_state``.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 3))                     # meta-features of 30 tasks
    >>> errors = rng.random((30, 8))                     # 8 configurations evaluated on each
    >>> ranker = WarmStartRanker().fit(X, errors)
    >>> order, expected = ranker.recommend(X[:1], k=3)
    >>> order.shape, bool(expected[0, 0] >= expected[0, 2])
    ((1, 3), True)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from mileage.platform.errors import DataError, MileageError

FORMAT = "mileage.warmstart/1"
#: Kernel widths tried by ``bandwidth="auto"``.
BANDWIDTHS = (0.1, 0.3, 1.0, 3.0)
#: Prefix lengths the inner evaluation scores (as the benchmark does).
INNER_KS = (1, 3, 5, 10, 25)


class ModelFormatError(MileageError, ValueError):
    """A saved warm-start model cannot be read (missing file, other format version)."""


def _lgbm_params(est: WarmStartRanker, **extra: Any) -> dict[str, Any]:
    return {
        "objective": "regression",
        "learning_rate": est.learning_rate,
        "num_leaves": est.num_leaves,
        "min_data_in_leaf": est.min_child_samples,
        "min_data_in_bin": 1,
        "feature_fraction_bynode": 1.0,
        "num_threads": 1,
        "deterministic": True,
        "force_row_wise": True,
        "seed": est.random_state,
        "verbose": -1,
        **extra,
    }


def normalized_regret(errors: np.ndarray) -> np.ndarray:
    """Per row ``(error - min) / (max - min)`` over the observed (non-NaN) entries.

    A row whose observed errors are all equal gets 0 everywhere it was observed.
    """
    lo = np.nanmin(errors, axis=1, keepdims=True)
    hi = np.nanmax(errors, axis=1, keepdims=True)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    return (errors - lo) / span


def greedy_portfolio(
    regret: np.ndarray, weights: np.ndarray, k: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Order columns by weighted greedy portfolio construction.

    Args:
        regret: Tasks x candidates, in ``[0, 1]``.
        weights: One non-negative weight per task (normalised here).
        k: Stop after ``k`` picks (all candidates when None).

    Returns:
        ``(order, expected)``: candidate indices, and after each pick the weighted mean over
        tasks of the best regret among the picks so far. Ties (no further gain) go to the
        candidate with the lower weighted mean regret.
    """
    n_tasks, n_cand = regret.shape
    w = np.asarray(weights, dtype=float)
    w = w / w.sum() if w.sum() > 0 else np.full(n_tasks, 1.0 / max(n_tasks, 1))
    mean = w @ regret
    k = n_cand if k is None else min(k, n_cand)
    best = np.full(n_tasks, np.inf)
    chosen = np.zeros(n_cand, dtype=bool)
    order: list[int] = []
    expected: list[float] = []
    for _ in range(k):
        objective = w @ np.minimum(best[:, None], regret)
        objective = np.round(objective, 12)  # ties decided by the mean, not by float noise
        objective[chosen] = np.inf
        j = int(np.lexsort((np.where(chosen, np.inf, mean), objective))[0])
        order.append(j)
        chosen[j] = True
        best = np.minimum(best, regret[:, j])
        expected.append(float(w @ best))
    return np.asarray(order, dtype=int), np.asarray(expected)


class WarmStartRanker(BaseEstimator):
    """Rank candidate configurations for a dataset from its meta-features.

    ``fit(X, y)`` takes one row per training task: ``X`` its meta-features (NaN = unknown),
    ``y`` its error (lower is better) under each configuration, NaN where the task did not
    evaluate it. ``recommend`` returns, for new meta-features, configuration indices in the
    order to try them and the expected normalised regret after each.

    Args:
        n_components: Dimensions of the performance embedding.
        bandwidth: Width of the kernel over the embedding, relative to the median squared
            distance between training tasks (larger: closer to one global portfolio), or
            ``"auto"``: chosen among :data:`BANDWIDTHS` by inner leave-one-task-out. The
            default 1.0 did best on TabRepo's matrix; "auto" was noisier there (see the
            warm-start section of docs/benchmarks.md).
        n_estimators: Boosting rounds of each embedding regressor.
        learning_rate: Learning rate of the LightGBM models.
        num_leaves: Leaves per tree of the LightGBM models.
        min_child_samples: Minimum rows per leaf of the LightGBM models.
        surrogate_estimators: Boosting rounds of the surrogate (only trained when
            ``configurations`` are passed to :meth:`fit`).
        random_state: Seed of the LightGBM models.
        type_blend: Share of each task's weight given to a plain per-problem-type portfolio
            (uniform over the training tasks of the new task's problem type, as auto-sklearn
            2.0 and TabRepo build portfolios); the rest follows the kernel. Needs the one-hot
            ``problem_*`` columns by name (fit on a DataFrame); 0 turns it off. The default
            0.5 keeps the ranker from falling behind the per-type portfolio on TabRepo
            (``benchmarks/warmstart.py``).
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "bandwidth": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "num_leaves": [Interval(Integral, 2, None, closed="left")],
        "min_child_samples": [Interval(Integral, 1, None, closed="left")],
        "surrogate_estimators": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "type_blend": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self,
        *,
        n_components: int = 3,
        bandwidth: float | str = 1.0,
        n_estimators: int = 100,
        learning_rate: float = 0.05,
        num_leaves: int = 7,
        min_child_samples: int = 5,
        surrogate_estimators: int = 300,
        random_state: int = 0,
        type_blend: float = 0.5,
    ) -> None:
        self.n_components = n_components
        self.bandwidth = bandwidth
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.surrogate_estimators = surrogate_estimators
        self.random_state = random_state
        self.type_blend = type_blend

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    # -- fitting -------------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        configurations: Any = None,
        surrogate_trainer: Any = None,
    ) -> WarmStartRanker:
        """Learn from training tasks.

        Args:
            X: Meta-features, shape ``(n_tasks, n_meta_features)``; NaN means unknown.
            y: Errors, shape ``(n_tasks, n_configurations)`` (or ``(n_tasks,)`` for one
                configuration); lower is better; NaN where not evaluated.
            configurations: Optional configuration features, shape
                ``(n_configurations, n_config_features)``; enables the surrogate, which
                fills unevaluated entries and ranks configurations never evaluated.
            surrogate_trainer: Fits the surrogate instead of this process:
                ``trainer(params, rounds, X, C, regret, observed)`` returns a LightGBM
                ``Booster`` (:func:`~mileage.metalearner.warmstart.fit_on_dask` trains it on a
                Dask cluster).

        Returns:
            self

        Raises:
            ValueError: Shapes disagree, a task evaluated nothing, or values are infinite.
        """
        self._validate_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None; "
                "pass each task's errors under each configuration."
            )
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64)
        Y = check_array(
            y, ensure_2d=False, ensure_all_finite="allow-nan", dtype=np.float64, input_name="y"
        )
        if Y.ndim == 1:
            Y = Y[:, None]
        if Y.shape[0] != X.shape[0]:
            raise ValueError(
                f"y has {Y.shape[0]} rows but X has {X.shape[0]}; pass one row of errors per task."
            )
        if np.isinf(Y).any():
            raise ValueError("y holds infinite errors; use NaN for configurations not evaluated.")
        empty = np.flatnonzero(np.isnan(Y).all(axis=1))
        if empty.size:
            raise ValueError(
                f"{empty.size} task(s) evaluated no configuration (rows {empty[:5].tolist()}); "
                "drop them before fitting."
            )
        self.n_outputs_ = Y.shape[1]
        self._single_output = y is not None and np.ndim(y) == 1
        observed = ~np.isnan(Y)
        regret = normalized_regret(Y)
        self.surrogate_ = None
        self.configuration_features_ = None
        if configurations is not None:
            C = check_array(configurations, dtype=np.float64, input_name="configurations")
            if C.shape[0] != Y.shape[1]:
                raise ValueError(
                    f"configurations has {C.shape[0]} rows but y has {Y.shape[1]} columns; "
                    "pass one row of features per configuration."
                )
            self.configuration_features_ = C
            if surrogate_trainer is None:
                self.surrogate_ = self._fit_surrogate(X, C, regret, observed)
            else:
                rounds = self.surrogate_estimators
                self.surrogate_ = surrogate_trainer(
                    self.surrogate_params(), rounds, X, C, regret, observed
                )
        if (~observed).any():
            if configurations is not None:
                rows, cols = np.nonzero(~observed)
                fill = self._surrogate_predict(X[rows], C[cols])
            else:
                col_mean = np.nanmean(np.where(observed, regret, np.nan), axis=0)
                col_mean = np.where(np.isnan(col_mean), 0.5, col_mean)
                rows, cols = np.nonzero(~observed)
                fill = col_mean[cols]
            regret = regret.copy()
            regret[rows, cols] = np.clip(fill, 0.0, 1.0)
        self.regret_ = regret
        self.observed_ = observed
        self.X_train_ = X
        self._fit_embedding(X, regret)
        self._assess(X, regret)
        return self

    def _fit_embedding(self, X: np.ndarray, regret: np.ndarray) -> None:
        import lightgbm as lgb

        n_tasks = regret.shape[0]
        n_comp = min(self.n_components, n_tasks - 1, regret.shape[1])
        self.embedders_: list[Any] = []
        if n_comp < 1:
            self.embedding_ = np.zeros((n_tasks, 0))
            self.reference_ = self.embedding_
            self.distance_scale_ = 1.0
            return
        centred = regret - regret.mean(axis=0)
        u, s, _ = np.linalg.svd(centred, full_matrices=False)
        Z = u[:, :n_comp] * s[:n_comp]
        for c in range(n_comp):
            data = lgb.Dataset(X, Z[:, c], params={"verbose": -1, "min_data_in_bin": 1})
            self.embedders_.append(
                lgb.train(
                    _lgbm_params(self, bagging_fraction=1.0),
                    data,
                    num_boost_round=self.n_estimators,
                )
            )
        self.embedding_ = Z
        self.reference_ = self._predict_embedding(self.embedders_, X)
        R = self.reference_
        d2 = ((R[:, None, :] - R[None, :, :]) ** 2).sum(axis=2)
        off = d2[~np.eye(n_tasks, dtype=bool)]
        scale = float(np.median(off)) if off.size else 1.0
        self.distance_scale_ = scale if scale > 0 else 1.0

    def _predict_embedding(self, boosters: list[Any], X: np.ndarray) -> np.ndarray:
        return np.column_stack([b.predict(X) for b in boosters])

    def _kernel(self, z: np.ndarray, embedding: np.ndarray, bandwidth: float) -> np.ndarray:
        d2 = ((z[:, None, :] - embedding[None, :, :]) ** 2).sum(axis=2)
        logits = -d2 / (bandwidth * self.distance_scale_)
        w = np.exp(logits - logits.max(axis=1, keepdims=True))
        return np.asarray(w / w.sum(axis=1, keepdims=True))

    def _assess(self, X: np.ndarray, regret: np.ndarray) -> None:
        """Inner leave-one-task-out: choose the bandwidth and calibrate expected regret."""
        import lightgbm as lgb

        n_tasks, n_cand = regret.shape
        fixed = None if self.bandwidth == "auto" else float(self.bandwidth)
        self.calibration_ = np.ones(n_cand)
        self.inner_regret_: dict[str, list[float]] = {}
        if not self.embedders_ or n_tasks < 6:
            self.bandwidth_ = fixed if fixed is not None else 1.0
            return
        folds = np.arange(n_tasks) % 5
        np.random.default_rng(self.random_state).shuffle(folds)
        oof = np.empty_like(self.embedding_)
        for f in range(5):
            train, test = folds != f, folds == f
            boosters = [
                lgb.train(
                    _lgbm_params(self),
                    lgb.Dataset(
                        X[train],
                        self.embedding_[train, c],
                        params={"verbose": -1, "min_data_in_bin": 1},
                    ),
                    num_boost_round=self.n_estimators,
                )
                for c in range(self.embedding_.shape[1])
            ]
            oof[test] = self._predict_embedding(boosters, X[test])
        ks = [k for k in INNER_KS if k <= n_cand] or [n_cand]
        candidates = [fixed] if fixed is not None else list(BANDWIDTHS)
        best: tuple[float, float] | None = None
        curves: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        for bw in candidates:
            weights = self._kernel(oof, self.reference_, bw)
            realised = np.empty((n_tasks, n_cand))
            promised = np.empty((n_tasks, n_cand))
            for i in range(n_tasks):
                others = np.arange(n_tasks) != i
                order, expected = greedy_portfolio(regret[others], weights[i, others])
                realised[i] = np.minimum.accumulate(regret[i, order])
                promised[i] = expected
            curves[bw] = (realised, promised)
            score = float(realised[:, [k - 1 for k in ks]].mean())
            self.inner_regret_[str(bw)] = (
                realised[:, [k - 1 for k in ks]].mean(axis=0).round(4).tolist()
            )
            if best is None or score < best[0] - 1e-12:
                best = (score, bw)
        assert best is not None
        self.bandwidth_ = best[1]
        realised, promised = curves[best[1]]
        mean_promised = promised.mean(axis=0)
        ratio = np.where(
            mean_promised > 0, realised.mean(axis=0) / np.maximum(mean_promised, 1e-12), 1.0
        )
        self.calibration_ = np.maximum(ratio, 1.0)

    def _fit_surrogate(
        self, X: np.ndarray, C: np.ndarray, regret: np.ndarray, observed: np.ndarray
    ) -> Any:
        import lightgbm as lgb

        rows, cols = np.nonzero(observed)
        features = np.hstack([X[rows], C[cols]])
        data = lgb.Dataset(features, regret[rows, cols], params={"verbose": -1})
        return lgb.train(self.surrogate_params(), data, num_boost_round=self.surrogate_estimators)

    def surrogate_params(self) -> dict[str, Any]:
        """LightGBM parameters of the surrogate (the same on one machine and on Dask)."""
        return _lgbm_params(
            self,
            num_leaves=15,
            min_data_in_leaf=20,
            bagging_fraction=0.8,
            bagging_freq=1,
            feature_fraction=0.8,
        )

    def _surrogate_predict(self, X: np.ndarray, C: np.ndarray) -> np.ndarray:
        surrogate: Any = self.surrogate_
        return np.asarray(surrogate.predict(np.hstack([X, C])), dtype=float)

    # -- ranking ---------------------------------------------------------------------------

    def task_weights(self, X: Any) -> np.ndarray:
        """Weights of the training tasks for each row of meta-features, shape ``(n, n_tasks)``."""
        check_is_fitted(self, "regret_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        n_tasks = self.regret_.shape[0]
        if not self.embedders_:
            return self._same_dataset_share(X, np.full((X.shape[0], n_tasks), 1.0 / n_tasks))
        weights = self._kernel(
            self._predict_embedding(self.embedders_, X), self.reference_, self.bandwidth_
        )
        return self._same_dataset_share(X, self._blend_types(X, weights))

    def _blend_types(self, X: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Mix in the per-problem-type portfolio's uniform weights (``type_blend``)."""
        names = [str(n) for n in getattr(self, "feature_names_in_", [])]
        cols = [i for i, n in enumerate(names) if n.startswith("problem_")]
        blend = float(getattr(self, "type_blend", 0.0))
        if blend <= 0 or not cols:
            return weights
        train_type = np.nan_to_num(self.X_train_[:, cols])
        out = weights.copy()
        for i, row in enumerate(np.nan_to_num(X[:, cols])):
            same = (train_type @ row) > 0.5
            if not same.any():
                continue
            uniform = same / same.sum()
            out[i] = (1 - blend) * weights[i] + blend * uniform
        return out

    def _same_dataset_share(self, X: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Training tasks with exactly the query's meta-features (the same dataset, e.g. the
        user's own earlier runs on it) share half of the weight: direct evidence outweighs
        any number of merely similar tasks."""
        same = np.all(
            np.isclose(
                self.X_train_[None, :, :], X[:, None, :], rtol=1e-9, atol=0.0, equal_nan=True
            ),
            axis=2,
        )
        out = weights.copy()
        for i in np.flatnonzero(same.any(axis=1) & ~same.all(axis=1)):
            match = same[i]
            out[i, match] = 0.5 * weights[i, match] / weights[i, match].sum()
            out[i, ~match] = 0.5 * weights[i, ~match] / weights[i, ~match].sum()
        return out

    def candidate_regret(self, candidates: Any) -> np.ndarray:
        """Regret of new candidate configurations on every training task, ``(n_tasks, m)``.

        A candidate whose features equal a training configuration takes that column;
        others are predicted by the surrogate.

        Raises:
            DataError: The model was fitted without configuration features.
        """
        check_is_fitted(self, "regret_")
        C = check_array(candidates, dtype=np.float64, input_name="candidates")
        known = self.configuration_features_
        if known is None or self.surrogate_ is None:
            raise DataError(
                "this warm-start model was fitted without configuration features, so it can "
                "only rank the configurations it was trained on; refit with configurations=..."
            )
        if C.shape[1] != known.shape[1]:
            raise ValueError(
                f"candidates have {C.shape[1]} features, the model's configurations {known.shape[1]}"
            )
        out = np.empty((self.regret_.shape[0], C.shape[0]))
        n_tasks = self.X_train_.shape[0]
        for j, c in enumerate(C):
            same = np.flatnonzero(np.all(np.isclose(known, c, rtol=0, atol=1e-9), axis=1))
            if same.size:
                out[:, j] = self.regret_[:, same[0]]
            else:
                out[:, j] = np.clip(
                    self._surrogate_predict(self.X_train_, np.repeat(c[None, :], n_tasks, 0)),
                    0.0,
                    1.0,
                )
        return out

    def recommend(
        self, X: Any, *, k: int | None = None, candidates: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Configurations to try first, for each row of meta-features.

        Args:
            X: Meta-features of the new dataset(s), ``(n, n_meta_features)``.
            k: How many to return (all when None).
            candidates: Features of the configurations to rank (default: the training
                configurations, in the column order of ``y``).

        Returns:
            ``(order, expected)``, both ``(n, k)``: candidate indices in the order to try
            them, and the expected normalised regret of the best of the first ``i + 1``
            (the training tasks' weighted value, scaled by the optimism measured in ``fit``).
        """
        weights = self.task_weights(X)
        regret = self.regret_ if candidates is None else self.candidate_regret(candidates)
        k = regret.shape[1] if k is None else max(1, min(int(k), regret.shape[1]))
        orders = np.empty((weights.shape[0], k), dtype=int)
        expected = np.empty((weights.shape[0], k))
        calibration = np.ones(k)
        m = min(k, len(self.calibration_))
        calibration[:m] = self.calibration_[:m]
        calibration[m:] = self.calibration_[-1] if len(self.calibration_) else 1.0
        for i, w in enumerate(weights):
            orders[i], raw = greedy_portfolio(regret, w, k)
            expected[i] = np.minimum(raw * calibration, 1.0)
        return orders, expected

    def predict(self, X: Any) -> np.ndarray:
        """Position of each training configuration in the ranking (0 = try first).

        Returns:
            ``(n, n_configurations)``, or ``(n,)`` when fitted on a 1-D ``y``.
        """
        orders, _ = self.recommend(X)
        positions = np.empty_like(orders, dtype=float)
        rows = np.arange(orders.shape[0])[:, None]
        positions[rows, orders] = np.arange(orders.shape[1], dtype=float)[None, :]
        return positions[:, 0] if self._single_output else positions

    # -- persistence -----------------------------------------------------------------------

    def to_files(self, metadata: Mapping[str, Any] | None = None) -> dict[str, str]:
        """The fitted model as text files: ``warmstart.json`` plus LightGBM text models.

        Args:
            metadata: JSON-ready facts to keep beside the model (training sources, names).
        """
        check_is_fitted(self, "regret_")
        files: dict[str, str] = {}
        for i, booster in enumerate(self.embedders_):
            files[f"embedding_{i}.txt"] = booster.model_to_string()
        if self.surrogate_ is not None:
            files["surrogate.txt"] = self.surrogate_.model_to_string()
        state = {
            "format": FORMAT,
            "params": self.get_params(),
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": [str(n) for n in getattr(self, "feature_names_in_", [])],
            "single_output": bool(self._single_output),
            "regret": _floats(self.regret_),
            "observed": self.observed_.astype(int).tolist(),
            "X_train": _floats(self.X_train_),
            "embedding": _floats(self.embedding_),
            "distance_scale": self.distance_scale_,
            "bandwidth": self.bandwidth_,
            "calibration": _floats(self.calibration_),
            "inner_regret": self.inner_regret_,
            "configuration_features": None
            if self.configuration_features_ is None
            else _floats(self.configuration_features_),
            "metadata": dict(metadata or {}),
        }
        files["warmstart.json"] = json.dumps(state, allow_nan=False, sort_keys=True)
        return files

    @classmethod
    def from_files(cls, files: Mapping[str, str]) -> WarmStartRanker:
        """Rebuild a model written by :meth:`to_files` (no pickle involved).

        Raises:
            ModelFormatError: A file is missing or of another format version.
        """
        import lightgbm as lgb

        try:
            state = json.loads(files["warmstart.json"])
        except KeyError:
            raise ModelFormatError(
                f"warm-start model without warmstart.json (files: {sorted(files)}); "
                "save it again with 'mileage warmstart train'."
            ) from None
        if state.get("format") != FORMAT:
            raise ModelFormatError(
                f"warm-start model format {state.get('format')!r} is not {FORMAT!r}; "
                "retrain it with 'mileage warmstart train'."
            )
        model = cls(**state["params"])
        model.n_features_in_ = state["n_features_in"]
        if state["feature_names_in"]:
            model.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
        model._single_output = state["single_output"]
        model.regret_ = _array(state["regret"])
        model.observed_ = np.asarray(state["observed"], dtype=bool)
        model.n_outputs_ = model.regret_.shape[1]
        model.X_train_ = _array(state["X_train"])
        model.embedding_ = _array(state["embedding"]).reshape(model.regret_.shape[0], -1)
        model.distance_scale_ = float(state["distance_scale"])
        model.bandwidth_ = float(state["bandwidth"])
        model.calibration_ = np.asarray(state["calibration"], dtype=float)
        model.inner_regret_ = dict(state["inner_regret"])
        cf = state["configuration_features"]
        model.configuration_features_ = None if cf is None else _array(cf)
        n_embed = model.embedding_.shape[1]
        try:
            model.embedders_ = [
                lgb.Booster(model_str=files[f"embedding_{i}.txt"]) for i in range(n_embed)
            ]
            model.reference_ = (
                model._predict_embedding(model.embedders_, model.X_train_)
                if n_embed
                else model.embedding_
            )
            model.surrogate_ = (
                lgb.Booster(model_str=files["surrogate.txt"]) if cf is not None else None
            )
        except KeyError as exc:
            raise ModelFormatError(
                f"warm-start model is missing {exc.args[0]!r}; save it again."
            ) from None
        model.metadata_ = state.get("metadata", {})
        return model

    def save(self, directory: Path, metadata: Mapping[str, Any] | None = None) -> list[Path]:
        """Write :meth:`to_files` into ``directory`` (created if needed); returns the paths."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, text in self.to_files(metadata).items():
            path = directory / name
            path.write_text(text, encoding="utf-8")
            paths.append(path)
        return paths

    @classmethod
    def load(cls, directory: Path) -> WarmStartRanker:
        """Read a model written by :meth:`save`.

        Raises:
            ModelFormatError: ``directory`` holds no model.
        """
        if not (directory / "warmstart.json").is_file():
            raise ModelFormatError(
                f"{str(directory)!r} holds no warm-start model (warmstart.json is missing); "
                "write one with 'mileage warmstart train --model-dir DIR'."
            )
        files = {p.name: p.read_text(encoding="utf-8") for p in directory.glob("*.json")}
        files.update({p.name: p.read_text(encoding="utf-8") for p in directory.glob("*.txt")})
        return cls.from_files(files)


def _floats(a: np.ndarray) -> list[Any]:
    """NaN-safe JSON lists (NaN becomes None)."""
    arr = np.asarray(a, dtype=object)
    arr[np.isnan(np.asarray(a, dtype=float))] = None
    out: list[Any] = arr.tolist()
    return out


def _array(data: Any) -> np.ndarray:
    return np.asarray(
        np.array(data, dtype=object).astype(float) if data else np.zeros((0, 0)), dtype=float
    )


__all__ = [
    "BANDWIDTHS",
    "FORMAT",
    "ModelFormatError",
    "WarmStartRanker",
    "greedy_portfolio",
    "normalized_regret",
]
