"""Retraining cadence: how fast a model decays with age, and how often to retrain it.

Model age is the time between a batch being served and its model version's registration (or,
when the registry cannot say, the first batch that version served). Each labelled batch whose
metric is final gives a point (age, metric). :func:`recommend_cadence` fits the decay of the
metric with age and recommends the longest cadence of :data:`GRID` whose expected metric at
that age (the worst moment of a retraining cycle) still meets the SLO, or stays within the
tolerated drop of a fresh model's metric when there is no SLO; never shorter than training
plus validation time.

Two fits are offered: ``linear`` (Theil-Sen, :func:`scipy.stats.theilslopes`, robust to a few
bad batches; it extrapolates beyond the ages seen) and ``isotonic``
(:class:`sklearn.isotonic.IsotonicRegression`, monotone with no shape assumed, inside the ages
seen, continued by the Theil-Sen slope beyond them). The decay per day reported is the
Theil-Sen slope either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mileage.monitors.checks._performance import HIGHER_IS_BETTER, METRICS
from mileage.platform.errors import ConfigError
from mileage.platform.store import epoch_seconds

if TYPE_CHECKING:
    from mileage.platform.store import TraceStore

HOUR, DAY = 3600.0, 86400.0
#: Candidate cadences, shortest first.
GRID: tuple[tuple[str, float], ...] = (
    ("1h", HOUR),
    ("6h", 6 * HOUR),
    ("1d", DAY),
    ("2d", 2 * DAY),
    ("1w", 7 * DAY),
    ("2w", 14 * DAY),
    ("30d", 30 * DAY),
    ("90d", 90 * DAY),
)
#: Training plus validation time when not told otherwise ("retraining takes 3-4 hours").
DEFAULT_TRAINING_HOURS = 4.0
MIN_POINTS = 5
METHODS = ("linear", "isotonic")


@dataclass(frozen=True)
class DecayPoint:
    """One labelled batch: the model's age when it served the batch, and its metric."""

    age_seconds: float
    value: float
    weight: float = 1.0
    batch_id: str = ""
    model_version: str | None = None


@dataclass
class CadenceRecommendation:
    """The fitted decay and the recommended cadence, with the reasons.

    Attributes:
        metric: ``accuracy`` or ``mae``.
        points: Labelled batches with a known model age used in the fit.
        enough: Whether there was enough history to recommend anything.
        cadence: Recommended cadence (a :data:`GRID` label), None when not enough history.
        cadence_seconds: The same in seconds.
        floor_seconds: Training plus validation time: no cadence is shorter.
        decay_per_day: Change of the metric per day of model age (Theil-Sen slope;
            negative for a decaying accuracy), with ``decay_per_day_ci`` (95%).
        fresh: Expected metric of a fresh model (age 0).
        threshold: What the metric must meet at the end of a cycle (the SLO, or the fresh
            metric minus the tolerance); ``threshold_from`` says which.
        keeps_threshold: Whether the recommended cadence meets the threshold (False when
            even the shortest cadence allowed cannot).
        extrapolated: The cadence is longer than the oldest model age observed.
        expected: Expected metric at the end of each candidate cadence.
        reasoning: Why, in sentences.
    """

    metric: str
    points: int
    enough: bool
    cadence: str | None = None
    cadence_seconds: float | None = None
    floor_seconds: float = DEFAULT_TRAINING_HOURS * HOUR
    decay_per_day: float | None = None
    decay_per_day_ci: tuple[float, float] | None = None
    fresh: float | None = None
    threshold: float | None = None
    threshold_from: str | None = None
    keeps_threshold: bool | None = None
    extrapolated: bool = False
    max_age_days: float | None = None
    method: str = "linear"
    expected: dict[str, float] = field(default_factory=dict)
    reasoning: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def grid_label(seconds: float) -> str:
    """``1d`` for a grid value, otherwise hours (``4.5h``)."""
    for label, value in GRID:
        if value == seconds:
            return label
    return f"{seconds / HOUR:g}h"


def _fit(ages_days: Any, values: Any, weights: Any, better: bool, method: str) -> Any:
    """Expected metric as a function of age in days, and the Theil-Sen fit."""
    import numpy as np
    from scipy.stats import theilslopes

    slope, _intercept, low, high = theilslopes(values, ages_days, alpha=0.95)
    # a model does not get better with age: a positive accuracy slope is noise
    slope_eff = min(slope, 0.0) if better else max(slope, 0.0)
    if method == "linear":
        center = float(np.median(ages_days))
        level = float(np.median(values - slope_eff * (ages_days - center)))

        def linear(age: Any) -> Any:
            return level + slope_eff * (np.asarray(age, dtype=float) - center)

        return linear, (slope, low, high)
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(increasing=not better, out_of_bounds="clip")
    iso.fit(ages_days, values, sample_weight=weights)
    oldest = float(np.max(ages_days))
    at_oldest = float(iso.predict([oldest])[0])

    def monotone(age: Any) -> Any:
        a = np.atleast_1d(np.asarray(age, dtype=float))
        inside = iso.predict(np.minimum(a, oldest))
        out = np.where(a > oldest, at_oldest + slope_eff * (a - oldest), inside)
        return out if np.ndim(age) else out[0]

    return monotone, (slope, low, high)


