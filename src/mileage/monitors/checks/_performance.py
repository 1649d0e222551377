"""Model performance under label delay: join predictions with labels that arrive later.

Labels are joined to predictions by id. For each batch the monitor reports how many
predictions have a label yet (coverage) and how long labels took (lag, from the prediction
time to the label time). Until coverage reaches ``min_coverage`` (and at least ``min_labels``
rows are labelled) the metric is *provisional*: it is recorded with an info finding and never
alerts, so an unlabelled window cannot raise an accuracy alarm. Meanwhile prediction drift is
the proxy (see drift).

Once coverage suffices:

* the metric below its SLO is a blocking finding (the pipeline is broken);
* the metric worse than the reference baseline by more than ``max_drop`` (accuracy points, or
  a relative MAE increase) *and* significantly so (one-sided test at ``alpha``) is a warning,
  globally, and blocking for a declared slice: a slice that degrades is caught even when the
  global metric improves.

When the labels source carries two or more labelers' columns, their agreement (share of rows
where all agree, and Cohen's kappa) is recorded per batch: it is the ceiling of the accuracy
the model can reach against those labels (see :func:`label_agreement`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mileage.monitors.checks._findings import BatchReport, Finding, Severity
from mileage.monitors.checks._slices import Slice
from mileage.platform.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

METRICS = {"accuracy": "classification", "mae": "regression"}
HIGHER_IS_BETTER = {"accuracy": True, "mae": False}
#: Prefix of the labeler columns in a frame from :func:`join_labels`.
LABELER_PREFIX = "__labeler__:"


@dataclass(frozen=True)
class PerformanceOptions:
    """How performance is judged.

    Attributes:
        metric: ``accuracy`` (classification) or ``mae`` (regression).
        min_coverage: Share of predictions that must be labelled before the metric is final.
        min_labels: Labelled rows needed (globally, and per slice) before judging.
        slo: Service level: accuracy at least / MAE at most this; None for no SLO.
        max_drop: Tolerated degradation against the baseline: accuracy points, or the
            relative MAE increase (0.1 = 10%).
        alpha: Significance of a regression.
        slo_window: Batches in the SLO window: the SLO state judges the labelled rows of the
            latest ``slo_window`` batches whose metric is final.
        estimate: Estimate the metric of every batch before its labels arrive (accuracy from
            calibrated probability columns, MAE from a model of the error); the SLO window
            counts batches still waiting for labels at their estimate.
    """

    metric: str = "accuracy"
    min_coverage: float = 0.5
    min_labels: int = 30
    slo: float | None = None
    max_drop: float = 0.05
    alpha: float = 0.01
    slo_window: int = 7
    estimate: bool = False

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(
                f"metric {self.metric!r} is not supported; use one of {', '.join(METRICS)}."
            )
        if not 0 < self.min_coverage <= 1:
            raise ConfigError(f"min_coverage must be in (0, 1], got {self.min_coverage}.")
        if int(self.slo_window) < 1:
            raise ConfigError(
                f"slo_window must be at least 1 batch, got {self.slo_window}; set --slo-window N."
            )
        if self.slo is not None and not _finite(self.slo):
            raise ConfigError(
                f"--slo must be a finite number (accuracy at least / error at most), got "
                f"{self.slo!r}."
            )
        if self.slo is not None and self.metric == "accuracy" and not 0 <= self.slo <= 1:
            raise ConfigError(f"--slo for accuracy must be in [0, 1], got {self.slo!r}.")
        if not _finite(self.max_drop) or self.max_drop < 0:
            raise ConfigError(f"max_drop must be a finite number >= 0, got {self.max_drop!r}.")
        if not _finite(self.alpha) or not 0 < self.alpha < 1:
            raise ConfigError(f"alpha must be in (0, 1), got {self.alpha!r}.")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PerformanceOptions:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


@dataclass
class Baseline:
    """Metric on the reference data, globally and per slice (what "degraded" is relative to),
    with the row counts and spreads that make the comparison a two-sample test."""

    metric: str
    overall: float | None = None
    slices: dict[str, float] = field(default_factory=dict)
    n: dict[str, int] = field(default_factory=dict)
    sd: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "overall": self.overall,
            "slices": dict(self.slices),
            "n": dict(self.n),
            "sd": dict(self.sd),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Baseline | None:
        if not data:
            return None
        return cls(
            data["metric"],
            data.get("overall"),
            dict(data.get("slices") or {}),
            {k: int(v) for k, v in (data.get("n") or {}).items()},
            {k: float(v) for k, v in (data.get("sd") or {}).items()},
        )


def _errors(y_true: Any, y_pred: Any, metric: str) -> Any:
    """Per-row score: 1/0 correct (accuracy) or absolute error (mae)."""
    import numpy as np

    if metric == "accuracy":
        import pandas as pd

        t, p = pd.Series(np.asarray(y_true)), pd.Series(np.asarray(y_pred))
        nt, np_ = pd.to_numeric(t, errors="coerce"), pd.to_numeric(p, errors="coerce")
        if nt.notna().all() and np_.notna().all():  # 1 == 1.0 == "1"
            return (nt.to_numpy() == np_.to_numpy()).astype(float)
        return (t.astype(str).to_numpy() == p.astype(str).to_numpy()).astype(float)
    return np.abs(np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float))


def compute_baseline(
    frame: pd.DataFrame,
    *,
    label_column: str,
    prediction_column: str,
    metric: str,
    slices: list[Slice],
) -> Baseline:
    """The metric of predictions on labelled reference rows, overall and per slice."""
    rows = frame[frame[label_column].notna() & frame[prediction_column].notna()]
    scores = _errors(rows[label_column], rows[prediction_column], metric)
    base = Baseline(metric, float(scores.mean()) if len(rows) else None)
    base.n[""], base.sd[""] = len(scores), float(scores.std()) if len(scores) > 1 else 0.0
    for s in slices:
        mask = s.mask(rows).to_numpy()
        if mask.sum():
            base.slices[s.name] = float(scores[mask].mean())
            base.n[s.name] = int(mask.sum())
            base.sd[s.name] = float(scores[mask].std()) if mask.sum() > 1 else 0.0
    return base


def _worse(value: float, reference: float, options: PerformanceOptions) -> bool:
    if options.metric == "accuracy":
        return value < reference - options.max_drop
    return value > reference * (1 + options.max_drop)


def _p_worse(
    scores: Any, reference: float, metric: str, ref_n: int | None = None, ref_sd: float = 0.0
) -> float:
    """One-sided p-value that the rows' metric is worse than the reference's.

    With the reference's row count known this is a two-sample test (two proportions for
    accuracy, Welch for absolute errors), so a baseline measured on few rows is not taken as
    exact; otherwise a one-sample test against ``reference``.
    """
    import math

    from scipy import stats

    n = len(scores)
    mean = float(scores.mean())
    if ref_n:
        if metric == "accuracy":
            pooled = (mean * n + reference * ref_n) / (n + ref_n)
            se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n + 1 / ref_n))
            return float(stats.norm.sf((reference - mean) / se))
        sd = float(scores.std()) if n > 1 else 0.0
        se = math.sqrt(sd**2 / n + ref_sd**2 / ref_n)
        if se == 0:
            return 0.0 if mean > reference else 1.0
        return float(stats.norm.sf((mean - reference) / se))
    if metric == "accuracy":
        k = int(scores.sum())
        p0 = min(max(reference, 1e-9), 1 - 1e-9)
        return float(stats.binomtest(k, n, p0, alternative="less").pvalue)
    if n < 2 or float(scores.std()) == 0:
        return 0.0 if mean > reference else 1.0
    return float(stats.ttest_1samp(scores, reference, alternative="greater").pvalue)


def join_labels(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    id_column: str,
    label_column: str,
    label_time_column: str | None = None,
    as_of: Any = None,
    labeler_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Left-join labels onto predictions by id (labels known at ``as_of`` only).

    Labeler columns of the labels source come along as ``LABELER_PREFIX + name``.

    Raises:
        ConfigError: A needed column is missing.
    """
    import pandas as pd

    for frame, what, cols in (
        (predictions, "predictions", [id_column]),
        (labels, "labels", [id_column, label_column, *labeler_columns]),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ConfigError(
                f"{what} have no column {missing[0]!r} (columns: "
                f"{', '.join(map(str, frame.columns[:15]))}); set --id-column / --label-column"
                f"{' / --labeler-columns' if labeler_columns else ''}."
            )
    keep = [id_column, label_column] + (
        [label_time_column] if label_time_column and label_time_column in labels.columns else []
    )
    keep += [c for c in labeler_columns if c not in keep]
    lab = labels[keep].copy()
    labelers = {c: LABELER_PREFIX + c for c in labeler_columns}
    if as_of is not None and label_time_column and label_time_column in lab.columns:
        cutoff = pd.Timestamp(as_of)
        cutoff = cutoff.tz_convert("UTC") if cutoff.tzinfo else cutoff.tz_localize("UTC")
        lab = lab[pd.to_datetime(lab[label_time_column], utc=True) <= cutoff]
    lab = lab.drop_duplicates(subset=[id_column], keep="last")
    for column, alias in labelers.items():
        lab[alias] = lab[column]
    lab = lab.drop(columns=[c for c in labelers if c not in (id_column, label_column)])
    lab = lab.rename(columns={label_column: "__label__"})
    if label_time_column and label_time_column in lab.columns:
        lab = lab.rename(columns={label_time_column: "__label_time__"})
    left = predictions.copy()
    left["__key__"] = left[id_column].astype(str)
    lab["__key__"] = lab[id_column].astype(str)
    return left.merge(lab.drop(columns=[id_column]), on="__key__", how="left").drop(
        columns=["__key__"]
    )


def performance_batch(
    joined: pd.DataFrame,
    report: BatchReport,
    *,
    where: str,
    prediction_column: str,
    options: PerformanceOptions,
    slices: Sequence[Slice] = (),
    baseline: Baseline | None = None,
    prediction_time_column: str | None = None,
    id_column: str | None = None,
    labeler_columns: Sequence[str] = (),
) -> None:
    """Judge the labelled part of a batch; add findings and statistics to ``report``.

    Args:
        joined: Predictions with ``__label__`` (and ``__label_time__``) from :func:`join_labels`.
        report: Receives findings and statistics.
        where: Prefix of messages.
        prediction_column: Column holding the predictions.
        options: Metric, coverage and thresholds.
        slices: Declared slices.
        baseline: Reference metric overall and per slice.
        prediction_time_column: When each prediction was made (for the label lag).
        id_column: Row ids, quoted as evidence.
        labeler_columns: Labelers' columns joined by :func:`join_labels`: their agreement is
            recorded, and reported as the accuracy ceiling.
    """
    started = time.perf_counter()
    n = len(joined)
    labelled = joined[joined["__label__"].notna() & joined[prediction_column].notna()]
    coverage = len(labelled) / n if n else 0.0
    metric = options.metric
    lag_days = _coverage_stats(joined, labelled, report, prediction_time_column)
    if not len(labelled):
        report.add(
            [
                Finding(
                    "performance",
                    "label_coverage",
                    None,
                    "label_coverage",
                    0.0,
                    options.min_coverage,
                    Severity.INFO,
                    f"{where}: none of the {n:,} predictions has a label yet; {metric} is "
                    "unknown and no performance alert can fire; prediction drift is the "
                    "signal meanwhile.",
                    {"predictions": n},
                )
            ]
        )
        report.seconds["performance"] = time.perf_counter() - started
        return
    scores = _errors(labelled["__label__"], labelled[prediction_column], metric)
    value = float(scores.mean())
    report.stat("performance", None, metric, value)
    report.stat("performance", None, f"{metric}_sum", float(scores.sum()))  # exact windows
    agreement = (
        label_agreement(labelled, labeler_columns, report) if len(labeler_columns) >= 2 else None
    )
    final = coverage >= options.min_coverage and len(labelled) >= options.min_labels
    report.stat("performance", None, "final", float(final))
    scored = _Scored(
        report=report,
        where=where,
        options=options,
        labelled=labelled,
        scores=scores,
        value=value,
        evidence={
            "labelled": len(labelled),
            "predictions": n,
            "coverage": round(coverage, 4),
            "label_lag_days": lag_days,
        },
    )
    if not final:
        _provisional(scored, n, coverage)
    else:
        _slo(scored)
        if agreement is not None:
            _label_ceiling(scored, agreement)
        if baseline is not None and baseline.overall is not None:
            _regression(scored, baseline, baseline.overall)
        for s in slices:
            _slice_regression(scored, s, joined, baseline, id_column, prediction_column)
    report.seconds["performance"] = time.perf_counter() - started


@dataclass
class _Scored:
    """The labelled part of a batch with its scores: what every performance finding quotes."""

    report: BatchReport
    where: str
    options: PerformanceOptions
    labelled: pd.DataFrame
    scores: Any
    value: float
    evidence: dict[str, Any]

    @property
    def metric(self) -> str:
        return self.options.metric


def _coverage_stats(
    joined: pd.DataFrame,
    labelled: pd.DataFrame,
    report: BatchReport,
    prediction_time_column: str | None,
) -> dict[str, float]:
    """Record the label coverage, when the batch was served and the label lag (returned)."""
    import pandas as pd

    n = len(joined)
    report.stat("performance", None, "predictions", n)
    report.stat("performance", None, "labelled", len(labelled))
    report.stat("performance", None, "label_coverage", len(labelled) / n if n else 0.0)
    if n and prediction_time_column and prediction_time_column in joined.columns:
        times = pd.to_datetime(joined[prediction_time_column], utc=True).dropna()
        if len(times):  # when the batch was served: model age in the cadence estimate
            report.stat("performance", None, "predicted_at", times.median().timestamp())
    lag_days: dict[str, float] = {}
    if (
        "__label_time__" in labelled.columns
        and prediction_time_column
        and prediction_time_column in labelled.columns
        and len(labelled)
    ):
        lag = (
            pd.to_datetime(labelled["__label_time__"], utc=True)
            - pd.to_datetime(labelled[prediction_time_column], utc=True)
        ).dt.total_seconds() / 86400
        lag_days = {"median": float(lag.median()), "p90": float(lag.quantile(0.9))}
        report.stat("performance", None, "label_lag_days_median", lag_days["median"])
        report.stat("performance", None, "label_lag_days_p90", lag_days["p90"])
    return lag_days


def _provisional(sc: _Scored, n: int, coverage: float) -> None:
    options, metric, value, labelled = sc.options, sc.metric, sc.value, sc.labelled
    sc.report.add(
        [
            Finding(
                "performance",
                metric,
                None,
                metric,
                value,
                options.slo,
                Severity.INFO,
                f"{sc.where}: {metric} {value:.4g} is provisional: {len(labelled):,} of {n:,} "
                f"predictions labelled ({coverage:.0%} < {options.min_coverage:.0%} needed"
                f"{f', or fewer than {options.min_labels} labels' if len(labelled) < options.min_labels else ''}"
                "); no alert until coverage suffices.",
                {**sc.evidence, "provisional": True},
            )
        ]
    )


def _slo(sc: _Scored) -> None:
    options, metric, value = sc.options, sc.metric, sc.value
    better = HIGHER_IS_BETTER[metric]
    if options.slo is not None and (value < options.slo if better else value > options.slo):
        sc.report.add(
            [
                Finding(
                    "performance",
                    "slo",
                    None,
                    metric,
                    value,
                    options.slo,
                    Severity.BLOCKING,
                    f"{sc.where}: {metric} {value:.4g} breaks the SLO "
                    f"({'at least' if better else 'at most'} {options.slo:g}) on "
                    f"{len(sc.labelled):,} labelled predictions: the pipeline is broken; roll "
                    "back to the previous model version or retrain.",
                    sc.evidence,
                )
            ]
        )


def _label_ceiling(sc: _Scored, agreement: dict[str, Any]) -> None:
    metric, value = sc.metric, sc.value
    if metric == "accuracy" and value >= agreement["agreement"]:
        sc.report.add(
            [
                Finding(
                    "performance",
                    "label_ceiling",
                    None,
                    metric,
                    value,
                    agreement["agreement"],
                    Severity.INFO,
                    f"{sc.where}: accuracy {value:.4g} is at or above the labelers' agreement "
                    f"({agreement['agreement']:.4g}, Cohen's kappa "
                    f"{_fmt(agreement['kappa'])} on {agreement['rows']:,} rows): label noise, "
                    "not the model, limits further gains; adjudicate disagreements or clarify "
                    "the labelling guidelines before tuning the model.",
                    {**sc.evidence, **agreement},
                )
            ]
        )


def _regression(sc: _Scored, baseline: Baseline, overall: float) -> None:
    options, metric, value = sc.options, sc.metric, sc.value
    p = _p_worse(sc.scores, overall, metric, baseline.n.get(""), baseline.sd.get("", 0.0))
    sc.report.stat("performance", None, f"{metric}_baseline", overall)
    if _worse(value, overall, options) and p < options.alpha:
        sc.report.add(
            [
                Finding(
                    "performance",
                    "regression",
                    None,
                    metric,
                    value,
                    overall,
                    Severity.WARNING,
                    f"{sc.where}: {metric} {value:.4g} is worse than on the reference data "
                    f"({overall:.4g}; p = {p:.2g}); check drifted features and plan a "
                    "retrain.",
                    {**sc.evidence, "p_value": p},
                )
            ]
        )


def _slice_regression(
    sc: _Scored,
    s: Slice,
    joined: pd.DataFrame,
    baseline: Baseline | None,
    id_column: str | None,
    prediction_column: str,
) -> None:
    options, metric, value, labelled, scores = (
        sc.options,
        sc.metric,
        sc.value,
        sc.labelled,
        sc.scores,
    )
    mask = s.mask(labelled).to_numpy()
    m = int(mask.sum())
    total = int(s.mask(joined).sum())
    sc.report.stat("performance", None, "slice_labelled", m, s.name)
    if not m:
        return
    slice_value = float(scores[mask].mean())
    sc.report.stat("performance", None, metric, slice_value, s.name)
    slice_coverage = m / total if total else 0.0
    ref_value = baseline.slices.get(s.name) if baseline else None
    if ref_value is None or m < options.min_labels or slice_coverage < options.min_coverage:
        return
    p = _p_worse(
        scores[mask],
        ref_value,
        metric,
        baseline.n.get(s.name) if baseline else None,
        baseline.sd.get(s.name, 0.0) if baseline else 0.0,
    )
    if _worse(slice_value, ref_value, options) and p < options.alpha:
        sc.report.add(
            [
                Finding(
                    "performance",
                    "slice_regression",
                    None,
                    metric,
                    slice_value,
                    ref_value,
                    Severity.BLOCKING,
                    f"{sc.where}: slice {s.to_text()!r}: {metric} {slice_value:.4g} vs "
                    f"{ref_value:.4g} on the reference (p = {p:.2g}, {m:,} labelled rows) "
                    f"while overall {metric} is {value:.4g}; do not promote this model; add "
                    "the slice to the validation set and retrain.",
                    {
                        **sc.evidence,
                        "slice_labelled": m,
                        "slice_coverage": round(slice_coverage, 4),
                        "p_value": p,
                        "overall": value,
                        "worst_rows": _worst_rows(
                            labelled[mask], scores[mask], metric, id_column, prediction_column
                        ),
                    },
                    slice=s.name,
                )
            ]
        )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def label_agreement(
    rows: pd.DataFrame, labeler_columns: Sequence[str], report: BatchReport | None = None
) -> dict[str, Any] | None:
    """How much the labelers agree on ``rows``: the ceiling of the accuracy against their labels.

    Only rows labelled by every labeler count. ``agreement`` is the share of them where all
    labelers give the same label; ``kappa`` is Cohen's kappa (the mean over pairs when there
    are more than two labelers; None when undefined, e.g. a labeler who always gives the same
    label). Recorded as ``label_agreement``, ``label_kappa`` and ``label_agreement_rows``.

    Returns:
        ``{"agreement", "kappa", "rows", "labelers"}``, or None when no row has every label.
    """
    import itertools
    import math
    import warnings

    import pandas as pd
    from sklearn.metrics import cohen_kappa_score

    cols = [LABELER_PREFIX + c for c in labeler_columns]
    present = [c for c in cols if c in rows.columns]
    both = rows[present].dropna()
    if report is not None:
        report.stat("performance", None, "label_agreement_rows", len(both))
    if len(present) < 2 or not len(both):
        return None
    numeric = both.apply(pd.to_numeric, errors="coerce")
    values = numeric if numeric.notna().all().all() else both.astype(str)  # 1 == 1.0 == "1"
    agree = float((values.nunique(axis=1) == 1).mean())
    kappas = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a, b in itertools.combinations(present, 2):
            k = float(cohen_kappa_score(values[a].astype(str), values[b].astype(str)))
            kappas.append(k)
    mean = sum(kappas) / len(kappas)
    kappa = mean if math.isfinite(mean) else None
    result: dict[str, Any] = {
        "agreement": agree,
        "kappa": kappa,
        "rows": len(both),
        "labelers": [c.removeprefix(LABELER_PREFIX) for c in present],
    }
    if report is not None:
        report.stat("performance", None, "label_agreement", agree)
        report.stat("performance", None, "label_kappa", kappa)
    return result


def _worst_rows(
    rows: pd.DataFrame, scores: Any, metric: str, id_column: str | None, prediction_column: str
) -> list[dict[str, Any]]:
    """A few of the worst-scored rows (wrong predictions, largest errors) as evidence."""
    import numpy as np

    order = np.argsort(scores if metric == "accuracy" else -scores, kind="stable")[:5]
    picked = rows.iloc[order]
    cols = [c for c in (id_column, prediction_column, "__label__") if c and c in picked.columns]
    return [
        {("label" if k == "__label__" else k): v for k, v in rec.items()}
        for rec in picked[cols].to_dict(orient="records")
    ]


def _finite(value: object) -> bool:
    """A real number that is not NaN or infinite (booleans are not numbers here)."""
    import math

    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
