"""One vocabulary for what collectors bring in: metrics, problem types and meta-features.

OpenML, auto-sklearn, FLAML, LCDB and TabRepo each name the same things differently (and
sometimes count them differently). Everything stored in the trace store uses the names
below; the tables are the single place that says which foreign name maps to which of ours
and how its value is converted.

* **Metrics** have a direction: ``score`` (higher is better) or ``error`` (lower is
  better). Times are in seconds.
* **Problem types** are ``binary``, ``multiclass`` and ``regression``; a classification
  task whose number of classes is unknown gets no problem type rather than a guess.
* **Meta-features** describe the input features ``X`` *without the target*: OpenML's
  qualities count the target column as a feature, so its counts are adjusted (the target's
  kind follows from ``NumberOfClasses``: 0 means a numeric target). Ratios and logarithms
  are recomputed from the adjusted counts unless the source reports them with our meaning.
  Ratios are fractions in ``[0, 1]``, never percentages. Logarithms are natural.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Direction = Literal["score", "error"]
PROBLEM_TYPES = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class Metric:
    """A metric of the vocabulary and its names in the sources.

    Attributes:
        name: Our name.
        direction: ``score`` (higher is better) or ``error`` (lower is better).
        description: What it measures.
        openml: OpenML evaluation measure, if any.
        openml_scale: Factor from OpenML's unit to ours (milliseconds to seconds: 0.001).
        autosklearn: auto-sklearn metric name (the prefix of its meta-data folders).
        lcdb: LCDB metric name.
    """

    name: str
    direction: Direction
    description: str
    openml: str | None = None
    openml_scale: float = 1.0
    autosklearn: str | None = None
    lcdb: str | None = None


_AVERAGES = ("macro", "micro", "weighted", "samples")

METRICS: tuple[Metric, ...] = (
    Metric(
        "accuracy",
        "score",
        "share of correct predictions",
        openml="predictive_accuracy",
        autosklearn="accuracy",
        lcdb="accuracy",
    ),
    Metric(
        "balanced_accuracy",
        "score",
        "mean recall over classes",
        autosklearn="balanced_accuracy",
    ),
    Metric(
        "roc_auc",
        "score",
        "area under the ROC curve (multiclass: one-vs-rest, weighted by class frequency)",
        openml="area_under_roc_curve",
        autosklearn="roc_auc",
        lcdb="auc",
    ),
    Metric(
        "average_precision",
        "score",
        "area under the precision-recall curve",
        autosklearn="average_precision",
    ),
    Metric(
        "log_loss",
        "error",
        "cross-entropy of the predicted class probabilities",
        autosklearn="log_loss",
        lcdb="logloss",
    ),
    Metric(
        "f1",
        "score",
        "F1 of the positive class (binary only; LCDB takes the minority class as positive)",
        autosklearn="f1",
        lcdb="f1",
    ),
    *(
        Metric(
            f"f1_{avg}",
            "score",
            f"F1 averaged over classes ({avg})",
            openml="f_measure" if avg == "weighted" else None,
            autosklearn=f"f1_{avg}",
        )
        for avg in _AVERAGES
    ),
    Metric("precision", "score", "precision of the positive class", autosklearn="precision"),
    *(
        Metric(
            f"precision_{avg}",
            "score",
            f"precision averaged over classes ({avg})",
            openml="precision" if avg == "weighted" else None,
            autosklearn=f"precision_{avg}",
        )
        for avg in _AVERAGES
    ),
    Metric("recall", "score", "recall of the positive class", autosklearn="recall"),
    *(
        Metric(
            f"recall_{avg}",
            "score",
            f"recall averaged over classes ({avg})",
            openml="recall" if avg == "weighted" else None,
            autosklearn=f"recall_{avg}",
        )
        for avg in _AVERAGES
    ),
    Metric("kappa", "score", "Cohen's kappa", openml="kappa"),
    Metric(
        "rmse",
        "error",
        "root mean squared error",
        openml="root_mean_squared_error",
        autosklearn="root_mean_squared_error",
    ),
    Metric("mse", "error", "mean squared error", autosklearn="mean_squared_error"),
    Metric(
        "mae",
        "error",
        "mean absolute error",
        openml="mean_absolute_error",
        autosklearn="mean_absolute_error",
    ),
    Metric("median_ae", "error", "median absolute error", autosklearn="median_absolute_error"),
    Metric("msle", "error", "mean squared logarithmic error", autosklearn="mean_squared_log_error"),
    Metric("r2", "score", "coefficient of determination", autosklearn="r2"),
    Metric("fit_time_s", "error", "wall-clock training time in seconds"),
    Metric("predict_time_s", "error", "wall-clock prediction time in seconds"),
    Metric(
        "fit_cpu_time_s",
        "error",
        "CPU time of training in seconds",
        openml="usercpu_time_millis_training",
        openml_scale=0.001,
    ),
    Metric(
        "predict_cpu_time_s",
        "error",
        "CPU time of prediction in seconds",
        openml="usercpu_time_millis_testing",
        openml_scale=0.001,
    ),
    Metric(
        "cpu_time_s",
        "error",
        "CPU time of training and prediction in seconds",
        openml="usercpu_time_millis",
        openml_scale=0.001,
    ),
    Metric(
        "portfolio_rank",
        "error",
        "position of a configuration in a zero-shot portfolio's choice for a dataset (1 = first)",
    ),
)

METRICS_BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
_BY_OPENML = {m.openml: m for m in METRICS if m.openml}
_BY_AUTOSKLEARN = {m.autosklearn: m for m in METRICS if m.autosklearn}
_BY_LCDB = {m.lcdb: m for m in METRICS if m.lcdb}


def metric(name: str) -> Metric:
    """The metric called ``name`` in our vocabulary.

    Raises:
        KeyError: ``name`` is not in the vocabulary; the message lists the known names.
    """
    try:
        return METRICS_BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"metric {name!r} is not in Mileage's vocabulary; known: {', '.join(sorted(METRICS_BY_NAME))}"
        ) from None


def direction(name: str) -> Direction | None:
    """``score`` or ``error`` for a metric of the vocabulary, None for any other name."""
    m = METRICS_BY_NAME.get(name)
    return m.direction if m else None


def from_openml_measure(name: str, value: float) -> tuple[str, float]:
    """Our name and value for an OpenML evaluation measure.

    Measures outside the vocabulary keep OpenML's name (already snake case) and value, so
    nothing is lost; :func:`direction` returns None for them.
    """
    m = _BY_OPENML.get(name)
    if m is None:
        return name, value
    return m.name, value * m.openml_scale


def from_autosklearn_cost(name: str, cost: float) -> tuple[str, float]:
    """Our name and value for a cost in auto-sklearn's meta-data.

    auto-sklearn stores ``optimum - score`` for scores (``1 - accuracy``, ``1 - r2``) and the
    value itself for errors (log loss, mean squared error).

    Raises:
        KeyError: ``name`` is not an auto-sklearn metric of the vocabulary.
    """
    m = _BY_AUTOSKLEARN.get(name)
    if m is None:
        raise KeyError(
            f"auto-sklearn metric {name!r} is not in Mileage's vocabulary; known: "
            f"{', '.join(sorted(_BY_AUTOSKLEARN))}"
        )
    return m.name, (1.0 - cost) if m.direction == "score" else cost


def from_lcdb_metric(name: str) -> str:
    """Our name for an LCDB metric (``auc`` -> ``roc_auc``).

    Raises:
        KeyError: ``name`` is not an LCDB metric of the vocabulary.
    """
    m = _BY_LCDB.get(name)
    if m is None:
        raise KeyError(
            f"LCDB metric {name!r} is not in Mileage's vocabulary; known: {', '.join(sorted(_BY_LCDB))}"
        )
    return m.name


#: TabRepo's ``metric_error`` per problem type: (our metric, value from the error).
TABREPO_METRICS: dict[str, tuple[str, bool]] = {
    "binary": ("roc_auc", True),  # metric_error = 1 - AUC
    "multiclass": ("log_loss", False),
    "regression": ("rmse", False),
}


# -- problem types -------------------------------------------------------------------------

#: OpenML task type ids whose targets are classes (supervised classification, learning curve).
OPENML_CLASSIFICATION_TASK_TYPES = frozenset({1, 3})
OPENML_REGRESSION_TASK_TYPES = frozenset({2})


def problem_type(kind: str | None, n_classes: float | None) -> str | None:
    """``binary``, ``multiclass`` or ``regression`` from a task kind and a class count.

    Args:
        kind: ``classification`` or ``regression`` (None when unknown).
        n_classes: Number of classes of the target, when known.

    Returns:
        The problem type, or None when a classification's class count is unknown or the
        kind is neither.
    """
    if kind == "regression":
        return "regression"
    if kind == "classification":
        if n_classes is None or not math.isfinite(n_classes) or n_classes < 2:
            return None
        return "binary" if int(n_classes) == 2 else "multiclass"
    return None


# -- meta-features -------------------------------------------------------------------------


@dataclass(frozen=True)
class MetaFeature:
    """A meta-feature of the vocabulary and its names in the sources.

    Attributes:
        name: Our name.
        description: Its meaning, for ``X`` without the target.
        openml: OpenML data quality it comes from (after the adjustment in ``note``).
        autosklearn: auto-sklearn meta-feature with the same meaning.
        flaml: FLAML zero-shot meta-feature with the same meaning.
        note: Conversion or caveat.
    """

    name: str
    description: str
    openml: str | None = None
    autosklearn: str | None = None
    flaml: str | None = None
    note: str = ""


_DERIVED = "recomputed from the adjusted counts"

META_FEATURES: tuple[MetaFeature, ...] = (
    MetaFeature(
        "n_instances",
        "rows",
        "NumberOfInstances",
        "NumberOfInstances",
        "NumberOfInstances",
        "auto-sklearn measured its training split (about 2/3 of the rows)",
    ),
    MetaFeature(
        "n_features",
        "input columns",
        "NumberOfFeatures",
        "NumberOfFeatures",
        "NumberOfFeatures",
        "OpenML counts the target: minus 1",
    ),
    MetaFeature(
        "n_numeric_features",
        "numeric input columns",
        "NumberOfNumericFeatures",
        "NumberOfNumericFeatures",
        note="OpenML counts a numeric target: minus 1 when NumberOfClasses is 0",
    ),
    MetaFeature(
        "n_categorical_features",
        "categorical input columns",
        "NumberOfSymbolicFeatures",
        "NumberOfCategoricalFeatures",
        note="OpenML counts a nominal target: minus 1 when NumberOfClasses > 0",
    ),
    MetaFeature(
        "n_classes",
        "classes of the target (0 for regression)",
        "NumberOfClasses",
        "NumberOfClasses",
        "NumberOfClasses",
    ),
    MetaFeature(
        "n_missing_values", "missing cells", "NumberOfMissingValues", "NumberOfMissingValues"
    ),
    MetaFeature(
        "n_instances_with_missing",
        "rows with a missing cell",
        "NumberOfInstancesWithMissingValues",
        "NumberOfInstancesWithMissingValues",
    ),
    MetaFeature(
        "n_features_with_missing",
        "columns with a missing cell",
        autosklearn="NumberOfFeaturesWithMissingValues",
    ),
    MetaFeature("majority_class_size", "rows of the largest class", "MajorityClassSize"),
    MetaFeature("minority_class_size", "rows of the smallest class", "MinorityClassSize"),
    MetaFeature(
        "numeric_features_ratio",
        "n_numeric_features / n_features",
        flaml="PercentageOfNumericFeatures",
        note=_DERIVED,
    ),
    MetaFeature(
        "missing_values_ratio",
        "n_missing_values / (n_instances * n_features)",
        autosklearn="PercentageOfMissingValues",
        note=_DERIVED,
    ),
    MetaFeature(
        "instances_with_missing_ratio",
        "n_instances_with_missing / n_instances",
        autosklearn="PercentageOfInstancesWithMissingValues",
        note=_DERIVED,
    ),
    MetaFeature(
        "features_with_missing_ratio",
        "n_features_with_missing / n_features",
        autosklearn="PercentageOfFeaturesWithMissingValues",
        note=_DERIVED,
    ),
    MetaFeature(
        "dimensionality",
        "n_features / n_instances",
        autosklearn="DatasetRatio",
        note=_DERIVED + " (OpenML's Dimensionality counts the target)",
    ),
    MetaFeature(
        "inverse_dimensionality",
        "n_instances / n_features",
        autosklearn="InverseDatasetRatio",
        note=_DERIVED,
    ),
    MetaFeature(
        "log_n_instances", "ln(n_instances)", autosklearn="LogNumberOfInstances", note=_DERIVED
    ),
    MetaFeature(
        "log_n_features", "ln(n_features)", autosklearn="LogNumberOfFeatures", note=_DERIVED
    ),
    MetaFeature(
        "log_dimensionality", "ln(dimensionality)", autosklearn="LogDatasetRatio", note=_DERIVED
    ),
    MetaFeature(
        "log_inverse_dimensionality",
        "ln(inverse_dimensionality)",
        autosklearn="LogInverseDatasetRatio",
        note=_DERIVED,
    ),
    MetaFeature(
        "categorical_to_numeric_ratio",
        "n_categorical_features / n_numeric_features (0 when there are no numeric features)",
        autosklearn="RatioNominalToNumerical",
        note=_DERIVED,
    ),
    MetaFeature(
        "numeric_to_categorical_ratio",
        "n_numeric_features / n_categorical_features (0 when there are no categorical features)",
        autosklearn="RatioNumericalToNominal",
        note=_DERIVED,
    ),
    MetaFeature(
        "majority_class_ratio",
        "majority_class_size / n_instances",
        autosklearn="ClassProbabilityMax",
        note=_DERIVED,
    ),
    MetaFeature(
        "minority_class_ratio",
        "minority_class_size / n_instances",
        autosklearn="ClassProbabilityMin",
        note=_DERIVED,
    ),
    MetaFeature(
        "class_probability_mean",
        "mean class frequency (1 / n_classes)",
        autosklearn="ClassProbabilityMean",
        note=_DERIVED,
    ),
    MetaFeature(
        "class_probability_std",
        "standard deviation of class frequencies",
        autosklearn="ClassProbabilitySTD",
    ),
    MetaFeature(
        "class_entropy",
        "entropy of the class distribution in bits",
        "ClassEntropy",
        "ClassEntropy",
        note="OpenML reports -1 when it was not computed: left out",
    ),
    *(
        MetaFeature(
            f"{stat}_{agg}",
            f"{agg} over numeric columns of their {stat}",
            f"{agg.capitalize()}{stat.capitalize()}OfNumericAtts" if agg != "std" else None,
            f"{stat.capitalize()}{agg.upper() if agg == 'std' else agg.capitalize()}",
            note="OpenML includes a numeric target (regression)" if agg != "std" else "",
        )
        for stat in ("kurtosis", "skewness")
        for agg in ("min", "max", "mean", "std")
    ),
    *(
        MetaFeature(
            f"symbols_{agg}",
            f"{agg} over categorical columns of their number of distinct values",
            autosklearn=f"Symbols{agg.upper() if agg == 'std' else agg.capitalize()}",
            note="OpenML's NominalAttDistinctValues include a nominal target: not mapped",
        )
        for agg in ("min", "max", "mean", "std", "sum")
    ),
)

META_FEATURES_BY_NAME: dict[str, MetaFeature] = {f.name: f for f in META_FEATURES}
_AUTOSKLEARN_TO_OURS = {f.autosklearn: f.name for f in META_FEATURES if f.autosklearn}
_FLAML_TO_OURS = {f.flaml: f.name for f in META_FEATURES if f.flaml}
_COUNTS = (
    "n_instances",
    "n_features",
    "n_numeric_features",
    "n_categorical_features",
    "n_classes",
    "n_missing_values",
    "n_instances_with_missing",
    "n_features_with_missing",
    "majority_class_size",
    "minority_class_size",
)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def meta_features_from_openml(
    qualities: Mapping[str, Any], problem: str | None = None
) -> tuple[dict[str, float], list[str]]:
    """Our meta-features from OpenML data qualities.

    Args:
        qualities: Quality name -> value, as OpenML publishes them (strings or numbers).
        problem: The task's problem type, when known; otherwise the target's kind follows
            from ``NumberOfClasses``.

    Returns:
        ``(features, problems)``: the meta-features, and one sentence per quality that was
        left out because its value is invalid.
    """
    q = {k: _number(v) for k, v in qualities.items()}
    problems: list[str] = []
    out: dict[str, float] = {}
    for feature in META_FEATURES:
        if feature.openml and q.get(feature.openml) is not None:
            out[feature.name] = q[feature.openml]  # type: ignore[assignment]
    n_classes = q.get("NumberOfClasses")
    if problem == "regression":
        numeric_target: bool | None = True
    elif problem in ("binary", "multiclass"):
        numeric_target = False
    else:
        numeric_target = None if n_classes is None else n_classes == 0
    if "n_features" in out:
        out["n_features"] -= 1
    if numeric_target is None:
        out.pop("n_numeric_features", None)
        out.pop("n_categorical_features", None)
    elif numeric_target and "n_numeric_features" in out:
        out["n_numeric_features"] -= 1
    elif not numeric_target and "n_categorical_features" in out:
        out["n_categorical_features"] -= 1
    if numeric_target:
        for name in ("majority_class_size", "minority_class_size"):
            out.pop(name, None)
    for name in _COUNTS:
        if name in out and out[name] < 0:
            problems.append(f"quality for {name} is negative ({out[name]:g}): left out")
            del out[name]
    entropy = out.get("class_entropy")
    if entropy is not None and entropy < 0:
        problems.append(f"ClassEntropy is {entropy:g} (not computed by OpenML): left out")
        del out["class_entropy"]
    return derive(out), problems


def meta_features_from_autosklearn(values: Mapping[str, Any]) -> dict[str, float]:
    """Our meta-features from auto-sklearn's ``feature_values.arff`` columns (unknown columns are ignored)."""
    out = {}
    for name, value in values.items():
        ours = _AUTOSKLEARN_TO_OURS.get(name)
        number = _number(value)
        if ours and number is not None:
            out[ours] = number
    return derive(out)