def recommend_cadence(
    points: Sequence[DecayPoint],
    *,
    metric: str = "accuracy",
    slo: float | None = None,
    tolerance: float = 0.05,
    training_hours: float = DEFAULT_TRAINING_HOURS,
    method: str = "linear",
    min_points: int = MIN_POINTS,
) -> CadenceRecommendation:
    """Fit the decay of ``metric`` with model age and recommend a retraining cadence.

    Args:
        points: Labelled batches with their model age.
        metric: ``accuracy`` (higher is better) or ``mae`` (lower is better).
        slo: The metric must meet it at the end of every cycle; None to use ``tolerance``.
        tolerance: Without an SLO, the tolerated drop from a fresh model's metric (accuracy
            points, or the relative MAE increase).
        training_hours: Training plus validation time: the shortest cadence allowed.
        method: ``linear`` or ``isotonic`` (see the module).
        min_points: Labelled batches needed before recommending anything.

    Raises:
        ConfigError: Unknown metric or method, or a negative training time.
    """
    import numpy as np

    if metric not in METRICS:
        raise ConfigError(f"metric {metric!r} is not supported; use one of {', '.join(METRICS)}.")
    if method not in METHODS:
        raise ConfigError(f"fit {method!r} is not supported; use one of {', '.join(METHODS)}.")
    if training_hours <= 0:
        raise ConfigError(
            f"training time must be positive, got {training_hours} hours; set --training-hours "
            "to how long training plus validation takes."
        )
    floor = training_hours * HOUR
    usable = [p for p in points if p.age_seconds >= 0 and np.isfinite(p.value)]
    rec = CadenceRecommendation(metric, len(usable), False, floor_seconds=floor, method=method)
    dropped = len(points) - len(usable)
    if dropped:
        rec.reasoning.append(
            f"{dropped} batch(es) served before their model version was registered were left out."
        )
    ages = np.array([p.age_seconds / DAY for p in usable])
    if len(usable) < min_points or len(np.unique(ages)) < 2:
        rec.reasoning.append(
            f"not enough labelled history: {len(usable)} batch(es) with a final {metric} and a "
            f"known model age (need {min_points}, at 2 or more different ages); run the monitor "
            "on more batches, or wait until their labels arrive."
        )
        return rec
    values = np.array([p.value for p in usable], dtype=float)
    weights = np.array([max(p.weight, 1e-9) for p in usable], dtype=float)
    better = HIGHER_IS_BETTER[metric]
    expected, (slope, low, high) = _fit(ages, values, weights, better, method)
    rec.enough = True
    rec.decay_per_day, rec.decay_per_day_ci = float(slope), (float(low), float(high))
    rec.max_age_days = float(ages.max())
    fresh = float(expected(0.0))
    rec.fresh = fresh
    if slo is not None:
        threshold, rec.threshold_from = float(slo), "slo"
    else:
        threshold = fresh - tolerance if better else fresh * (1 + tolerance)
        rec.threshold_from = "tolerance"
    rec.threshold = threshold

    def meets(value: float) -> bool:
        return value >= threshold if better else value <= threshold

    candidates = [(label, sec) for label, sec in GRID if sec >= floor] or [
        (grid_label(floor), floor)
    ]
    rec.expected = {label: float(expected(sec / DAY)) for label, sec in candidates}
    ok = [(label, sec) for label, sec in candidates if meets(rec.expected[label])]
    per_day = (
        f"{metric} changes by {slope:+.4g} per day of model age "
        f"(95% interval {low:+.4g} to {high:+.4g}; {method} fit on {len(usable)} labelled "
        f"batches, model ages 0-{ages.max():.3g} days)"
    )
    rec.reasoning.append(per_day + ".")
    bound = (
        f"the SLO ({'at least' if better else 'at most'} {threshold:.4g})"
        if slo is not None
        else f"the fresh model's {metric} {fresh:.4g} within the tolerated "
        f"{'drop' if better else 'increase'} ({threshold:.4g})"
    )
    shortest = candidates[0]
    if not ok:
        label, sec = shortest
        rec.cadence, rec.cadence_seconds, rec.keeps_threshold = label, sec, False
        rec.reasoning.append(
            f"even retraining every {label} (the shortest cadence that leaves {training_hours:g} "
            f"hours for training and validation) the expected {metric} at that age, "
            f"{rec.expected[label]:.4g}, misses {bound}"
            + (f"; a fresh model is at {fresh:.4g} already" if not meets(fresh) else "")
            + ": retraining more often cannot fix this; look at the data and the features."
        )
    else:
        label, sec = ok[-1]
        rec.cadence, rec.cadence_seconds, rec.keeps_threshold = label, sec, True
        longer = candidates[len(ok)] if len(ok) < len(candidates) else None
        rec.reasoning.append(
            f"retrain every {label}: a model that old is expected at {rec.expected[label]:.4g}, "
            f"which meets {bound}"
            + (
                f"; at {longer[0]} it would be {rec.expected[longer[0]]:.4g}, which does not"
                if longer
                else "; no decay threatens it within the longest cadence considered"
            )
            + "."
        )
        if sec == shortest[1] and floor > GRID[0][1]:
            rec.reasoning.append(
                f"shorter cadences are ruled out: training and validation take {training_hours:g} "
                "hours."
            )
    rec.extrapolated = bool(rec.cadence_seconds and rec.cadence_seconds / DAY > ages.max())
    if rec.extrapolated:
        rec.reasoning.append(
            f"models older than {ages.max():.3g} days were never observed: the expectation at "
            f"{rec.cadence} extrapolates the fitted decay; check it again as history grows."
        )
    return rec


