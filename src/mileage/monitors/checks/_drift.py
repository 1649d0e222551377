"""Drift of features and predictions with Evidently's per-column ``ValueDrift``.

Why not alarm on p-values: on a large batch every column "drifts" significantly, which is how
monitors end up muted. Here a column alarms only when

* its **effect size** is large: Evidently's normed Wasserstein distance (numeric columns, in
  units of the reference standard deviation) or Jensen-Shannon distance (categorical columns)
  is at least ``threshold`` (0.1, Evidently's own default for these distances); and
* the difference is **not sampling noise**: a two-sample test (Kolmogorov-Smirnov for numeric
  columns, chi-square for categorical ones) rejects at ``alpha`` after Holm's correction over
  all the columns tested in the batch, so the chance of any false alarm in a clean batch stays
  below ``alpha`` however many columns there are.

Smaller but real effects (at least ``watch``) alarm only when they persist for
``persistence`` consecutive batches, and an alarm that persists that long becomes blocking.
Large batches are sampled (``sample_rows``, seeded): the effect size of 100,000 rows is
within about 0.005 of the full batch's, and the tests stay honest because they use the
sample's own size.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mileage.monitors.checks._findings import BatchReport, Finding, Severity
from mileage.monitors.checks._suite import dtype_family
from mileage.platform.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: Evidently method names and how findings call their statistic.
STATISTIC_OF = {"wasserstein": "wasserstein_normed", "jensenshannon": "jensenshannon"}
MIN_ROWS = 20


@dataclass(frozen=True)
class DriftOptions:
    """Drift thresholds.

    Attributes:
        threshold: Effect size that alarms in a single batch.
        watch: Smaller effect size that alarms when it persists.
        persistence: Consecutive batches for a watch-level effect to alarm, and for an alarm
            to become blocking.
        alpha: Family-wise false-alarm rate per batch (Holm over the columns tested).
        sample_rows: Rows sampled from the reference and from each batch (0: all).
        numeric_method: Evidently method for numeric columns.
        categorical_method: Evidently method for categorical columns.
        seed: Seed of the sampling.
    """

    threshold: float = 0.1
    watch: float = 0.05
    persistence: int = 3
    alpha: float = 0.01
    sample_rows: int = 100_000
    numeric_method: str = "wasserstein"
    categorical_method: str = "jensenshannon"
    seed: int = 0

    def __post_init__(self) -> None:
        import math

        for name in ("threshold", "watch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"drift {name} must be a number, got {value!r}.")
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(
                    f"drift {name} must be a finite number above 0, got {value!r}; e.g. "
                    "--drift-threshold 0.1."
                )
        if not 0 < self.alpha < 1:
            raise ConfigError(f"drift alpha must be in (0, 1), got {self.alpha!r}.")
        if int(self.persistence) < 1:
            raise ConfigError(f"drift persistence must be at least 1, got {self.persistence!r}.")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DriftOptions:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


def drift_columns(suite: dict[str, Any], extra: dict[str, str] | None = None) -> dict[str, str]:
    """Columns to watch for drift, ``{name: "numeric" | "categorical"}``, from a suite."""
    out = {
        name: col["kind"]
        for name, col in suite["columns"].items()
        if col["kind"] in ("numeric", "categorical")
    }
    out.update(extra or {})
    return out


def _sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    if n and len(frame) > n:
        return frame.sample(n=n, random_state=seed)
    return frame


def _holm(p_values: dict[str, float]) -> dict[str, float]:
    """Holm-adjusted p-values (monotone, capped at 1)."""
    ordered = sorted(p_values.items(), key=lambda kv: kv[1])
    m = len(ordered)
    out: dict[str, float] = {}
    running = 0.0
    for i, (name, p) in enumerate(ordered):
        running = max(running, min(1.0, (m - i) * p))
        out[name] = running
    return out


def _p_value(ref: Any, cur: Any, kind: str) -> float:
    import numpy as np
    from scipy import stats

    if kind == "numeric":
        return float(stats.ks_2samp(ref, cur, method="asymp").pvalue)
    a = ref.astype(str).value_counts()
    b = cur.astype(str).value_counts()
    table = np.array(
        [
            [a.get(k, 0) for k in a.index.union(b.index)],
            [b.get(k, 0) for k in a.index.union(b.index)],
        ]
    )
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def _summary(series: Any, kind: str) -> dict[str, Any]:
    if kind == "numeric":
        q = series.quantile([0.05, 0.5, 0.95]).tolist()
        return {
            "mean": float(series.mean()),
            "std": float(series.std()),
            "p05": q[0],
            "p50": q[1],
            "p95": q[2],
        }
    shares = series.astype(str).value_counts(normalize=True).head(5)
    return {"top": {str(k): round(float(v), 4) for k, v in shares.items()}}


def _as_category(series: Any) -> Any:
    """Categories compared by value: every value as text, missing values kept missing."""
    return (
        series.astype(object).where(series.notna(), None).map(lambda v: v if v is None else str(v))
    )


def evidently_scores(
    reference: pd.DataFrame, current: pd.DataFrame, columns: dict[str, str], options: DriftOptions
) -> dict[str, float]:
    """Evidently's drift score of each column, as its ``ValueDrift`` metric computes it.

    The metric's stat test is called directly (the same registry, the same cleaning of
    infinities and missing values as ``ValueDrift``), without building a ``Report``: a report
    renders Plotly figures for every column, which is more than half of its time and is never
    shown by a monitor.
    """
    os.environ.setdefault("DO_NOT_TRACK", "1")
    logging.getLogger("evidently").setLevel(logging.ERROR)
    import numpy as np
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    out: dict[str, float] = {}
    for name, kind in columns.items():
        ref, cur = reference[name], current[name]
        if kind == "categorical":
            ref, cur = _as_category(ref), _as_category(cur)
        ref = ref.replace([-np.inf, np.inf], np.nan).dropna()
        cur = cur.replace([-np.inf, np.inf], np.nan).dropna()
        if ref.empty or cur.empty:
            continue
        column_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
        method = options.numeric_method if kind == "numeric" else options.categorical_method
        test = get_stattest(ref, cur, column_type, method)
        out[name] = float(test(ref, cur, column_type, options.threshold).drift_score)
    return out


def evidently_report_scores(
    reference: pd.DataFrame, current: pd.DataFrame, columns: dict[str, str], options: DriftOptions
) -> dict[str, float]:
    """The same scores through an Evidently ``Report`` of ``ValueDrift`` metrics (with its
    figures); kept to show that :func:`evidently_scores` agrees with it."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    logging.getLogger("evidently").setLevel(logging.ERROR)
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    numeric = [c for c, k in columns.items() if k == "numeric"]
    categorical = [c for c, k in columns.items() if k == "categorical"]
    ref = reference[list(columns)].copy()
    cur = current[list(columns)].copy()
    for c in categorical:
        ref[c], cur[c] = _as_category(ref[c]), _as_category(cur[c])
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    metrics = [
        ValueDrift(
            column=c,
            method=options.numeric_method if k == "numeric" else options.categorical_method,
            threshold=options.threshold,
        )
        for c, k in columns.items()
    ]
    snapshot = Report(metrics).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    out: dict[str, float] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if str(config.get("type", "")).endswith(":ValueDrift"):
            out[config["column"]] = float(metric["value"])
    return out