def meta_features_from_flaml(values: Mapping[str, Any]) -> dict[str, float]:
    """Our meta-features from FLAML's zero-shot meta-features (already de-standardised)."""
    out = {}
    for name, value in values.items():
        ours = _FLAML_TO_OURS.get(name)
        number = _number(value)
        if ours and number is not None:
            out[ours] = number
    for name in ("n_instances", "n_features", "n_classes"):
        if name in out:
            out[name] = float(round(out[name]))
    return derive(out)


def derive(features: Mapping[str, float]) -> dict[str, float]:
    """Add the ratios and logarithms that follow from the counts, keeping given values.

    A derived value is added only when every count it needs is known and the division is
    defined; values already present (reported by the source with our meaning) win.
    """
    f = dict(features)
    n = f.get("n_instances")
    d = f.get("n_features")
    num = f.get("n_numeric_features")
    cat = f.get("n_categorical_features")

    def put(name: str, value: float | None) -> None:
        if value is not None and name not in f and math.isfinite(value):
            f[name] = float(value)

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    put("numeric_features_ratio", ratio(num, d))
    if n and d:
        put("missing_values_ratio", ratio(f.get("n_missing_values"), n * d))
    put("instances_with_missing_ratio", ratio(f.get("n_instances_with_missing"), n))
    put("features_with_missing_ratio", ratio(f.get("n_features_with_missing"), d))
    put("dimensionality", ratio(d, n))
    put("inverse_dimensionality", ratio(n, d))
    if n and n > 0:
        put("log_n_instances", math.log(n))
    if d and d > 0:
        put("log_n_features", math.log(d))
    if n and d and n > 0 and d > 0:
        put("log_dimensionality", math.log(d / n))
        put("log_inverse_dimensionality", math.log(n / d))
    if num is not None and cat is not None:
        put("categorical_to_numeric_ratio", cat / num if num else 0.0)
        put("numeric_to_categorical_ratio", num / cat if cat else 0.0)
    put("majority_class_ratio", ratio(f.get("majority_class_size"), n))
    put("minority_class_ratio", ratio(f.get("minority_class_size"), n))
    classes = f.get("n_classes")
    if classes and classes >= 1:
        put("class_probability_mean", 1.0 / classes)
    return {k: f[k] for k in sorted(f)}


