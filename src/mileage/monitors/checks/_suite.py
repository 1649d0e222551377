"""Validation suites: inferred from the reference data, stored as reviewable JSON, compiled to
Great Expectations expectations for each batch.

The stored form is short and meant to be read and edited by people (``mileage monitor suite
NAME --export suite.json``): one entry per column with its kind, type, whether it is required,
the largest null fraction allowed, numeric bounds (already widened by the tolerance), the
categorical domain and the values every large enough batch must contain. Extra Great
Expectations expectations can be listed verbatim under ``expectations``.

Tolerances that depend on the batch size are applied when compiling: a null fraction is held
to ``max_null_fraction`` plus four standard errors of a batch of that size, and a check that
every common category appears only runs on batches large enough that a clean one would fail
it less than once in ten thousand.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mileage.monitors.checks._findings import Severity
from mileage.platform.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SUITE_FORMAT = 1

NUMERIC_TYPES = [
    *(f"int{b}" for b in (8, 16, 32, 64)),
    *(f"uint{b}" for b in (8, 16, 32, 64)),
    *(f"Int{b}" for b in (8, 16, 32, 64)),
    *(f"UInt{b}" for b in (8, 16, 32, 64)),
    "float16",
    "float32",
    "float64",
    "Float32",
    "Float64",
]
STRING_TYPES = ["object", "str", "string", "category"]
BOOL_TYPES = ["bool", "boolean"]
DATETIME_TYPES = [f"datetime64[{u}{tz}]" for u in ("ns", "us", "ms", "s") for tz in ("", ", UTC")]
TYPE_FAMILIES = {
    "numeric": NUMERIC_TYPES,
    "string": STRING_TYPES,
    "bool": BOOL_TYPES,
    "datetime": DATETIME_TYPES,
}

#: Default severity of each check of the suite (a column entry may override with "severity").
DEFAULT_SEVERITY: dict[str, Severity] = {
    "exists": Severity.BLOCKING,
    "type": Severity.BLOCKING,
    "nulls": Severity.BLOCKING,
    "bounds": Severity.BLOCKING,
    "domain": Severity.BLOCKING,
    "expected": Severity.WARNING,
    "cardinality": Severity.BLOCKING,
    "unique": Severity.WARNING,
    "rows": Severity.BLOCKING,
    "custom": Severity.BLOCKING,
}

#: Expectation type run by each check.
EXPECTATION_OF = {
    "exists": "expect_column_to_exist",
    "type": "expect_column_values_to_be_in_type_list",
    "nulls": "expect_column_values_to_not_be_null",
    "bounds": "expect_column_values_to_be_between",
    "domain": "expect_column_values_to_be_in_set",
    "expected": "expect_column_distinct_values_to_contain_set",
    "cardinality": "expect_column_unique_value_count_to_be_between",
    "unique": "expect_column_values_to_be_unique",
    "rows": "expect_table_row_count_to_be_between",
}


def dtype_family(dtype: Any) -> str:
    """``numeric``, ``string``, ``bool``, ``datetime`` or ``other`` for a pandas dtype."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_object_dtype(dtype) or isinstance(
        dtype, pd.CategoricalDtype | pd.StringDtype
    ):
        return "string"
    return "other"


def frame_digest(frame: pd.DataFrame) -> str:
    """Content hash of a frame (columns, dtypes and values), 16 hex digits."""
    import pandas as pd

    h = hashlib.sha256()
    h.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    if len(frame):
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return value
    return value


@dataclass(frozen=True)
class SuiteOptions:
    """How a suite is inferred.

    Attributes:
        tolerance: Numeric bounds are the reference range widened on each side by this share
            of it, or by the width of the reference's tail when that is larger (a column
            that is never negative keeps 0 as its lower bound; a right-skewed one is widened
            on a log scale).
        max_categories: A string column with more distinct values is treated as free text
            (existence, type and nulls only).
        common_share: Categories at least this frequent must appear in large enough batches.
        miss_probability: Chance that a clean batch fails the "every common category appears"
            check; sets the batch size from which it runs.
    """

    tolerance: float = 0.25
    max_categories: int = 100
    common_share: float = 0.01
    miss_probability: float = 1e-4


#: Tail widths added beyond the reference extremes: with an exponential tail a clean value
#: lands beyond ``max + ln(1e4) * mean excess`` about once per 10,000 times the reference size.
TAIL_WIDTHS = math.log(1e4)


