"""Runnable example workflows on real data bundled with installed packages.

Each example is a scikit-learn pipeline (imputation, encoding, scaling, feature selection,
PCA, model) over a real dataset, with a small space of alternatives for every editable
step, so a person (``mileage pipeline run EXAMPLE --set model.C=0.3``) or a simulated
user (benchmarks, demo) can iterate on it one change at a time.

* ``fair``: extramarital affairs survey (statsmodels ``fair``, 6,366 rows): does the
  respondent report any affair? Four categorical and four numeric columns.
* ``randhie``: RAND Health Insurance Experiment (statsmodels ``randhie``, 20,190 rows): did
  the person visit a doctor at all? Five categorical and four numeric columns.
* ``digits``: scikit-learn's handwritten digits (1,797 images of 8x8 pixels), 10 classes.

The survey datasets have no missing values; their imputers run but impute nothing.

Example:
    >>> from mileage.metalearner.examples import EXAMPLES
    >>> ex = EXAMPLES["digits"]
    >>> config = ex.set(ex.default_config(), {"model": "logreg", "model.C": "0.5"})
    >>> wf = ex.workflow(config)
    >>> wf.order[-1]
    'model'
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mileage.metalearner._errors import WorkflowError
from mileage.metalearner.workflow import Workflow, from_sklearn

#: A configuration: step -> {"choice": alias, "params": {...}}; "split" holds split params.
Config = dict[str, dict[str, Any]]


def _mutual_info(X: Any, y: Any) -> Any:
    from sklearn.feature_selection import mutual_info_classif

    return mutual_info_classif(X, y, random_state=0)


@dataclass(frozen=True)
class Choice:
    """One alternative for a step: a class (import path) and its parameter grid.

    The first value of each grid is the default; ``fixed`` parameters never change.
    """

    cls: str
    grid: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def build(self, params: Mapping[str, Any]) -> Any:
        if self.cls == "passthrough":
            return "passthrough"
        module, _, name = self.cls.rpartition(".")
        if module == "sklearn.impute" and name == "IterativeImputer":
            importlib.import_module("sklearn.experimental.enable_iterative_imputer")
        return getattr(importlib.import_module(module), name)(**{**self.fixed, **params})


_SCALERS = {
    "standard": Choice("sklearn.preprocessing.StandardScaler"),
    "robust": Choice("sklearn.preprocessing.RobustScaler"),
    "minmax": Choice("sklearn.preprocessing.MinMaxScaler"),
    "quantile": Choice(
        "sklearn.preprocessing.QuantileTransformer",
        {"n_quantiles": (100, 200)},
        {"random_state": 0},
    ),
}
_NUM_IMPUTERS = {
    "simple": Choice("sklearn.impute.SimpleImputer", {"strategy": ("mean", "median")}),
    "knn": Choice("sklearn.impute.KNNImputer", {"n_neighbors": (5, 10)}),
}
_CAT_IMPUTERS = {
    "simple": Choice(
        "sklearn.impute.SimpleImputer",
        {"strategy": ("most_frequent", "constant")},
        {"fill_value": "missing"},
    ),
}
_ENCODERS = {
    "onehot": Choice(
        "sklearn.preprocessing.OneHotEncoder",
        {"min_frequency": (None, 0.01, 0.05)},
        {"handle_unknown": "infrequent_if_exist", "sparse_output": False},
    ),
    "ordinal": Choice(
        "sklearn.preprocessing.OrdinalEncoder",
        {},
        {"handle_unknown": "use_encoded_value", "unknown_value": -1},
    ),
}
_SELECTORS = {
    "mutual_info": Choice(
        "sklearn.feature_selection.SelectKBest",
        {"k": (10, 8, 12, 15)},
        {"score_func": _mutual_info},
    ),
    "anova": Choice("sklearn.feature_selection.SelectKBest", {"k": (10, 8, 12, 15)}),
    "none": Choice("passthrough"),
}
_PCA = {
    "none": Choice("passthrough"),
    "pca": Choice("sklearn.decomposition.PCA", {"n_components": (8, 5, 12)}, {"random_state": 0}),
}
_MODELS = {
    "logreg": Choice(
        "sklearn.linear_model.LogisticRegression", {"C": (1.0, 0.1, 0.3, 3.0)}, {"max_iter": 2000}
    ),
    "lgbm": Choice(
        "lightgbm.LGBMClassifier",
        {"num_leaves": (15, 7, 31), "learning_rate": (0.1, 0.05), "n_estimators": (100, 200)},
        {"n_jobs": 1, "random_state": 0, "verbose": -1},
    ),
    "forest": Choice(
        "sklearn.ensemble.RandomForestClassifier",
        {"n_estimators": (60, 120), "max_depth": (None, 8)},
        {"n_jobs": 1, "random_state": 0},
    ),
}
_SPLIT = {"test_size": (0.25, 0.2, 0.3), "random_state": (0, 1, 2)}


@dataclass(frozen=True)
class Example:
    """An example workflow: data, pipeline shape and the alternatives of each step.

    Attributes:
        name: Example name (``mileage pipeline run NAME``).
        description: One line for listings.
        loader: Returns ``(X, y)``.
        categorical: Categorical columns (the rest are numeric); empty for array data.
        steps: Editable step -> (role, alternatives by alias), in pipeline order.
    """

    name: str
    description: str
    loader: Callable[[], tuple[Any, Any]]
    categorical: tuple[str, ...]
    steps: Mapping[str, tuple[str, Mapping[str, Choice]]]

    def load(self) -> tuple[Any, Any]:
        """The dataset (cached per process)."""
        return _load(self.name)

    def default_config(self) -> Config:
        """Every step's first alternative with default parameters."""
        config: Config = {
            "split": {"choice": "split", "params": {k: v[0] for k, v in _SPLIT.items()}}
        }
        for step, (_, choices) in self.steps.items():
            alias, choice = next(iter(choices.items()))
            config[step] = {"choice": alias, "params": {k: v[0] for k, v in choice.grid.items()}}
        return config

    def roles(self) -> dict[str, str]:
        """Editable operators (as the workflow names them) and their roles."""
        out = {"split": "data"}
        for step, (role, _) in self.steps.items():
            out[self.operator_name(step)] = role
        return out

    def operator_name(self, step: str) -> str:
        """The workflow operator of an editable step (``num.scale`` -> ``pre__num__scale``)."""
        if "." in step:
            return "pre__" + step.replace(".", "__")
        return step

    def step_of(self, operator: str) -> str:
        """Inverse of :meth:`operator_name`."""
        if operator.startswith("pre__"):
            return operator[len("pre__") :].replace("__", ".")
        return operator

    def build(self, config: Config) -> Any:
        """The scikit-learn pipeline of ``config``."""
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import Pipeline

        def est(step: str) -> Any:
            spec = config[step]
            return self.steps[step][1][spec["choice"]].build(spec["params"])

        steps: list[tuple[str, Any]] = []
        branch_steps = [s for s in self.steps if "." in s]
        if branch_steps:
            X, _ = self.load()
            numeric = [c for c in X.columns if c not in self.categorical]
            branches = []
            for branch, cols in (("num", numeric), ("cat", list(self.categorical))):
                inner = [
                    (s.split(".", 1)[1], est(s)) for s in branch_steps if s.startswith(branch + ".")
                ]
                if cols and inner:
                    branches.append((branch, Pipeline(inner), cols))
            steps.append(("pre", ColumnTransformer(branches)))
        for step in self.steps:
            if "." not in step:
                steps.append((step, est(step)))
        return Pipeline(steps)

    def workflow(self, config: Config, *, name: str | None = None) -> Workflow:
        """The workflow of ``config`` (named after the example unless ``name`` is given)."""
        split = config["split"]["params"]
        return from_sklearn(
            self.build(config),
            name=name or self.name,
            test_size=float(split["test_size"]),
            random_state=int(split["random_state"]),
        )

    def set(self, config: Config, assignments: Mapping[str, str]) -> Config:
        """Apply ``step=alias`` and ``step.param=value`` assignments (as the CLI takes them).

        Raises:
            WorkflowError: Unknown step, alternative or parameter; the message lists the
                valid ones.
        """
        out: Config = {
            k: {"choice": v["choice"], "params": dict(v["params"])} for k, v in config.items()
        }
        for key, raw in assignments.items():
            if key in self.steps:
                step, param = key, ""
            else:
                step, _, param = key.rpartition(".")
            if step == "split":
                if param not in _SPLIT:
                    raise WorkflowError(
                        f"example {self.name!r}: split has parameters {sorted(_SPLIT)}, not "
                        f"{param!r}; use e.g. split.random_state=1."
                    )
                out["split"]["params"][param] = _parse(raw)
                continue
            if step not in self.steps:
                raise WorkflowError(
                    f"example {self.name!r} has no step {key!r}; editable steps: "
                    f"{['split', *self.steps]}. Use STEP=ALTERNATIVE or STEP.PARAM=VALUE."
                )
            choices = self.steps[step][1]
            if not param:
                if raw not in choices:
                    raise WorkflowError(
                        f"example {self.name!r}: step {step!r} has alternatives {sorted(choices)}, "
                        f"not {raw!r}."
                    )
                out[step] = {
                    "choice": raw,
                    "params": {k: v[0] for k, v in choices[raw].grid.items()},
                }
                continue
            current = choices[out[step]["choice"]]
            if param not in current.grid:
                raise WorkflowError(
                    f"example {self.name!r}: {step} ({out[step]['choice']}) has parameters "
                    f"{sorted(current.grid)}, not {param!r}."
                )
            out[step]["params"][param] = _parse(raw)
        return out

    def apply(
        self, config: Config, operators: tuple[str, ...], kind: str, rng: np.random.Generator
    ) -> Config:
        """A simulated edit: change each operator the way ``kind`` says.

        ``data`` changes a split parameter, ``model`` switches the model class,
        ``hyperparameter`` changes one model parameter, ``preprocessing`` switches the
        step's alternative (30%) or changes one of its parameters.
        """
        out: Config = {
            k: {"choice": v["choice"], "params": dict(v["params"])} for k, v in config.items()
        }
        for op in operators:
            step = self.step_of(op)
            if step == "split":
                name = str(rng.choice(sorted(_SPLIT)))
                values = [v for v in _SPLIT[name] if v != out["split"]["params"][name]]
                out["split"]["params"][name] = values[int(rng.integers(len(values)))]
                continue
            choices = self.steps[step][1]
            current = choices[out[step]["choice"]]
            tunable = [p for p, grid in current.grid.items() if len(grid) > 1]
            switch = (
                kind == "model" or (kind == "preprocessing" and rng.random() < 0.3) or not tunable
            )
            if switch and len(choices) > 1:
                others = [a for a in choices if a != out[step]["choice"]]
                alias = others[int(rng.integers(len(others)))]
                out[step] = {
                    "choice": alias,
                    "params": {k: v[0] for k, v in choices[alias].grid.items()},
                }
            elif tunable:
                param = tunable[int(rng.integers(len(tunable)))]
                values = [v for v in current.grid[param] if v != out[step]["params"][param]]
                out[step]["params"][param] = values[int(rng.integers(len(values)))]
        return out


