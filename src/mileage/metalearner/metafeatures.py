"""Meta-features of a dataset: the OpenML qualities the stored tasks carry, in our vocabulary.

:func:`compute_meta_features` describes a pandas DataFrame and its target with the same
numbers OpenML publishes as data qualities (``NumberOfInstances``, ``NumberOfFeatures``,
``NumberOfClasses``, ``NumberOfMissingValues``, ``MajorityClassSize``, ``ClassEntropy``, ...),
named and adjusted as :mod:`mileage.platform.vocabulary` says (the target is not a feature;
ratios are fractions). A meta-learner trained on OpenML or TabRepo tasks can therefore be
asked about a frame it has never seen. Everything is deterministic: no sampling unless the
optional pymfe groups are asked for, and then with a fixed seed.

:func:`openml_qualities` gives the same numbers under OpenML's names (the target counted as
a feature, as OpenML counts it), which is also the format ``mileage warmstart
--meta-features FILE.json`` reads.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"x": [1.0, 2.0, None, 4.0], "c": list("abab"), "y": [0, 1, 0, 0]})
    >>> features, problem = compute_meta_features(frame, "y")
    >>> problem, features["n_instances"], features["n_missing_values"], features["majority_class_size"]
    ('binary', 4.0, 1.0, 3.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mileage.platform.errors import DataError
from mileage.platform.vocabulary import PROBLEM_TYPES, derive

if TYPE_CHECKING:
    import pandas as pd

#: pymfe groups offered behind the ``mileage[metafeatures]`` extra.
PYMFE_GROUPS = ("general", "statistical", "info-theory")
#: A numeric target with at most this many distinct integer values is read as classes.
MAX_CLASSES_FOR_NUMERIC_TARGET = 20


def infer_problem_type(target: pd.Series) -> str:
    """``binary``, ``multiclass`` or ``regression`` from a target column.

    Categorical, boolean and text targets are classifications; a numeric target is a
    classification only when it holds few distinct integer values.

    Raises:
        DataError: The target has fewer than two distinct values.
    """
    import pandas as pd

    values = target.dropna()
    n_unique = int(values.nunique())
    if n_unique < 2:
        raise DataError(
            f"target {target.name!r}: a target needs at least two distinct values to learn "
            f"from, got {n_unique} ({values.iloc[0]!r} in every row)"
            if n_unique
            else f"target {target.name!r} has no values (every row is missing); pick another column."
        )
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and not isinstance(target.dtype, pd.CategoricalDtype):
        integral = bool((values == values.round()).all())
        if not integral or n_unique > MAX_CLASSES_FOR_NUMERIC_TARGET:
            return "regression"
    if isinstance(target.dtype, pd.CategoricalDtype):
        n_unique = max(n_unique, len(target.cat.categories))
    return "binary" if n_unique == 2 else "multiclass"


def _is_numeric(column: pd.Series) -> bool:
    import pandas as pd

    return bool(
        pd.api.types.is_numeric_dtype(column)
        and not pd.api.types.is_bool_dtype(column)
        and not isinstance(column.dtype, pd.CategoricalDtype)
    )


def _moments(column: pd.Series) -> tuple[float, float] | None:
    """Skewness and excess kurtosis from population moments (``m3 / m2**1.5``, ``m4 / m2**2 - 3``)."""
    import numpy as np

    values = column.dropna().to_numpy(dtype=float)
    if len(values) < 2:
        return None
    centred = values - values.mean()
    m2 = float(np.mean(centred**2))
    if m2 <= 0.0:
        return None
    skew = float(np.mean(centred**3)) / m2**1.5
    kurt = float(np.mean(centred**4)) / m2**2 - 3.0
    return (skew, kurt) if math.isfinite(skew) and math.isfinite(kurt) else None


def compute_meta_features(
    frame: pd.DataFrame,
    target: str,
    *,
    problem_type: str | None = None,
    pymfe_groups: Sequence[str] = (),
    pymfe_rows: int = 2000,
    random_state: int = 0,
) -> tuple[dict[str, float], str]:
    """Meta-features of ``frame`` (without ``target``) in Mileage's vocabulary.

    Counts follow OpenML's definitions: categorical, boolean and text columns are symbolic,
    every other numeric column is numeric; a categorical target's declared categories count
    as classes even when a category has no rows (as OpenML counts an ARFF's nominal values).

    Args:
        frame: The dataset, one row per instance.
        target: Name of the target column.
        problem_type: ``binary``, ``multiclass`` or ``regression``; inferred when None.
        pymfe_groups: Optional pymfe groups (``general``, ``statistical``, ``info-theory``),
            computed on at most ``pymfe_rows`` rows; needs ``pip install 'mileage[metafeatures]'``.
            Their names are prefixed ``pymfe.``.
        pymfe_rows: Row subsample for pymfe (drawn with ``random_state``).
        random_state: Seed of the subsample.

    Returns:
        ``(features, problem_type)``; features are sorted by name.

    Raises:
        DataError: The frame is empty, the target is missing, constant or unusable, or no
            input column is left.
        ConfigError: An unknown problem type or pymfe group.
        ImportError: pymfe groups were asked for but pymfe is not installed.
    """
    import numpy as np
    import pandas as pd

    from mileage.platform.errors import ConfigError

    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"meta-features need a pandas DataFrame, got {type(frame).__name__}")
    if target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:20]))
        raise DataError(
            f"target column {target!r} is not in the data ({frame.shape[1]} columns: {shown}); "
            "pass the name of the column to predict."
        )
    if len(frame) == 0:
        raise DataError(
            "the data has no rows (0 instances); meta-features describe a dataset, so pass a "
            "non-empty frame."
        )
    if frame.shape[1] < 2:
        raise DataError(
            f"the data has only the target column {target!r}; at least one input column is needed."
        )
    y = frame[target]
    inferred = infer_problem_type(y)
    if problem_type is None:
        problem_type = inferred
    elif problem_type not in PROBLEM_TYPES:
        raise ConfigError(
            f"problem type {problem_type!r} is unknown; use one of {', '.join(PROBLEM_TYPES)}."
        )
    X = frame.drop(columns=[target])
    n, d = X.shape
    numeric = [c for c in X.columns if _is_numeric(X[c])]
    symbolic = [c for c in X.columns if c not in set(numeric)]
    missing = X.isna()
    f: dict[str, float] = {
        "n_instances": float(n),
        "n_features": float(d),
        "n_numeric_features": float(len(numeric)),
        "n_categorical_features": float(len(symbolic)),
        "n_missing_values": float(missing.to_numpy().sum()),
        "n_instances_with_missing": float(missing.any(axis=1).sum()),
        "n_features_with_missing": float(missing.any(axis=0).sum()),
        "features_with_missing_ratio": float(missing.any(axis=0).sum()) / d,
    }
    if problem_type == "regression":
        f["n_classes"] = 0.0
    else:
        counts = y.value_counts(dropna=True)
        if isinstance(y.dtype, pd.CategoricalDtype):
            counts = counts.reindex(y.cat.categories, fill_value=0)
        sizes = counts.to_numpy(dtype=float)
        f["n_classes"] = float(len(sizes))
        f["majority_class_size"] = float(sizes.max())
        f["minority_class_size"] = float(sizes.min())
        p = sizes[sizes > 0] / sizes.sum()
        f["class_entropy"] = float(-(p * np.log2(p)).sum())
        f["class_probability_std"] = float(np.std(sizes / sizes.sum()))
    moments = [m for m in (_moments(X[c]) for c in numeric) if m is not None]
    if moments:
        skews = np.array([m[0] for m in moments])
        kurts = np.array([m[1] for m in moments])
        for stat, values in (("skewness", skews), ("kurtosis", kurts)):
            f[f"{stat}_min"] = float(values.min())
            f[f"{stat}_max"] = float(values.max())
            f[f"{stat}_mean"] = float(values.mean())
            f[f"{stat}_std"] = float(values.std())
    if symbolic:
        symbols = np.array([_n_symbols(X[c]) for c in symbolic], dtype=float)
        f["symbols_min"] = float(symbols.min())
        f["symbols_max"] = float(symbols.max())
        f["symbols_mean"] = float(symbols.mean())
        f["symbols_std"] = float(symbols.std())
        f["symbols_sum"] = float(symbols.sum())
    if pymfe_groups:
        f.update(_pymfe(X, y, problem_type, pymfe_groups, pymfe_rows, random_state))
    return derive(f), problem_type


def _n_symbols(column: pd.Series) -> int:
    import pandas as pd

    if isinstance(column.dtype, pd.CategoricalDtype):
        return len(column.cat.categories)
    return int(column.nunique(dropna=True))


def _pymfe(
    X: pd.DataFrame,
    y: pd.Series,
    problem_type: str,
    groups: Sequence[str],
    rows: int,
    random_state: int,
) -> dict[str, float]:
    from mileage.platform.errors import ConfigError

    unknown = sorted(set(groups) - set(PYMFE_GROUPS))
    if unknown:
        raise ConfigError(
            f"pymfe groups {unknown} are not offered; use any of {', '.join(PYMFE_GROUPS)}."
        )
    try:
        from pymfe.mfe import MFE
    except ImportError as exc:
        raise ImportError(
            "pymfe meta-features need the optional extra: pip install 'mileage[metafeatures]'"
        ) from exc
    import numpy as np

    if len(X) > rows:
        keep = np.sort(np.random.default_rng(random_state).choice(len(X), rows, replace=False))
        X, y = X.iloc[keep], y.iloc[keep]
    categorical = [not _is_numeric(X[c]) for c in X.columns]
    mfe = MFE(groups=list(groups), summary=["mean"], random_state=random_state)
    mfe.fit(
        X.to_numpy(dtype=object),
        y.to_numpy(),
        cat_cols=[i for i, c in enumerate(categorical) if c],
        transform_cat="gray",
        precomp_groups=None,
        suppress_warnings=True,
        rescale=None,
    )
    names, values = mfe.extract(suppress_warnings=True)
    out = {}
    for name, value in zip(names, values):
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[f"pymfe.{name}"] = number
    return out


def openml_qualities(features: Mapping[str, float], problem_type: str) -> dict[str, float]:
    """OpenML's names for our meta-features, with the target counted as OpenML counts it.

    The inverse of :func:`mileage.platform.vocabulary.meta_features_from_openml` for the
    qualities that have an OpenML name.
    """
    from mileage.platform.vocabulary import META_FEATURES

    out: dict[str, float] = {}
    for feature in META_FEATURES:
        if feature.openml and feature.name in features:
            out[feature.openml] = float(features[feature.name])
    if "NumberOfFeatures" in out:
        out["NumberOfFeatures"] += 1
    key = "NumberOfNumericFeatures" if problem_type == "regression" else "NumberOfSymbolicFeatures"
    if key in out:
        out[key] += 1
    return out


def _check_range(key: str, number: float) -> None:
    """Counts (``NumberOf...``, ``...ClassSize``) and ratios are never negative; percentages
    are at most 100. Logarithms (``Log...``) may be anything finite."""
    if key.startswith("Log"):
        return
    if number < 0 and (
        key.startswith("NumberOf")
        or key.endswith(("ClassSize", "Ratio", "Dimensionality"))
        or key.startswith(("Percentage", "Ratio"))
    ):
        kind = "a count" if key.startswith("NumberOf") or key.endswith("ClassSize") else "a ratio"
        raise DataError(
            f"meta-feature {key!r} is {number:g}; it is {kind}, so it must be 0 or more."
        )
    if key.startswith("Percentage") and number > 100:
        raise DataError(
            f"meta-feature {key!r} is {number:g}; it is a percentage, so it must be at most 100."
        )


def meta_features_from_json(document: Mapping[str, Any]) -> tuple[dict[str, float], str]:
    """Our meta-features from a JSON document of OpenML qualities plus ``problem_type``.

    ``null``, NaN and absent keys mean "unknown" (OpenML leaves class counts empty for
    regression tasks; the meta-learner's LightGBM models handle missing values). A value that
    is not a number, an infinity, a negative count or ratio, or a percentage above 100 is an
    error, so a typo never passes silently.

    Raises:
        DataError: ``problem_type`` is missing or unknown, a value is not a number or is
            infinite, a count or ratio is negative, or a percentage is above 100.
    """
    from mileage.platform.vocabulary import meta_features_from_openml

    problem = document.get("problem_type")
    if problem not in PROBLEM_TYPES:
        raise DataError(
            f"meta-features: 'problem_type' must be one of {', '.join(PROBLEM_TYPES)}, got "
            f"{problem!r}; add it to the JSON file."
        )
    qualities: dict[str, float] = {}
    for key, value in document.items():
        if key == "problem_type" or value is None:
            continue
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if number is None or math.isinf(float(number)):
            raise DataError(
                f"meta-feature {key!r} is {value!r}; every value must be a finite number, or "
                "null when it is unknown."
            )
        if math.isnan(float(number)):
            continue
        _check_range(key, float(number))
        qualities[key] = float(number)
    features, _ = meta_features_from_openml(qualities, str(problem))
    return features, str(problem)


__all__ = [
    "MAX_CLASSES_FOR_NUMERIC_TARGET",
    "PYMFE_GROUPS",
    "compute_meta_features",
    "infer_problem_type",
    "meta_features_from_json",
    "openml_qualities",
]