def _bounds(x: Any, tolerance: float) -> tuple[float, float]:
    """Numeric bounds: the reference range widened by ``tolerance`` of it, or by the tails.

    The tail term is ``ln(1e4)`` times the mean excess of the outer 10% of values beyond their
    quantile, so a column with a long tail gets room for the values a small reference has not
    seen yet. Right-skewed columns that are never negative are widened on a log scale
    (``log1p(x / median)``), where long tails become exponential ones.
    """
    import numpy as np

    skewed = bool(x.min() >= 0 and x.size > 2 and _skewness(x) > 1)
    scale = float(np.median(x[x > 0])) if skewed and (x > 0).any() else 1.0
    v = np.log1p(x / scale) if skewed else x
    lo, hi = float(v.min()), float(v.max())
    q10, q90 = np.quantile(v, [0.1, 0.9])
    upper = v[v > q90]
    lower = v[v < q10]
    beta_hi = float((upper - q90).mean()) if upper.size else 0.0
    beta_lo = float((q10 - lower).mean()) if lower.size else 0.0
    width = hi - lo or max(abs(hi), 1.0)
    low = lo - max(tolerance * width, TAIL_WIDTHS * beta_lo)
    high = hi + max(tolerance * width, TAIL_WIDTHS * beta_hi)
    if skewed:
        low, high = scale * float(np.expm1(max(low, 0.0))), scale * float(np.expm1(high))
        # a column that is never 0 in the reference keeps a positive floor
        return (low if float(x.min()) > 0 else 0.0), high
    if float(x.min()) >= 0:
        low = max(low, 0.0)
    return low, high


def _skewness(x: Any) -> float:
    import numpy as np

    sd = float(np.std(x))
    return float(np.mean((x - np.mean(x)) ** 3) / sd**3) if sd > 0 else 0.0


#: A column needs this many distinct reference values before it can look like an id column.
ID_MIN_ROWS = 20


def _looks_like_ids(values: pd.Series, distinct: int, family: str) -> bool:
    """Every value distinct, and either text or a dense run of integers (a row counter)."""
    n = len(values)
    if n < ID_MIN_ROWS or distinct != n:
        return False
    if family == "string":
        return True
    if family != "numeric" or not _integral(values):
        return False
    span = float(values.max()) - float(values.min()) + 1
    return span <= 2 * n


def _integral(values: pd.Series) -> bool:
    """True when a numeric series holds only whole numbers."""
    import numpy as np

    x = values.to_numpy(dtype=float)
    return bool(np.all(np.isfinite(x)) and np.all(np.floor(x) == x))


def constant_rows(others: int, n: int, miss_probability: float) -> int | None:
    """Batch size from which a constant column is improbable, from the reference's evidence.

    ``others`` of the reference's ``n`` values differ from its dominant value. Their share is
    only known up to sampling noise, so the rule uses its lower confidence bound
    (:func:`share_lower`): a batch of the returned size misses every non-dominant value with
    probability below ``miss_probability`` even at that bound. A near-constant reference
    column (one rare value in a few hundred rows) therefore needs millions of rows before a
    single value is suspicious; a varying column, a handful. None when no batch size is
    enough.
    """
    from mileage.monitors.checks._evidence import rows_to_see, share_lower

    return rows_to_see(share_lower(others, n), miss_probability)