def _parse(raw: str) -> Any:
    text = raw.strip()
    if text.lower() in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


@functools.lru_cache(maxsize=8)
def _load(name: str) -> tuple[Any, Any]:
    import pandas as pd

    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return X, y
    import statsmodels.datasets as smd

    if name == "fair":
        frame = smd.fair.load_pandas().data
        y = (frame.pop("affairs") > 0).astype(int).rename("any_affair")
        cats = ["religious", "educ", "occupation", "occupation_husb"]
    elif name == "randhie":
        frame = smd.randhie.load_pandas().data
        y = (frame.pop("mdvis") > 0).astype(int).rename("any_visit")
        cats = ["lncoins", "idp", "hlthg", "hlthf", "hlthp"]
    else:  # pragma: no cover - guarded by EXAMPLES
        raise WorkflowError(f"unknown example {name!r}")
    for c in cats:
        frame[c] = frame[c].map(lambda v: f"{v:g}").astype(object)
    return pd.DataFrame(frame), y


_TABULAR_STEPS: dict[str, tuple[str, Mapping[str, Choice]]] = {
    "num.impute": ("preprocessing", _NUM_IMPUTERS),
    "num.scale": ("preprocessing", _SCALERS),
    "cat.impute": ("preprocessing", _CAT_IMPUTERS),
    "cat.encode": ("preprocessing", _ENCODERS),
    "select": ("preprocessing", _SELECTORS),
    "pca": ("preprocessing", _PCA),
    "model": ("model", _MODELS),
}

