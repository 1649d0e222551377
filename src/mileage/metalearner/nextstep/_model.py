"""The next-change model: LightGBM on chain features, saved as a text model plus JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from mileage.metalearner._errors import ModelFileError
from mileage.metalearner.nextstep._bookkeeping import bookkeeping_units, modelling_only
from mileage.metalearner.nextstep._chains import Chain
from mileage.metalearner.nextstep._features import (
    CATEGORICAL,
    FEATURES,
    Priors,
    iter_rows,
    training_table,
    user_histories,
)

FORMAT_VERSION = 1
#: (leaves, boosting rounds) of each complexity setting.
_COMPLEXITY = {"small": (4, 60), "large": (15, 150)}
MODEL_FILE = "model.txt"
META_FILE = "nextstep.json"


class ChangeClassifier(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees (LightGBM, one thread) on a numeric feature matrix.

    Follows the scikit-learn estimator contract and keeps its model as LightGBM text, so it
    can be saved and loaded without pickle.

    Args:
        n_estimators: Boosting rounds.
        learning_rate: Shrinkage per round.
        num_leaves: Leaves per tree.
        min_child_samples: Minimum rows per leaf.
        reg_lambda: L2 regularisation of leaf values.
        colsample_bytree: Share of features each tree sees.
        categorical_features: Column indices LightGBM treats as categories.
        random_state: Seed.

    Attributes:
        classes_: The class labels seen in ``fit``.
        n_features_in_: Number of features seen in ``fit``.
        booster_: The fitted ``lightgbm.Booster``.

    Example:
        >>> import numpy as np
        >>> X = np.arange(40.0).reshape(-1, 1); y = (X[:, 0] > 20).astype(int)
        >>> ChangeClassifier(n_estimators=20, min_child_samples=2).fit(X, y).predict([[30.0]])
        array([1])
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0.0, None, closed="neither")],
        "num_leaves": [Interval(Integral, 2, None, closed="left")],
        "min_child_samples": [Interval(Integral, 1, None, closed="left")],
        "reg_lambda": [Interval(Real, 0.0, None, closed="left")],
        "colsample_bytree": [Interval(Real, 0.0, 1.0, closed="right")],
        "categorical_features": ["array-like"],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        reg_lambda: float = 1.0,
        colsample_bytree: float = 0.9,
        categorical_features: Sequence[int] = (),
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.colsample_bytree = colsample_bytree
        self.categorical_features = categorical_features
        self.random_state = random_state

    def _lgb_params(self, n_classes: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "min_data_per_group": self.min_child_samples,
            "lambda_l2": self.reg_lambda,
            "feature_fraction": self.colsample_bytree,
            "feature_fraction_seed": self.random_state,
            "seed": self.random_state,
            "num_threads": 1,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }
        if n_classes == 2:
            params["objective"] = "binary"
        else:
            params.update(objective="multiclass", num_class=n_classes)
        return params

    def fit(self, X: Any, y: Any) -> ChangeClassifier:
        """Fit on ``X`` (numeric, NaN allowed) and class labels ``y``.

        Raises:
            ValueError: Invalid parameters or data, or fewer than two classes.
        """
        import lightgbm as lgb

        self._validate_params()
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=np.float64)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"ChangeClassifier needs samples of at least 2 classes in y, got 1 class "
                f"({self.classes_[0]!r}); provide chains where units both change and stay."
            )
        cats = [int(c) for c in self.categorical_features if int(c) < X.shape[1]]
        data = lgb.Dataset(
            X,
            label=encoded,
            categorical_feature=cats or "auto",
            free_raw_data=True,
            params={"verbose": -1},
        )
        self.booster_ = lgb.train(
            self._lgb_params(len(self.classes_)), data, num_boost_round=self.n_estimators
        )
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        raw = np.asarray(self.booster_.predict(X, num_threads=1))
        if len(self.classes_) == 2:
            return np.column_stack([1.0 - raw, raw])
        return raw

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        check_is_fitted(self)
        out: np.ndarray = self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # -- saving without pickle ----------------------------------------------------------------

    def to_text(self) -> tuple[str, dict[str, Any]]:
        """The LightGBM text model and the JSON metadata that restore this estimator."""
        check_is_fitted(self)
        meta = {
            "params": self.get_params(),
            "classes": self.classes_.tolist(),
            "n_features_in": int(self.n_features_in_),
        }
        meta["params"]["categorical_features"] = [int(c) for c in self.categorical_features]
        return self.booster_.model_to_string(), meta

    @classmethod
    def from_text(cls, model: str, meta: Mapping[str, Any]) -> ChangeClassifier:
        """Inverse of :meth:`to_text`."""
        import lightgbm as lgb

        est = cls(**meta["params"])
        est.booster_ = lgb.Booster(model_str=model)
        est.classes_ = np.asarray(meta["classes"])
        est.n_features_in_ = int(meta["n_features_in"])
        return est


class NextChangePredictor(BaseEstimator):
    """Estimates, for every unit of a chain, the probability that the next iteration changes it.

    Trained on chains from the trace store (MLflow, OpenML, Mileage's executor) or from the
    chain generator; see :mod:`mileage.metalearner.nextstep._features` for the features.
    Only modelling choices are ranked: bookkeeping parameters (results logged as parameters,
    paths, seeds, timestamps, ids; see :mod:`mileage.metalearner.nextstep._bookkeeping`) are
    left out of training and of predictions.
    A new user's chain is scored from its own first iterations plus priors learned from
    other chains, so the model adapts within a few iterations.

    Args:
        complexity: ``small`` (4 leaves, 60 rounds), ``large`` (15 leaves, 150 rounds), or
            ``auto``: chosen by log loss in a chain-grouped 3-fold split of the training
            chains (training chains only, so held-out chains never influence it).
        learning_rate: Shrinkage.
        min_child_samples: Minimum rows per leaf.
        random_state: Seed.

    Attributes:
        classifier_: The fitted :class:`ChangeClassifier`.
        complexity_: The complexity used (``small`` or ``large``).
        priors_: Change rates and transitions of the training chains.
        n_chains_: Number of training chains.
        n_rows_: Number of training rows (step, unit).
        bookkeeping_: Parameters left out as bookkeeping, with the reason (``seed``,
            ``result``, ``path``...).

    Example:
        >>> from mileage.metalearner.nextstep import generate_chains
        >>> chains = generate_chains(n_chains=20, length=15, seed=0)
        >>> model = NextChangePredictor(complexity="small").fit(chains)
        >>> probs = model.predict_proba_next(chains[0])
        >>> all(0.0 <= p <= 1.0 for p in probs.values())
        True
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "complexity": [StrOptions({"auto", "small", "large"})],
        "learning_rate": [Interval(Real, 0.0, None, closed="neither")],
        "min_child_samples": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        complexity: str = "auto",
        learning_rate: float = 0.05,
        min_child_samples: int = 20,
        random_state: int = 0,
    ) -> None:
        self.complexity = complexity
        self.learning_rate = learning_rate
        self.min_child_samples = min_child_samples
        self.random_state = random_state

    def _classifier(self, complexity: str) -> ChangeClassifier:
        leaves, rounds = _COMPLEXITY[complexity]
        return ChangeClassifier(
            n_estimators=rounds,
            learning_rate=self.learning_rate,
            num_leaves=leaves,
            min_child_samples=self.min_child_samples,
            categorical_features=[FEATURES.index(c) for c in CATEGORICAL],
            random_state=self.random_state,
        )

    def _choose_complexity(self, chains: list[Chain]) -> str:
        if self.complexity != "auto":
            return self.complexity
        if len(chains) < 3:
            return "small"
        losses = dict.fromkeys(_COMPLEXITY, 0.0)
        ordered = sorted(chains, key=lambda c: c.key)
        for fold in range(3):
            train = [c for i, c in enumerate(ordered) if i % 3 != fold]
            test = [c for i, c in enumerate(ordered) if i % 3 == fold]
            priors = Priors.fit(train)
            x_tr, y_tr, _ = training_table(train, priors)
            priors.own.clear()
            x_te, y_te, _ = training_table(test, priors)
            if len(set(y_tr)) < 2 or not y_te:
                continue
            for name in _COMPLEXITY:
                clf = self._classifier(name).fit(np.asarray(x_tr, float), np.asarray(y_tr))
                p = np.clip(clf.predict_proba(np.asarray(x_te, float))[:, -1], 1e-6, 1 - 1e-6)
                y = np.asarray(y_te, float)
                losses[name] += float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        return min(losses, key=lambda k: (losses[k], k != "small"))

    def fit(self, X: Sequence[Chain], y: None = None) -> NextChangePredictor:
        """Fit on training chains (``y`` is unused: labels come from the chains).

        Raises:
            ValueError: No chain has two steps, or no unit ever changed or stayed.
        """
        self._validate_params()
        chains = [c for c in X if isinstance(c, Chain) and c.n_links >= 1]
        if not chains:
            raise ValueError(
                "NextChangePredictor.fit needs at least one chain with two or more runs; "
                "collect run histories first ('mileage collect mlflow ...') or generate chains."
            )
        self.bookkeeping_ = bookkeeping_units(chains)
        chains = modelling_only(chains, self.bookkeeping_)
        self.complexity_ = self._choose_complexity(chains)
        self.priors_ = Priors.fit(chains)
        rows, labels, _ = training_table(chains, self.priors_)
        self.classifier_ = self._classifier(self.complexity_).fit(
            np.asarray(rows, dtype=np.float64), np.asarray(labels)
        )
        self.n_chains_ = len(chains)
        self.n_rows_ = len(rows)
        self.priors_.own.clear()
        return self

    def predict_proba_next(
        self, chain: Chain, *, context: Sequence[Chain] = ()
    ) -> dict[str, float]:
        """P(the iteration after the chain's last step changes the unit), per unit seen.

        Args:
            chain: The chain so far (its last step is the latest run).
            context: Other chains of the same user, for the user-history features.
        """
        check_is_fitted(self)
        if not chain.steps:
            return {}
        drop = {**bookkeeping_units([chain]), **self.bookkeeping_}
        chain = modelling_only([chain], drop)[0]
        context = modelling_only(context, drop) if context else context
        history = user_histories([*context, chain]).get(chain.key) if context else None
        units, rows = [], []
        for _, unit, features, _ in iter_rows(
            chain, self.priors_, history, last_only=True, leave_own_out=False
        ):
            units.append(unit)
            rows.append(features)
        if not rows:
            return {}
        proba = self.classifier_.predict_proba(np.asarray(rows, dtype=np.float64))
        column = list(self.classifier_.classes_).index(1) if 1 in self.classifier_.classes_ else 0
        return {u: float(p) for u, p in zip(units, proba[:, column])}

    def rank(self, chain: Chain, *, context: Sequence[Chain] = ()) -> list[tuple[str, float]]:
        """Units by decreasing probability of changing next (ties by name)."""
        probs = self.predict_proba_next(chain, context=context)
        return sorted(probs.items(), key=lambda kv: (-kv[1], kv[0]))

    # -- files ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write ``model.txt`` (LightGBM text) and ``nextstep.json`` into folder ``path``."""
        check_is_fitted(self)
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        model, clf_meta = self.classifier_.to_text()
        meta = {
            "format_version": FORMAT_VERSION,
            "features": list(FEATURES),
            "params": self.get_params(),
            "complexity": self.complexity_,
            "classifier": clf_meta,
            "priors": self.priors_.to_json(),
            "n_chains": self.n_chains_,
            "n_rows": self.n_rows_,
            "bookkeeping": self.bookkeeping_,
        }
        (folder / MODEL_FILE).write_text(model, encoding="utf-8")
        (folder / META_FILE).write_text(
            json.dumps(meta, indent=1, allow_nan=False, default=_finite), encoding="utf-8"
        )
        return folder

    @classmethod
    def load(cls, path: str | Path) -> NextChangePredictor:
        """Read a model written by :meth:`save` (no pickle involved).

        Raises:
            ModelFileError: The folder lacks the files, or they come from another version.
        """
        folder = Path(path)
        try:
            meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
            model = (folder / MODEL_FILE).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ModelFileError(
                f"no next-change model in {str(folder)!r} (expected {MODEL_FILE} and "
                f"{META_FILE}); train one with 'mileage nextstep train'."
            ) from None
        except ValueError as exc:
            raise ModelFileError(f"{str(folder / META_FILE)!r} is not valid JSON: {exc}") from None
        if meta.get("format_version") != FORMAT_VERSION or meta.get("features") != list(FEATURES):
            raise ModelFileError(
                f"the next-change model in {str(folder)!r} was written by an incompatible "
                f"version (format {meta.get('format_version')!r}); retrain it with "
                "'mileage nextstep train'."
            )
        est = cls(**meta["params"])
        est.classifier_ = ChangeClassifier.from_text(model, meta["classifier"])
        est.complexity_ = str(meta["complexity"])
        est.priors_ = Priors.from_json(meta["priors"])
        est.n_chains_ = int(meta["n_chains"])
        est.n_rows_ = int(meta["n_rows"])
        est.bookkeeping_ = {str(k): str(v) for k, v in meta.get("bookkeeping", {}).items()}
        return est


def _finite(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = ["ChangeClassifier", "NextChangePredictor"]