def registered_at(model_version: str, tracking_uri: str | None) -> float | None:
    """When ``name/number`` was registered (Unix seconds), or None when the registry cannot say."""
    name, _, number = model_version.rpartition("/")
    if not name or not number:
        return None
    from mileage.monitors.checks._models import _quiet

    _quiet()
    try:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        created = client.get_model_version(name, number).creation_timestamp
    except (MlflowException, OSError, ValueError, ImportError):
        return None
    return float(created) / 1000 if created else None


def decay_points(
    history: list[dict[str, Any]],
    metric: str,
    created: dict[str, float | None] | None = None,
) -> tuple[list[DecayPoint], dict[str, str]]:
    """(model age, metric) of every batch whose metric is final.

    Args:
        history: From :func:`mileage.monitors._registry.performance_history`.
        metric: The pipeline's metric.
        created: Registration time (Unix seconds) per model version; a version missing here
            is aged from the first batch it served.

    Returns:
        The points, and for each model version where its age counts from (``registry`` or
        ``first batch served``).
    """
    created = dict(created or {})
    served: dict[str, float] = {}
    rows = []
    for h in history:
        version, stats = h.get("model_version"), h["stats"]
        when = stats.get("predicted_at")
        if when is None and h.get("checked_at") is not None:
            when = epoch_seconds(h["checked_at"])
        if not version or when is None:
            continue
        served[version] = min(served.get(version, when), when)
        if stats.get("final") == 1.0 and stats.get(metric) is not None:
            rows.append((h, version, float(when)))
    origin: dict[str, str] = {}
    points = []
    for h, version, when in rows:
        start = created.get(version)
        origin[version] = "registry" if start is not None else "first batch served"
        if start is None:
            start = served[version]
        stats = h["stats"]
        points.append(
            DecayPoint(
                when - start,
                float(stats[metric]),
                float(stats.get("labelled") or 1.0),
                str(h["batch_id"]),
                version,
            )
        )
    return points, origin


def cadence_for_monitor(
    store: TraceStore,
    name: str,
    *,
    training_hours: float = DEFAULT_TRAINING_HOURS,
    method: str = "linear",
    created: dict[str, float | None] | None = None,
) -> CadenceRecommendation:
    """The cadence recommendation for a registered monitor, from its stored labelled batches.

    Args:
        store: The trace store.
        name: Monitor name.
        training_hours: Training plus validation time.
        method: ``linear`` or ``isotonic``.
        created: Registration times per model version; looked up in the MLflow registry of
            the monitor when None.

    Raises:
        MonitorNotFoundError: No such monitor.
        ConfigError: Bad options.
    """
    from mileage.monitors._registry import get_monitor, performance_history

    record = get_monitor(store, name)
    options = record.config.performance_options()
    history = performance_history(store, record.id)
    if created is None:
        versions = {h["model_version"] for h in history if h.get("model_version")}
        created = {
            v: registered_at(v, record.config.tracking_uri) if record.config.model_uri else None
            for v in sorted(versions)
        }
    points, origin = decay_points(history, options.metric, created)
    rec = recommend_cadence(
        points,
        metric=options.metric,
        slo=options.slo,
        tolerance=options.max_drop,
        training_hours=training_hours,
        method=method,
    )
    unaged = sum(1 for h in history if h["stats"].get("final") == 1.0) - len(points)
    if unaged > 0:
        rec.reasoning.append(
            f"{unaged} labelled batch(es) name no model version, so their model age is unknown "
            "(batches scored by the monitor's --model carry it)."
        )
    for version, where in sorted(origin.items()):
        if where != "registry":
            rec.reasoning.append(
                f"{version}: its registration time is unknown, so its age counts from the first "
                "batch it served."
            )
    return rec


__all__ = [
    "DEFAULT_TRAINING_HOURS",
    "GRID",
    "METHODS",
    "CadenceRecommendation",
    "DecayPoint",
    "cadence_for_monitor",
    "decay_points",
    "grid_label",
    "recommend_cadence",
    "registered_at",
]
