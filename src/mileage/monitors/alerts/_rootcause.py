"""Root causes: the findings of one monitor run grouped by what most likely caused them.

One upstream fault shows up as many findings: a column multiplied by 1000 fails its bounds,
drifts, moves the predictions, and days later breaks the SLO. :func:`causes_of` groups the
findings of one run into :class:`Cause` objects, each with the kind of problem it points at:

* ``broken_column``: validation failures of named columns, with those columns' drift, the
  prediction drift of the same batch, a scoring failure caused by a missing column, and the
  performance findings of the batch (the model saw broken inputs);
* ``input_error``: the batch could not be read, was empty or could not be scored;
* ``labels_unavailable``: labels could not be read or joined;
* ``model_release``: predictions drifted, or performance fell, within a few batches of a new
  model version, with no input explaining it;
* ``drift`` (features, with the prediction drift they cause), ``prediction_drift``
  (predictions alone), ``label_shift`` (labels that arrived, with the prediction drift and
  the change of the metric that follow);
* ``slo_breach``, ``performance_regression`` (with the prediction drift of the same batch),
  ``slice_regression``: performance findings nothing else explains.

The alert policy (:mod:`mileage.monitors.alerts._policy`) matches causes to open alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Alert kinds and what they mean, for people.
KINDS: dict[str, str] = {
    "broken_column": "a column broke its data contract upstream",
    "input_error": "the batch could not be read, was empty or could not be scored",
    "labels_unavailable": "labels could not be read or joined to predictions",
    "model_release": "a new model version behaves differently from the one before",
    "drift": "the distribution of the inputs shifted",
    "prediction_drift": "the predictions shifted with no input drift to explain it",
    "label_shift": "the labels that arrived are distributed differently from the reference",
    "slo_breach": "the performance SLO is broken",
    "performance_regression": "performance fell below the reference",
    "slice_regression": "a declared slice regressed",
}

#: Kinds judged on every full check of a batch (quiet when a check finds nothing for them).
CHECK_SCOPE = frozenset(
    {"broken_column", "input_error", "drift", "prediction_drift", "model_release"}
)
#: Kinds judged when performance is final (labels arrived).
PERFORMANCE_SCOPE = frozenset(
    {"slo_breach", "performance_regression", "slice_regression", "label_shift"}
)

_CHECK_WORDS = {
    "expect_column_to_exist": "missing from the batch",
    "expect_column_values_to_be_in_type_list": "type changed",
    "expect_column_values_to_not_be_null": "nulls",
    "expect_column_values_to_be_between": "values outside the reference range",
    "expect_column_values_to_be_in_set": "unknown categories",
    "expect_column_distinct_values_to_contain_set": "expected categories missing",
    "expect_column_unique_value_count_to_be_between": "stuck at too few distinct values",
    "expect_column_values_to_be_unique": "duplicated ids",
}


@dataclass
class Cause:
    """Findings of one run that share a likely cause.

    Attributes:
        kind: One of :data:`KINDS`.
        key: Identity across batches (``drift``, ``slo``, ``slice:north``...); broken columns
            are matched by column instead.
        findings: ``monitor_findings`` rows (dicts).
        columns: Columns involved.
        slo_breach: An SLO breach finding belongs to the cause.
        release: ``(previous version, new version)`` for a model release.
    """

    kind: str
    key: str
    findings: list[dict[str, Any]] = field(default_factory=list)
    columns: set[str] = field(default_factory=set)
    slo_breach: bool = False
    release: tuple[str, str] | None = None

    @property
    def blocking(self) -> bool:
        return any(f["severity"] == "blocking" for f in self.findings)

    def add(self, findings: list[dict[str, Any]]) -> None:
        for f in findings:
            self.findings.append(f)
            if f["check_kind"] == "performance" and f["check"] == "slo":
                self.slo_breach = True


@dataclass(frozen=True)
class RunContext:
    """What the grouping needs to know beyond the run's own findings.

    Attributes:
        prediction_column: The monitor's prediction column.
        label_column: The monitor's label column.
        release: ``(previous, new)`` model version when the run's batch was scored within the
            release window of a version change.
        broken_batches: Batches covered by open broken-column alerts (their performance
            findings belong there).
        release_batches: Batches covered by open model-release alerts.
    """

    prediction_column: str
    label_column: str
    release: tuple[str, str] | None = None
    broken_batches: frozenset[str] = frozenset()
    release_batches: frozenset[str] = frozenset()


def causes_of(findings: list[dict[str, Any]], ctx: RunContext) -> list[Cause]:  # noqa: C901, PLR0915 - ordered grouping rules share the claimed set
    """Group the warning and blocking findings of one run by likely cause.

    Args:
        findings: ``monitor_findings`` rows of one run (info findings are ignored).
        ctx: Columns, release and open alerts the grouping depends on.

    Returns:
        The causes, the most explanatory first.
    """
    rows = [f for f in findings if f["severity"] in ("warning", "blocking")]
    if not rows:
        return []
    batch = rows[0]["batch_id"]
    broken: dict[str, list[dict[str, Any]]] = {}
    inputs: list[dict[str, Any]] = []
    feature_drift: list[dict[str, Any]] = []
    prediction_drift: list[dict[str, Any]] = []
    label_drift: list[dict[str, Any]] = []
    performance: list[dict[str, Any]] = []
    slices: dict[str, list[dict[str, Any]]] = {}
    labels: list[dict[str, Any]] = []
    for f in rows:
        kind, column = f["check_kind"], f["column"]
        if kind == "validation" and column:
            broken.setdefault(column, []).append(f)
        elif kind in ("validation", "input"):
            inputs.append(f)
        elif kind == "drift" and column == ctx.prediction_column:
            prediction_drift.append(f)
        elif kind == "drift" and column == ctx.label_column:
            label_drift.append(f)
        elif kind == "drift":
            feature_drift.append(f)
        elif kind == "performance" and f["check"] == "slice_regression":
            slices.setdefault(f["slice"] or "?", []).append(f)
        elif kind == "performance" and f["check"] in ("label_join", "read_labels"):
            labels.append(f)
        elif kind == "performance":
            performance.append(f)
    causes: list[Cause] = []
    explained_by_broken = bool(broken) or batch in ctx.broken_batches
    if broken:
        cause = Cause("broken_column", "columns:" + ",".join(sorted(broken)))
        cause.columns = set(broken)
        for column in sorted(broken):
            cause.add(broken[column])
        cause.add([f for f in feature_drift if f["column"] in broken])
        feature_drift = [f for f in feature_drift if f["column"] not in broken]
        cause.add(prediction_drift)
        prediction_drift = []
        # a model fed a broken column fails to score (missing column, unknown category,
        # retyped values): one fault, one alert, whatever the column broke
        scoring = [f for f in inputs if f["check"] == "scoring"]
        cause.add(scoring)
        inputs = [f for f in inputs if f not in scoring]
        causes.append(cause)
    if inputs:
        cause = Cause("input_error", "input")
        cause.add(inputs)
        causes.append(cause)
    if feature_drift:
        cause = Cause("drift", "drift")
        cause.add(feature_drift)
        cause.columns = {f["column"] for f in feature_drift}
        cause.add(prediction_drift)
        prediction_drift = []
        causes.append(cause)
    released = ctx.release is not None or batch in ctx.release_batches
    label_cause: Cause | None = None
    if label_drift:
        label_cause = Cause("label_shift", "label_shift")
        label_cause.add(label_drift)
        label_cause.columns = {ctx.label_column}
        if not released and not explained_by_broken:
            # the mix of labels changed: the predictions and the metric follow from it
            label_cause.add(prediction_drift)
            prediction_drift = []
            label_cause.add(performance)
            performance = []
    if prediction_drift:
        if released:
            causes.append(_release(prediction_drift, ctx))
        elif performance and not explained_by_broken:
            pass  # the model got worse and its predictions moved: one problem (below)
        else:
            cause = Cause("prediction_drift", "prediction_drift")
            cause.add(prediction_drift)
            cause.columns = {ctx.prediction_column}
            causes.append(cause)
    if performance or slices:
        # symptoms of broken inputs (the metric, and each slice that fell with it) are
        # evidence of the column's alert, not alerts of their own with a retrain remedy
        symptoms = performance + [f for name in sorted(slices) for f in slices[name]]
        if explained_by_broken and broken:
            causes[0].add(symptoms)
            performance, slices = [], {}
        elif explained_by_broken:
            # the batch's inputs were broken (an open alert covers it): same cause
            cause = Cause("broken_column", "columns:")
            cause.add(symptoms)
            causes.append(cause)
            performance, slices = [], {}
        elif released:
            release = next((c for c in causes if c.kind == "model_release"), None)
            if release is None:
                release = _release([], ctx)
                causes.append(release)
            release.add(performance)
            performance = []
    if performance:
        breach = any(f["check"] == "slo" for f in performance)
        cause = Cause(
            *(("slo_breach", "slo") if breach else ("performance_regression", "performance"))
        )
        cause.add(performance)
        if prediction_drift:
            cause.add(prediction_drift)
            cause.columns = {ctx.prediction_column}
        causes.append(cause)
    for name, fs in sorted(slices.items()):
        cause = Cause("slice_regression", f"slice:{name}")
        cause.add(fs)
        causes.append(cause)
    if label_cause is not None:
        causes.append(label_cause)
    if labels:
        cause = Cause("labels_unavailable", "labels")
        cause.add(labels)
        causes.append(cause)
    return causes


def _release(findings: list[dict[str, Any]], ctx: RunContext) -> Cause:
    release = ctx.release
    version = release[1] if release else (findings[0]["model_version"] if findings else "")
    cause = Cause("model_release", f"release:{version}", release=release)
    cause.add(findings)
    if findings:
        cause.columns = {ctx.prediction_column}
    return cause


def _is_missing(finding: dict[str, Any]) -> bool:
    return str(finding["check"]) == "expect_column_to_exist"


def describe_check(finding: dict[str, Any]) -> str:
    """A few words on what a finding says (``'age': values outside the reference range``)."""
    check = str(finding["check"])
    column = finding.get("column")
    words = _CHECK_WORDS.get(check)
    value = finding.get("value")
    if check == "expect_column_values_to_not_be_null" and value is not None:
        words = f"{value:.0%} null"
    elif check == "expect_column_values_to_be_between" and value is not None:
        words = f"{value:.0%} of values outside the reference range"
    elif check == "expect_column_values_to_be_in_set" and value is not None:
        words = f"{value:.0%} unknown categories"
    elif finding["check_kind"] == "drift" and value is not None:
        words = f"drifted ({str(finding['statistic']).replace('_', ' ')} {value:.3g})"
    elif finding["check_kind"] == "performance" and value is not None:
        limit = finding.get("threshold")
        what = {"slo": "breaks the SLO", "regression": "below the reference"}.get(
            check, "regressed"
        )
        words = f"{finding['statistic']} {value:.4g} {what}" + (
            f" ({limit:.4g})" if limit is not None else ""
        )
        if finding.get("slice"):
            words = f"slice {finding['slice']!r}: {words}"
    elif words is None:
        words = f"{check.replace('_', ' ')} failed"
    return f"{column!r}: {words}" if column else words
