"""SLO state and labeler agreement on the real breast cancer rows.

Which predictions are wrong and which labels the second labeler flips are set by the tests
(SYNTHETIC), so the windowed accuracy and the agreement are known exactly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from mileage.cli import app
from mileage.monitors import (
    BatchReport,
    MonitorConfig,
    MonitorRunner,
    PerformanceOptions,
    Severity,
    create_monitor,
    join_labels,
    performance_batch,
)
from mileage.monitors._metrics import MonitorsSource
from mileage.monitors.checks._check import judge_performance
from mileage.monitors.checks._slo import apply_slo_state, window_state
from mileage.platform.errors import ConfigError
from mileage.platform.store import TraceStore


def _stats(report: BatchReport) -> dict[str, float | None]:
    return {s.statistic: s.value for s in report.statistics if not s.slice and not s.column}


def _batch(rows: pd.DataFrame, wrong: int, options: PerformanceOptions, name: str) -> BatchReport:
    """A batch of real rows whose first ``wrong`` predictions are wrong (SYNTHETIC errors)."""
    prediction = rows["label"].to_numpy().copy()
    prediction[:wrong] = 1 - prediction[:wrong]
    predictions = pd.DataFrame({"id": rows["id"], "prediction": prediction})
    joined = join_labels(predictions, rows[["id", "label"]], id_column="id", label_column="label")
    report = BatchReport("t", name)
    performance_batch(joined, report, where=name, prediction_column="prediction", options=options)
    return report


def _window(cancer, wrongs: list[int], options: PerformanceOptions):
    history: list[dict] = []
    state = None
    for i, wrong in enumerate(wrongs):
        rows = cancer.held_out.iloc[i * 60 : (i + 1) * 60]
        report = _batch(rows, wrong, options, f"b{i}")
        state = apply_slo_state(report, history, options)
        history.append({"batch_id": f"b{i}", "stats": _stats(report)})
    return state, report


def test_windowed_accuracy_equal_to_the_slo_is_healthy_just_below_is_broken(cancer) -> None:
    options = PerformanceOptions(slo=0.9, slo_window=3)
    state, report = _window(cancer, [6, 3, 9], options)  # 18 wrong of 180: exactly 0.9
    assert state.value == 0.9 and state.labelled == 180 and state.state == "healthy"
    assert _stats(report)["slo_healthy"] == 1.0
    assert _stats(report)["slo_window_metric"] == 0.9
    state, report = _window(cancer, [6, 3, 10], options)  # 19 wrong: 0.8944...
    assert state.value is not None and state.value < 0.9 and state.state == "broken"
    assert _stats(report)["slo_healthy"] == 0.0
    assert "breaks the SLO" in state.reason


def test_the_window_holds_the_latest_final_batches_only(cancer) -> None:
    wrongs = [30, 3, 9]  # a bad old batch, then 12 wrong of 120 = 0.9
    assert _window(cancer, wrongs, PerformanceOptions(slo=0.9, slo_window=2))[0].state == "healthy"
    assert _window(cancer, wrongs, PerformanceOptions(slo=0.9, slo_window=3))[0].state == "broken"


def test_the_state_is_unknown_while_coverage_is_insufficient(cancer) -> None:
    options = PerformanceOptions(slo=0.9, min_labels=30)
    rows = cancer.held_out.iloc[:60]
    predictions = rows[["id"]].assign(prediction=rows["label"])
    joined = join_labels(
        predictions, rows[["id", "label"]].iloc[:20], id_column="id", label_column="label"
    )
    report = BatchReport("t", "b0")  # a third labelled: provisional
    performance_batch(joined, report, where="b0", prediction_column="prediction", options=options)
    state = apply_slo_state(report, [], options)
    assert state.state == "unknown" and "coverage is insufficient" in state.reason
    assert "slo_healthy" not in _stats(report) and _stats(report)["slo_window_batches"] == 0
    no_slo = window_state(
        [{"batch_id": "b", "stats": {"final": 1.0, "labelled": 60, "accuracy": 1.0}}],
        PerformanceOptions(),
    )
    assert no_slo.state == "unknown" and no_slo.value == 1.0 and "no SLO" in no_slo.reason


def test_an_error_metric_is_broken_above_its_slo() -> None:
    options = PerformanceOptions(metric="mae", slo=2.0, min_labels=1)

    def history(total: float) -> list[dict]:
        stats = {"final": 1.0, "labelled": 10, "mae": total / 10, "mae_sum": total}
        return [{"batch_id": "b", "stats": stats}]

    assert window_state(history(20.0), options).state == "healthy"  # exactly 2.0
    assert window_state(history(20.5), options).state == "broken"


def _two_labelers(rows: pd.DataFrame, share: float, seed: int = 0) -> tuple[pd.DataFrame, int]:
    """Labels with labeler ``a`` (the real label) and ``b``: the real label with ``share`` of
    the rows flipped (SYNTHETIC second labeler)."""
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(rows), size=round(share * len(rows)), replace=False)
    b = rows["label"].to_numpy().copy()
    b[flipped] = 1 - b[flipped]
    return rows[["id", "label"]].assign(a=rows["label"], b=b), len(flipped)


def test_agreement_is_recorded_and_reported_as_the_accuracy_ceiling(cancer) -> None:
    rows = cancer.held_out
    labels, flipped = _two_labelers(rows, 0.1)
    config = MonitorConfig(name="t", reference_uri="-", id_column="id", labeler_columns=["a", "b"])
    perfect = rows[["id"]].assign(prediction=rows["label"])
    report = BatchReport("t", "b")
    judge_performance(perfect, labels, report, config=config, reference=None, where="b")
    stats = _stats(report)
    assert stats["label_agreement"] == 1 - flipped / len(rows)
    assert stats["label_kappa"] == pytest.approx(cohen_kappa_score(labels["a"], labels["b"]))
    assert stats["label_agreement_rows"] == len(rows)
    (ceiling,) = [f for f in report.findings if f.check == "label_ceiling"]
    assert ceiling.severity == Severity.INFO and ceiling.value == 1.0
    assert ceiling.threshold == stats["label_agreement"] and "label noise" in ceiling.message
    # a model below the agreement: the labels are not what limits it
    wrong = rows["label"].to_numpy().copy()
    wrong[: len(rows) // 5] = 1 - wrong[: len(rows) // 5]
    report = BatchReport("t", "b")
    judge_performance(
        rows[["id"]].assign(prediction=wrong),
        labels,
        report,
        config=config,
        reference=None,
        where="b",
    )
    below = _stats(report)
    assert (below["accuracy"] or 0.0) < (below["label_agreement"] or 0.0)
    assert not [f for f in report.findings if f.check == "label_ceiling"]


def test_labeler_columns_are_checked(cancer) -> None:
    with pytest.raises(ConfigError, match="at least two labelers"):
        MonitorConfig(name="t", reference_uri="-", labeler_columns=["a"])
    with pytest.raises(ConfigError, match="needs --metric accuracy"):
        MonitorConfig(
            name="t", reference_uri="-", labeler_columns=["a", "b"], performance={"metric": "mae"}
        )
    rows = cancer.held_out
    config = MonitorConfig(name="t", reference_uri="-", id_column="id", labeler_columns=["a", "c"])
    labels, _ = _two_labelers(rows, 0.1)
    report = BatchReport("t", "b")
    judge_performance(
        rows[["id"]].assign(prediction=rows["label"]),
        labels,
        report,
        config=config,
        reference=None,
        where="b",
    )
    (missing,) = [f for f in report.findings if f.check == "label_agreement"]
    assert missing.severity == Severity.WARNING and "'c'" in missing.message
    assert _stats(report)["accuracy"] == 1.0  # performance is still judged


@pytest.fixture
def pipeline(cancer, tmp_path: Path) -> MonitorConfig:
    """Three scored batches of real rows, labels from two labelers (one SYNTHETIC, 10% flipped)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, validation = cancer.reference.iloc[:170], cancer.reference.iloc[170:]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    model.fit(train[cancer.features], train["label"])
    validation.assign(prediction=model.predict(validation[cancer.features])).to_parquet(
        tmp_path / "ref.parquet"
    )
    batches = tmp_path / "batches"
    batches.mkdir()
    held = cancer.held_out.drop(columns=["label"])
    held["prediction"] = model.predict(held[cancer.features])
    for i in range(3):
        held.iloc[i * 75 : (i + 1) * 75].to_parquet(batches / f"2026-11-{20 + i}.parquet")
    labels, _ = _two_labelers(cancer.held_out, 0.1)
    labels.to_parquet(tmp_path / "labels.parquet")
    return MonitorConfig(
        name="cancer",
        reference_uri=str(tmp_path / "ref.parquet"),
        batches_uri=str(batches),
        labels_uri=str(tmp_path / "labels.parquet"),
        id_column="id",
        labeler_columns=["a", "b"],
        performance={"slo": 0.9, "slo_window": 2},
    )


