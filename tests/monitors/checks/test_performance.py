"""Performance under label delay on the real breast cancer rows.

Prediction times, label arrival times and the prediction errors are set by the tests
(synthetic) so that the expected coverage, lag and metrics are known exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mileage.monitors import BatchReport, PerformanceOptions, Severity, Slice, join_labels
from mileage.monitors.checks._performance import compute_baseline, performance_batch

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2026-11-01", tz="UTC")
BIG = Slice.parse("big: mean_radius > 15")


def _stats(report: BatchReport) -> dict[tuple[str, str], float]:
    return {
        (s.statistic, s.slice): float("nan") if s.value is None else s.value
        for s in report.statistics
    }


@pytest.fixture
def replay(cancer):
    """A week of predictions (synthetic times), each labelled 14 days (+-12 h) later."""
    rng = np.random.default_rng(0)
    rows = cancer.held_out
    predicted_at = T0 + pd.to_timedelta(rng.integers(0, 7 * 24, len(rows)), unit="h")
    predictions = pd.DataFrame(
        {
            "id": rows["id"],
            "prediction": rows["label"],
            "predicted_at": predicted_at,
            "mean_radius": rows["mean_radius"],
        }
    )
    labels = pd.DataFrame(
        {
            "id": rows["id"],
            "label": rows["label"],
            "labelled_at": predicted_at
            + 14 * DAY
            + pd.to_timedelta(rng.integers(-12, 13, len(rows)), unit="h"),
        }
    )
    return predictions, labels


def _judge(predictions, labels, as_of, options=None, baseline=None, slices=()):
    joined = join_labels(
        predictions,
        labels,
        id_column="id",
        label_column="label",
        label_time_column="labelled_at",
        as_of=as_of,
    )
    report = BatchReport("t", "week-1")
    performance_batch(
        joined,
        report,
        where="week-1",
        prediction_column="prediction",
        options=options or PerformanceOptions(),
        slices=list(slices),
        baseline=baseline,
        prediction_time_column="predicted_at",
        id_column="id",
    )
    return report


def test_fourteen_day_lag_replay_reports_lag_and_coverage(replay) -> None:
    predictions, labels = replay
    before = _judge(predictions, labels, T0 + 10 * DAY)
    assert _stats(before)[("label_coverage", "")] == 0.0
    assert [(f.check, f.severity) for f in before.findings] == [("label_coverage", Severity.INFO)]
    middle = _judge(predictions, labels, T0 + 17 * DAY)
    coverage = _stats(middle)[("label_coverage", "")]
    assert 0.2 < coverage < 0.6
    after = _judge(predictions, labels, T0 + 30 * DAY)
    stats = _stats(after)
    assert stats[("label_coverage", "")] == 1.0 and stats[("final", "")] == 1.0
    assert stats[("label_lag_days_median", "")] == pytest.approx(14, abs=0.5)
    assert stats[("accuracy", "")] == 1.0
    assert after.findings == []


def test_no_accuracy_alert_from_an_unlabelled_window(replay) -> None:
    predictions, labels = replay
    wrong = predictions.assign(prediction=1 - predictions["prediction"])  # every prediction wrong
    options = PerformanceOptions(slo=0.95)
    early = _judge(wrong, labels, T0 + 16 * DAY, options=options)
    assert early.worst == Severity.INFO
    (finding,) = early.findings
    assert finding.evidence["provisional"] is True and "provisional" in finding.message
    late = _judge(wrong, labels, T0 + 30 * DAY, options=options)
    (slo,) = [f for f in late.findings if f.check == "slo"]
    assert slo.severity == Severity.BLOCKING and slo.value == 0.0 and slo.threshold == 0.95


def test_slice_regression_is_caught_while_the_global_metric_improves(cancer) -> None:
    rng = np.random.default_rng(1)
    ref = cancer.reference.copy()
    flip = rng.random(len(ref)) < 0.15  # 85% accurate everywhere on the reference
    ref["prediction"] = np.where(flip, 1 - ref["label"], ref["label"])
    baseline = compute_baseline(
        ref, label_column="label", prediction_column="prediction", metric="accuracy", slices=[BIG]
    )
    rows = cancer.held_out
    in_slice = BIG.mask(rows).to_numpy()
    wrong = in_slice & (rng.random(len(rows)) < 0.35)  # the slice degrades, the rest is perfect
    predictions = pd.DataFrame(
        {
            "id": rows["id"],
            "mean_radius": rows["mean_radius"],
            "prediction": np.where(wrong, 1 - rows["label"], rows["label"]),
        }
    )
    labels = rows[["id", "label"]]
    report = BatchReport("t", "b")
    joined = join_labels(predictions, labels, id_column="id", label_column="label")
    performance_batch(
        joined,
        report,
        where="b",
        prediction_column="prediction",
        options=PerformanceOptions(),
        slices=[BIG],
        baseline=baseline,
        id_column="id",
    )
    stats = _stats(report)
    assert stats[("accuracy", "")] > (baseline.overall or 1.0)  # global up
    assert stats[("accuracy", "big")] < baseline.slices["big"] - 0.05  # slice down
    (finding,) = report.findings
    assert (finding.check, finding.slice, finding.severity) == (
        "slice_regression",
        "big",
        Severity.BLOCKING,
    )
    assert finding.evidence["overall"] == stats[("accuracy", "")]
    assert len(finding.evidence["worst_rows"]) == 5
    assert all(r["prediction"] != r["label"] for r in finding.evidence["worst_rows"])


def test_regression_metric_and_relative_degradation(cancer) -> None:
    rows = cancer.held_out
    ref = cancer.reference.assign(prediction=cancer.reference["mean_area"] * 1.02)
    baseline = compute_baseline(
        ref.rename(columns={"mean_area": "y"}),
        label_column="y",
        prediction_column="prediction",
        metric="mae",
        slices=[],
    )
    predictions = pd.DataFrame({"id": rows["id"], "prediction": rows["mean_area"] * 1.2})
    labels = pd.DataFrame({"id": rows["id"], "label": rows["mean_area"]})
    report = BatchReport("t", "b")
    performance_batch(
        join_labels(predictions, labels, id_column="id", label_column="label"),
        report,
        where="b",
        prediction_column="prediction",
        options=PerformanceOptions(metric="mae"),
        baseline=baseline,
    )
    (finding,) = report.findings
    assert finding.check == "regression" and finding.statistic == "mae"
    assert finding.value is not None and finding.threshold is not None
    assert finding.value > finding.threshold * 1.1


def test_labels_join_by_id_and_the_last_label_wins(cancer) -> None:
    predictions = pd.DataFrame({"id": [1, 2, 3], "prediction": [0, 1, 1]})
    labels = pd.DataFrame({"id": ["1", "2", "2"], "label": [0, 0, 1]})  # ids as text, a correction
    joined = join_labels(predictions, labels, id_column="id", label_column="label")
    assert joined["__label__"].tolist()[:2] == [0, 1] and pd.isna(joined["__label__"].iloc[2])


def test_slices_are_parsed_not_evaluated() -> None:
    s = Slice.parse("young: age < 30 and plan in [basic, free]")
    frame = pd.DataFrame({"age": [20, 40, 25], "plan": ["basic", "basic", "pro"]})
    assert s.mask(frame).tolist() == [True, False, False]
    from mileage.platform.errors import ConfigError

    with pytest.raises(ConfigError, match="must be 'COLUMN OP VALUE'"):
        Slice.parse("evil: __import__('os').system('true')")