EXAMPLES: dict[str, Example] = {
    "fair": Example(
        "fair",
        "affairs survey (statsmodels 'fair', 6,366 rows): any affair? 4 categorical + 4 numeric",
        lambda: _load("fair"),
        ("religious", "educ", "occupation", "occupation_husb"),
        _TABULAR_STEPS,
    ),
    "randhie": Example(
        "randhie",
        "RAND health insurance experiment (statsmodels 'randhie', 20,190 rows): any visit?",
        lambda: _load("randhie"),
        ("lncoins", "idp", "hlthg", "hlthf", "hlthp"),
        _TABULAR_STEPS,
    ),
    "digits": Example(
        "digits",
        "handwritten digits (scikit-learn, 1,797 8x8 images), 10 classes",
        lambda: _load("digits"),
        (),
        {
            "scale": ("preprocessing", _SCALERS),
            "pca": (
                "preprocessing",
                {
                    "pca": Choice(
                        "sklearn.decomposition.PCA",
                        {"n_components": (16, 8, 32)},
                        {"random_state": 0},
                    ),
                    "none": Choice("passthrough"),
                },
            ),
            "model": ("model", {k: _MODELS[k] for k in ("logreg", "forest")}),
        },
    ),
}


def get_example(name: str) -> Example:
    """The example called ``name``.

    Raises:
        WorkflowError: No such example; the message lists them.
    """
    try:
        return EXAMPLES[name]
    except KeyError:
        raise WorkflowError(
            f"no example workflow {name!r}; available: {sorted(EXAMPLES)} "
            "(see 'mileage pipeline examples')."
        ) from None


__all__ = ["EXAMPLES", "Choice", "Config", "Example", "get_example"]