def _column_spec(series: pd.Series, options: SuiteOptions, *, identifier: bool) -> dict[str, Any]:
    n = len(series)
    family = dtype_family(series.dtype)
    nulls = float(series.isna().mean()) if n else 0.0
    spec: dict[str, Any] = {
        "kind": "numeric",
        "type": family,
        "required": True,
        "max_null_fraction": 0.0 if nulls == 0 else round(min(1.0, nulls * 1.25 + 0.005), 6),
    }
    values = series.dropna()
    distinct = int(values.nunique())
    if identifier or _looks_like_ids(values, distinct, family):
        # ids new in every batch: presence, type and nulls only, never bounds or drift
        spec["kind"] = "identifier"
        spec["unique"] = bool(identifier and distinct == len(values))
        return spec
    if family == "numeric":
        if not len(values):
            return spec
        import numpy as np

        finite = values[np.isfinite(values.to_numpy(dtype=float))]
        if not len(finite):
            raise DataError(
                f"reference column {series.name!r} holds no finite value (only inf/-inf): "
                "bounds cannot be inferred from it; fix the reference or drop the column."
            )
        if len(finite) < len(values):
            # Infinite values would make the bounds infinite and switch the range check off.
            log.warning(
                "reference column %r: %d infinite value(s) left out of its bounds",
                series.name,
                len(values) - len(finite),
            )
            spec["non_finite_excluded"] = int(len(values) - len(finite))
            values = finite
        lo, hi = float(values.min()), float(values.max())
        low, high = _bounds(values.to_numpy(dtype=float), options.tolerance)
        spec.update(
            kind="numeric",
            min=_plain(float(f"{low:.6g}")),
            max=_plain(float(f"{high:.6g}")),
            observed={"min": _plain(lo), "max": _plain(hi), "distinct": distinct},
        )
        if distinct >= 2:
            top = int(values.value_counts().iloc[0])
            needed = constant_rows(len(values) - top, len(values), options.miss_probability)
            spec["observed"].update(rows=len(values), dominant_share=round(top / len(values), 6))
            if needed is not None:
                spec["min_distinct"] = 2
                spec["min_distinct_rows"] = needed
        return spec
    if family in ("string", "bool") and distinct <= options.max_categories:
        shares = values.astype(object).value_counts(normalize=True)
        domain = sorted((_plain(v) for v in shares.index), key=str)
        common = shares[shares >= options.common_share]
        spec.update(kind="categorical", domain=domain, max_unexpected_fraction=0.0)
        spec["observed"] = {"rows": len(values), "distinct": distinct}
        if len(common) >= 2 or (len(common) == 1 and len(shares) > 1):
            p_min = float(common.min())
            rows = math.log(options.miss_probability / len(common)) / math.log(1 - p_min)
            spec["expected"] = sorted((_plain(v) for v in common.index), key=str)
            spec["expected_min_rows"] = math.ceil(rows)
        return spec
    if family == "datetime":
        return {**spec, "kind": "datetime"}
    return {**spec, "kind": "text", "observed": {"distinct": distinct}}