# -- hyperparameters -----------------------------------------------------------------------

#: LightGBM's scikit-learn style names -> its own primary names, so configurations from
#: FLAML (scikit-learn names) and TabRepo/AutoGluon (LightGBM names) share one spelling.
LIGHTGBM_PARAM_ALIASES: dict[str, str] = {
    "colsample_bytree": "feature_fraction",
    "min_child_samples": "min_data_in_leaf",
    "min_child_weight": "min_sum_hessian_in_leaf",
    "reg_alpha": "lambda_l1",
    "reg_lambda": "lambda_l2",
    "n_estimators": "num_iterations",
    "subsample": "bagging_fraction",
    "subsample_freq": "bagging_freq",
    "subsample_for_bin": "bin_construct_sample_cnt",
    "min_split_gain": "min_gain_to_split",
}


def lightgbm_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """LightGBM hyperparameters under LightGBM's primary names.

    FLAML's ``log_max_bin`` becomes ``max_bin = 2**log_max_bin - 1`` (how FLAML applies it).
    """
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key == "log_max_bin" and isinstance(value, int | float):
            out["max_bin"] = (1 << int(value)) - 1
        else:
            out[LIGHTGBM_PARAM_ALIASES.get(key, key)] = value
    return out


__all__ = [
    "LIGHTGBM_PARAM_ALIASES",
    "META_FEATURES",
    "META_FEATURES_BY_NAME",
    "METRICS",
    "METRICS_BY_NAME",
    "OPENML_CLASSIFICATION_TASK_TYPES",
    "OPENML_REGRESSION_TASK_TYPES",
    "PROBLEM_TYPES",
    "TABREPO_METRICS",
    "Direction",
    "MetaFeature",
    "Metric",
    "derive",
    "direction",
    "from_autosklearn_cost",
    "from_lcdb_metric",
    "from_openml_measure",
    "lightgbm_params",
    "meta_features_from_autosklearn",
    "meta_features_from_flaml",
    "meta_features_from_openml",
    "metric",
    "problem_type",
]