def _finite_only(
    reference: pd.DataFrame, batch: pd.DataFrame, columns: dict[str, str], report: BatchReport
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both frames with ``inf`` and ``-inf`` of numeric columns turned into missing values.

    One infinite value makes the standard deviation NaN (the column would be skipped as
    constant) and the distances infinite, so it would switch drift off for that column. They
    are left out instead, with a warning naming the column for the reference (the batch's are
    reported by validation).
    """
    import numpy as np

    def cleaned(frame: pd.DataFrame, what: str) -> pd.DataFrame:
        out = None
        for name, kind in columns.items():
            if kind != "numeric" or name not in frame.columns:
                continue
            if dtype_family(frame[name].dtype) != "numeric":
                continue
            values = frame[name].to_numpy(dtype=float, na_value=np.nan)
            infinite = int(np.isinf(values).sum())
            if not infinite:
                continue
            if out is None:
                out = frame.copy()
            out[name] = np.where(np.isinf(values), np.nan, values)
            if what == "reference":
                note = (
                    f"reference column {name!r}: {infinite} infinite value(s) left out of its "
                    "drift statistics"
                )
                log.warning("%s", note)
                report.notes.append(note)
        return frame if out is None else out

    return cleaned(reference, "reference"), cleaned(batch, "batch")


def _usable_columns(
    reference: pd.DataFrame, batch: pd.DataFrame, columns: dict[str, str]
) -> dict[str, str]:
    """The columns both frames hold with enough values of the declared kind to compare."""
    import numpy as np

    usable: dict[str, str] = {}
    for name, kind in columns.items():
        if name not in batch.columns or name not in reference.columns:
            continue  # validation reports missing columns
        if kind == "numeric" and (
            dtype_family(batch[name].dtype) != "numeric"
            or dtype_family(reference[name].dtype) != "numeric"
        ):
            continue  # validation reports the type
        if batch[name].notna().sum() < MIN_ROWS or reference[name].notna().sum() < MIN_ROWS:
            continue
        if kind == "numeric" and not float(np.nanstd(reference[name].to_numpy(float))) > 0:
            continue
        usable[name] = kind
    return usable


def drift_batch(
    reference: pd.DataFrame,
    batch: pd.DataFrame,
    columns: dict[str, str],
    report: BatchReport,
    *,
    where: str,
    options: DriftOptions | None = None,
    history: dict[str, list[int]] | None = None,
) -> dict[str, int]:
    """Compare ``batch`` with ``reference`` column by column and add findings to ``report``.

    Args:
        reference: Reference data (features, and predictions when drift of predictions is
            watched).
        batch: The batch, same columns.
        columns: ``{name: "numeric" | "categorical"}`` to compare.
        report: Receives findings and statistics (``effect``, ``p_value``, ``drift_level``).
        where: Prefix of messages (``monitor 'churn' batch 2026-11-20``).
        options: Thresholds.
        history: Drift levels of previous batches per column (0 none, 1 watch, 2 alarm),
            oldest first, for persistence.

    Returns:
        The drift level of each column tested in this batch.
    """
    options = options or DriftOptions()
    history = history or {}
    started = time.perf_counter()
    reference, batch = _finite_only(reference, batch, columns, report)
    usable = _usable_columns(reference, batch, columns)
    report.stat("drift", None, "columns_tested", len(usable))
    if not usable:
        report.seconds["drift"] = time.perf_counter() - started
        return {}
    ref = _sample(reference[list(usable)], options.sample_rows, options.seed)
    cur = _sample(batch[list(usable)], options.sample_rows, options.seed + 1)
    scores = evidently_scores(ref, cur, usable, options)
    p_raw = {
        name: _p_value(ref[name].dropna(), cur[name].dropna(), kind)
        for name, kind in usable.items()
    }
    p_adj = _holm(p_raw)
    levels: dict[str, int] = {}
    for name, kind in usable.items():
        effect = scores.get(name, math.nan)
        significant = p_adj[name] < options.alpha
        level = 0
        if significant and effect >= options.threshold:
            level = 2
        elif significant and effect >= options.watch:
            level = 1
        levels[name] = level
        report.stat("drift", name, "effect", effect)
        report.stat("drift", name, "p_value", p_adj[name])
        report.stat("drift", name, "drift_level", level)
        past = (
            history.get(name, [])[-(options.persistence - 1) :] if options.persistence > 1 else []
        )
        full = len(past) == options.persistence - 1
        sustained_alarm = level == 2 and full and all(lv == 2 for lv in past)
        sustained_watch = level >= 1 and full and all(lv >= 1 for lv in past)
        if sustained_alarm:
            severity: Severity | None = Severity.BLOCKING
        elif level == 2 or sustained_watch:
            severity = Severity.WARNING
        else:
            severity = None
        if severity is None:
            continue
        method = options.numeric_method if kind == "numeric" else options.categorical_method
        statistic = STATISTIC_OF.get(method, method)
        threshold = options.threshold if level == 2 else options.watch
        run = 1 + sum(1 for _ in _trailing(history.get(name, []), 1 if level == 1 else 2))
        ref_summary = _summary(ref[name].dropna(), kind)
        cur_summary = _summary(cur[name].dropna(), kind)
        if kind == "numeric":
            change = f"mean {ref_summary['mean']:.4g} -> {cur_summary['mean']:.4g}, median {ref_summary['p50']:.4g} -> {cur_summary['p50']:.4g}"
        else:
            change = f"top categories {ref_summary['top']} -> {cur_summary['top']}"
        persist = f"for {run} consecutive batches" if run > 1 else "in this batch"
        advice = (
            "sustained: retrain on recent data or fix the source upstream"
            if severity == Severity.BLOCKING
            else "if the change is real, plan a retrain on recent data; if not, look for a change upstream"
        )
        message = (
            f"{where}: column {name!r} drifted {persist}: {statistic.replace('_', ' ')} "
            f"{effect:.3f} >= {threshold:.3f} (Holm-adjusted p = {p_adj[name]:.2g} over "
            f"{len(usable)} columns); {change}; {advice}."
        )
        report.add(
            [
                Finding(
                    "drift",
                    "value_drift",
                    name,
                    statistic,
                    effect,
                    threshold,
                    severity,
                    message,
                    {
                        "method": method,
                        "p_value": p_raw[name],
                        "p_adjusted": p_adj[name],
                        "columns_tested": len(usable),
                        "consecutive_batches": run,
                        "rows_compared": {
                            "reference": int(ref[name].notna().sum()),
                            "batch": int(cur[name].notna().sum()),
                        },
                        "reference": ref_summary,
                        "batch": cur_summary,
                    },
                )
            ]
        )
    report.seconds["drift"] = time.perf_counter() - started
    return levels


def _trailing(levels: list[int], at_least: int) -> list[int]:
    out: list[int] = []
    for level in reversed(levels):
        if level < at_least:
            break
        out.append(level)
    return out