def infer_suite(
    reference: pd.DataFrame,
    *,
    options: SuiteOptions | None = None,
    id_column: str | None = None,
    exclude: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Infer a validation suite from reference data.

    Args:
        reference: The data the model was trained or validated on.
        options: Inference settings (:class:`SuiteOptions`).
        id_column: Column identifying rows: checked for presence, nulls and uniqueness only.
        exclude: Columns the suite ignores (labels, which arrive separately).

    Returns:
        The suite as a JSON-able dict (see the module docstring).

    Raises:
        ConfigError: The reference has no rows or no columns, or a column has an empty name.

    Example:
        >>> import pandas as pd
        >>> suite = infer_suite(pd.DataFrame({"age": [20, 30, 40], "state": ["a", "b", "a"]}))
        >>> suite["columns"]["age"]["max"], suite["columns"]["state"]["domain"]
        (58.4207, ['a', 'b'])
    """
    options = options or SuiteOptions()
    if reference.shape[0] == 0 or reference.shape[1] == 0:
        raise ConfigError(
            f"reference data has {reference.shape[0]} rows and {reference.shape[1]} columns; "
            "a suite needs a non-empty reference (the data the model was validated on)."
        )
    unnamed = [i for i, name in enumerate(reference.columns, start=1) if str(name) == ""]
    if unnamed:
        raise ConfigError(
            f"reference data: column {unnamed[0]} of {reference.shape[1]} has an empty name; "
            "name it in the file's header (or drop it) so checks can refer to it."
        )
    columns = {
        str(name): _column_spec(reference[name], options, identifier=name == id_column)
        for name in reference.columns
        if name not in exclude
    }
    return {
        "format": SUITE_FORMAT,
        "reference": {
            "rows": int(reference.shape[0]),
            "columns": len(columns),
            "digest": frame_digest(reference),
        },
        "options": {
            "tolerance": options.tolerance,
            "max_categories": options.max_categories,
            "common_share": options.common_share,
        },
        "rows": {"min": 1},
        "columns": columns,
        "expectations": [],
    }


def _check_bounds(name: str, col: dict[str, Any]) -> None:
    """``min`` and ``max`` are finite numbers with ``min <= max`` (or absent / null)."""
    bounds = {}
    for key in ("min", "max"):
        value = col.get(key)
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ConfigError(
                f"suite column {name!r}: {key!r} must be a finite number, got {value!r}; "
                "set a number, or null for no bound."
            )
        bounds[key] = value
    if len(bounds) == 2 and bounds["min"] > bounds["max"]:
        raise ConfigError(
            f"suite column {name!r}: 'min' ({bounds['min']!r}) is above 'max' "
            f"({bounds['max']!r}); swap them."
        )


#: Great Expectations arguments that name columns: one (column, column_A/B) or several.
_COLUMN_KWARGS = frozenset({"column", "column_A", "column_B", "column_list", "column_set"})


def _check_expectation(number: int, exp: Any) -> None:
    """A custom expectation has a Great Expectations type, and names columns that have names."""
    if not isinstance(exp, dict) or not str(exp.get("type", "")).startswith("expect_"):
        raise ConfigError(
            f"suite expectation #{number} must be an object with a Great Expectations "
            f"'type' (expect_...) and 'kwargs'; got {exp!r}."
        )
    kwargs = exp.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ConfigError(
            f"suite expectation #{number} ({exp['type']}): 'kwargs' must be an object, "
            f"got {kwargs!r}."
        )
    for key, value in kwargs.items():
        if key not in _COLUMN_KWARGS:  # column_index, value_set...: not names
            continue
        named = value if isinstance(value, list | tuple) else [value]
        if any(not isinstance(c, str) or not c.strip() for c in named):
            raise ConfigError(
                f"suite expectation #{number} ({exp['type']}): {key!r} is {value!r}; "
                "name a column of the batches."
            )


def check_suite(spec: Any) -> dict[str, Any]:
    """Validate a suite read from a file or the store; returns it unchanged.

    Raises:
        ConfigError: The suite is malformed; the message names the entry.
    """
    if not isinstance(spec, dict) or spec.get("format") != SUITE_FORMAT:
        raise ConfigError(
            f'a suite must be a JSON object with "format": {SUITE_FORMAT}; export one with '
            "'mileage monitor suite NAME --export suite.json' and edit that."
        )
    columns = spec.get("columns")
    if not isinstance(columns, dict):
        raise ConfigError("suite: 'columns' must map column names to their checks.")
    kinds = {"numeric", "categorical", "text", "datetime", "identifier"}
    for name, col in columns.items():
        if not str(name).strip():
            raise ConfigError(
                f"suite: a column is named {name!r}; every column needs a name (the one in the "
                "batches' header)."
            )
        if not isinstance(col, dict) or col.get("kind") not in kinds:
            raise ConfigError(
                f"suite column {name!r}: 'kind' must be one of {sorted(kinds)}, got "
                f"{col.get('kind') if isinstance(col, dict) else col!r}."
            )
        if col.get("type", "numeric") not in TYPE_FAMILIES and col.get("type") != "other":
            raise ConfigError(
                f"suite column {name!r}: 'type' must be one of {sorted(TYPE_FAMILIES)}, "
                f"got {col.get('type')!r}."
            )
        for key in ("max_null_fraction", "max_unexpected_fraction"):
            value = col.get(key, 0.0)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ConfigError(
                    f"suite column {name!r}: {key!r} must be a fraction in [0, 1], got {value!r}."
                )
        _check_bounds(name, col)
        for check, label in (col.get("severity") or {}).items():
            try:
                Severity.parse(label)
            except ValueError as exc:
                raise ConfigError(f"suite column {name!r}, check {check!r}: {exc}.") from None
    for i, exp in enumerate(spec.get("expectations") or []):
        _check_expectation(i + 1, exp)
    return spec


@dataclass(frozen=True)
class PlannedCheck:
    """One expectation to run on one batch."""

    key: str
    check: str
    expectation_type: str
    column: str | None
    kwargs: dict[str, Any]
    severity: Severity
    spec: dict[str, Any]


def _severity(col: dict[str, Any], check: str) -> Severity:
    override = (col.get("severity") or {}).get(check)
    return Severity.parse(override) if override is not None else DEFAULT_SEVERITY[check]


def allowed_null_fraction(max_null_fraction: float, n_rows: int) -> float:
    """``max_null_fraction`` plus four standard errors of a batch of ``n_rows``."""
    q = max_null_fraction
    if q <= 0 or n_rows <= 0:
        return q
    return min(1.0, q + 4 * math.sqrt(q * (1 - q) / n_rows))


def plan_checks(  # noqa: C901 - one branch per column spec field
    spec: dict[str, Any],
    batch: pd.DataFrame,
    *,
    identifiers: tuple[str, ...] = (),
    rows: int | None = None,
) -> tuple[list[PlannedCheck], dict[str, str]]:
    """Compile the suite for one batch.

    A missing column gets only its existence check, and a column of the wrong type only its
    existence and type checks, so each fault fails exactly one expectation. Columns in
    ``identifiers`` (declared keys) get no value checks: their values are new in every batch.

    ``batch`` may be a sample or an empty frame with the batch's columns and types when
    ``rows`` gives the batch's size (a batch checked in partitions).

    Returns:
        The checks to run, and the columns skipped with the reason.
    """
    n = len(batch) if rows is None else rows
    checks: list[PlannedCheck] = []
    skipped: dict[str, str] = {}

    def add(check: str, column: str | None, col: dict[str, Any], **kwargs: Any) -> None:
        key = f"{check}:{column}" if column is not None else check
        expectation = EXPECTATION_OF[check]
        if column is not None:
            kwargs = {"column": column, **kwargs}
        checks.append(
            PlannedCheck(key, check, expectation, column, kwargs, _severity(col, check), col)
        )

    row_spec = spec.get("rows") or {}
    add("rows", None, {}, min_value=row_spec.get("min", 1), max_value=row_spec.get("max"))
    for name, col in spec["columns"].items():
        if name not in batch.columns:
            if col.get("required", True):
                add("exists", name, col)
            else:
                skipped[name] = "optional column absent"
            continue
        add("exists", name, col)
        family = col.get("type", "numeric")
        if family in TYPE_FAMILIES:
            add("type", name, col, type_list=TYPE_FAMILIES[family])
            if dtype_family(batch[name].dtype) != family:
                skipped[name] = f"type {batch[name].dtype} is not {family}"
                continue
        allowed = allowed_null_fraction(float(col.get("max_null_fraction", 0.0)), n)
        if allowed < 1:
            add("nulls", name, col, mostly=round(1 - allowed, 12))
        kind = "identifier" if name in identifiers else col["kind"]
        if kind == "numeric" and ("min" in col or "max" in col):
            add("bounds", name, col, min_value=col.get("min"), max_value=col.get("max"))
        if kind == "numeric" and col.get("min_distinct") and n >= col.get("min_distinct_rows", 0):
            add("cardinality", name, col, min_value=col["min_distinct"], max_value=None)
        if kind == "categorical" and "domain" in col:
            unexpected = float(col.get("max_unexpected_fraction", 0.0))
            add("domain", name, col, value_set=list(col["domain"]), mostly=1 - unexpected)
        if kind == "categorical" and col.get("expected") and n >= col.get("expected_min_rows", 0):
            add("expected", name, col, value_set=list(col["expected"]))
        if kind == "identifier" and col.get("unique"):
            add("unique", name, col)
    for i, exp in enumerate(spec.get("expectations") or []):
        column = (exp.get("kwargs") or {}).get("column")
        if column is not None and column not in batch.columns:
            skipped[f"expectation #{i + 1}"] = f"column {column!r} absent"
            continue
        checks.append(
            PlannedCheck(
                f"custom:{i}",
                "custom",
                str(exp["type"]),
                column,
                dict(exp.get("kwargs") or {}),
                Severity.parse(exp.get("severity", "blocking")),
                exp,
            )
        )
    return checks, skipped


def describe_suite(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """One line per column for people: kind, type, nulls, bounds or domain size."""
    out = []
    for name, col in spec["columns"].items():
        detail = ""
        if col["kind"] == "numeric" and "min" in col:
            detail = f"[{col['min']:g}, {col['max']:g}]"
        elif col["kind"] == "categorical":
            detail = f"{len(col.get('domain', []))} values, {len(col.get('expected', []))} common"
        out.append(
            {
                "column": name,
                "kind": col["kind"],
                "type": col.get("type"),
                "required": col.get("required", True),
                "max_null_fraction": col.get("max_null_fraction", 0.0),
                "detail": detail,
            }
        )
    return out


def drop_column(spec: dict[str, Any], column: str) -> dict[str, Any]:
    """A copy of the suite without ``column``.

    Raises:
        ConfigError: The suite has no such column.
    """
    if column not in spec["columns"]:
        raise ConfigError(
            f"the suite has no column {column!r}; its columns: "
            f"{', '.join(list(spec['columns'])[:20])}."
        )
    out = {**spec, "columns": {k: v for k, v in spec["columns"].items() if k != column}}
    return out