def test_runs_store_the_state_and_export_it_with_the_agreement(
    sqlite_store: TraceStore, pipeline: MonitorConfig, tmp_path: Path, monkeypatch
) -> None:
    create_monitor(sqlite_store, pipeline)
    reports = MonitorRunner(sqlite_store, "cancer", home=tmp_path / "home").run()
    last = _stats(reports[-1])
    assert last["slo_window_batches"] == 2 and last["slo_window_labelled"] == 150
    held = pd.concat(
        [pd.read_parquet(p) for p in sorted(Path(str(pipeline.batches_uri)).iterdir())]
    )
    labels = pd.read_parquet(str(pipeline.labels_uri)).set_index("id")
    correct = (held["prediction"].to_numpy() == labels.loc[held["id"], "label"].to_numpy())[75:]
    assert last["slo_window_metric"] == correct.sum() / 150
    assert last["slo_healthy"] == float(correct.mean() >= 0.9)
    with sqlite_store.connect() as conn:
        families = {m.name: m for m in MonitorsSource().collect(conn, time.time())}
    (healthy,) = families["mileage_monitor_slo_healthy"].samples
    assert healthy.value == last["slo_healthy"] and healthy.labels["metric"] == "accuracy"
    (agreement,) = families["mileage_monitor_label_agreement_ratio"].samples
    assert agreement.value == last["label_agreement"]
    assert families["mileage_monitor_performance"].samples  # exported beside it
    monkeypatch.setenv("MILEAGE_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        app, ["--db-url", sqlite_store.url, "monitor", "show", "cancer", "--json"]
    )
    assert result.exit_code == 0, result.output
    state = json.loads(result.output)["slo_state"]
    assert state["state"] == ("healthy" if last["slo_healthy"] else "broken")
    assert state["value"] == last["slo_window_metric"] and state["batches"] == [
        "2026-11-21",
        "2026-11-22",
    ]
