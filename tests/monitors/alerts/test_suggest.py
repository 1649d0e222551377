"""The suggestion engine: the right remedy per cause, with evidence, an expected effect and a
diff; warm starts when a provider has them; accepting performs the remedy, once; nothing but
an allowed rollback runs by itself. Real monitors on real data (scikit-learn's breast cancer
set), real batch files, a real trace store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from mileage.monitors import MonitorConfig, MonitorRunner, create_monitor, respond
from mileage.monitors._registry import get_monitor, get_suite, save_report
from mileage.monitors.alerts._inbox import accept_suggestion, get_suggestion, list_suggestions
from mileage.monitors.alerts._suggest import WarmStarts, metalearner_warm_starts, no_warm_starts
from mileage.monitors.checks._findings import BatchReport, Finding, Severity
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore


def _model(cancer: Any) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = cancer.reference.iloc[:170]
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(
        train[cancer.features], train["label"]
    )


@pytest.fixture
def files(cancer, tmp_path: Path) -> dict[str, Path]:
    """A reference (validation rows with labels, predictions and a 'site' category), five
    clean batches of served rows with predictions, their labels."""
    model = _model(cancer)
    sites = ["north", "south", "east"]
    validation = cancer.reference.iloc[170:].copy()
    validation["site"] = [sites[i % 3] for i in range(len(validation))]
    validation["prediction"] = model.predict(validation[cancer.features])
    ref = tmp_path / "ref.parquet"
    validation.to_parquet(ref)
    batches = tmp_path / "batches"
    batches.mkdir()
    held = cancer.held_out.copy()
    held["site"] = [sites[i % 3] for i in range(len(held))]
    held["prediction"] = model.predict(held[cancer.features])
    for i in range(5):
        part = held.iloc[i * 45 : (i + 1) * 45].drop(columns=["label"])
        part.to_parquet(batches / f"2026-11-{20 + i}.parquet")
    labels = tmp_path / "labels.csv"
    cancer.held_out[["id", "label"]].to_csv(labels, index=False)
    return {"ref": ref, "batches": batches, "labels": labels}


def _config(files: dict[str, Path], **kw: Any) -> MonitorConfig:
    return MonitorConfig(
        name="cancer",
        reference_uri=str(files["ref"]),
        batches_uri=str(files["batches"]),
        labels_uri=str(files["labels"]),
        id_column="id",
        owner="oncology-ml",
        slices=["north: site == north"],
        performance={"slo": 0.8},
        **kw,
    )


def _settings(tmp_path: Path) -> Settings:
    return Settings.load(home=tmp_path / "home", routers=[], route_backoff_seconds=0)


def _store_run(store: TraceStore, batch: str, findings: list[Finding], **stats: float) -> None:
    record = get_monitor(store, "cancer")
    report = BatchReport("cancer", batch, None, 45, 12)
    report.add(findings)
    for name, value in stats.items():
        report.stat("performance", None, name, value)
    save_report(
        store,
        record,
        report,
        kind="performance" if stats else "check",
        suite_version=1,
        started_at=datetime(2026, 11, 25, tzinfo=UTC),
    )


@pytest.mark.slow  # real models trained and checked over several batches
def test_a_renamed_category_suggests_an_upstream_fix_with_before_and_after(
    sqlite_store: TraceStore, files, tmp_path: Path
) -> None:
    create_monitor(sqlite_store, _config(files))
    bad = pd.read_parquet(files["batches"] / "2026-11-24.parquet")
    bad["site"] = bad["site"].replace({"north": "NORTH"})
    bad.to_parquet(files["batches"] / "2026-11-24.parquet")
    MonitorRunner(sqlite_store, "cancer", home=tmp_path / "home").run()
    respond(sqlite_store, "cancer", settings=_settings(tmp_path), warm_start=no_warm_starts)
    (s,) = [s for s in list_suggestions(sqlite_store) if s.alert_title.startswith("upstream")]
    assert s.kind == "fix_upstream" and s.rank == 1 and s.alert_level == "page"
    assert "'site'" in s.title
    change = s.evidence["columns"]["site"]
    assert set(change["reference"]["categories"]) == {"north", "south", "east"}
    assert "NORTH" in change["batch"]["new_categories"]
    assert s.diff_format == "json" and '+      "NORTH"' in s.diff  # if the name is intended
    assert s.status == "open" and s.decided_by is None  # nothing ran by itself


class Ranked:
    """A warm-start provider that ranks two fixed configurations (stands in for the
    meta-learner, which lives in another subpackage)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, store: TraceStore, config: MonitorConfig, k: int) -> WarmStarts:
        self.calls += 1
        configurations = [
            {
                "name": "c7",
                "learner": "lightgbm",
                "params": {"num_leaves": 31},
                "expected_regret": 0.01,
            },
            {
                "name": "c2",
                "learner": "lightgbm",
                "params": {"num_leaves": 7},
                "expected_regret": 0.02,
            },
        ]
        return WarmStarts(configurations[:k], source="test ranking")


@pytest.mark.slow  # real models trained and checked over several batches
def test_retrain_lists_validated_batches_and_warm_starts(
    sqlite_store: TraceStore, files, tmp_path: Path
) -> None:
    create_monitor(sqlite_store, _config(files))
    MonitorRunner(sqlite_store, "cancer", home=tmp_path / "home").run()
    _store_run(
        sqlite_store,
        "2026-11-26",
        [
            Finding(
                "validation",
                "expect_column_to_exist",
                "mean_area",
                "present",
                0,
                1,
                Severity.BLOCKING,
                "gone",
            )
        ],
    )
    drifted = Finding(
        "drift",
        "value_drift",
        "mean_texture",
        "wasserstein_normed",
        0.4,
        0.1,
        Severity.WARNING,
        "drifted",
    )
    _store_run(sqlite_store, "2026-11-27", [drifted])
    ranked = Ranked()
    respond(sqlite_store, "cancer", settings=_settings(tmp_path), warm_start=ranked)
    retrain = next(s for s in list_suggestions(sqlite_store) if s.kind == "retrain")
    assert retrain.rank == 1 and ranked.calls == 1  # asked once per cycle
    request = yaml.safe_load("\n".join(line[1:] for line in retrain.diff.splitlines()[3:]))
    assert request["warm_start"]["configurations"][0]["params"] == {"num_leaves": 31}
    window = request["train_window"]
    assert "2026-11-26" in window["excluded"] and "2026-11-26" not in window["batches"]
    assert window["batches"][-1] == "2026-11-27" and len(window["batches"]) == 6
    assert "with 2 warm-started configurations" in retrain.title
    decision = accept_suggestion(sqlite_store, retrain.id, by="ana", home=tmp_path / "home")
    written = yaml.safe_load(Path(decision.result["request"]).read_text())
    assert written["warm_start"]["source"] == "test ranking" and decision.changed
    again = accept_suggestion(sqlite_store, retrain.id, by="bo", home=tmp_path / "home")
    assert again.noop and "already accepted by ana" in again.message


def test_without_the_meta_learner_retrain_says_why_there_are_no_warm_starts(
    sqlite_store: TraceStore, files
) -> None:
    create_monitor(sqlite_store, _config(files))
    config = get_monitor(sqlite_store, "cancer").config
    warm = metalearner_warm_starts(sqlite_store, config, 3)
    try:
        import mileage.metalearner.warmstart._ranker  # noqa: F401
    except ImportError:
        assert warm.configurations == [] and "not installed" in warm.note
    else:  # with the meta-learner but no trained model: a note, never an error
        assert warm.configurations or warm.note


@pytest.mark.slow
def test_persistent_drift_with_a_healthy_slo_refreshes_the_reference(
    sqlite_store: TraceStore, files, tmp_path: Path
) -> None:
    create_monitor(sqlite_store, _config(files))
    MonitorRunner(sqlite_store, "cancer", home=tmp_path / "home").run()
    settings = _settings(tmp_path)
    for day in range(3):
        drifted = Finding(
            "drift",
            "value_drift",
            "mean_texture",
            "wasserstein_normed",
            0.3,
            0.1,
            Severity.WARNING,
            "drifted",
        )
        batch = f"2026-11-{22 + day}"  # checked again: now they drift
        _store_run(sqlite_store, batch, [drifted])
        _store_run(sqlite_store, batch, [], final=1.0, accuracy=0.95)
        respond(sqlite_store, "cancer", settings=settings, warm_start=no_warm_starts)
    primary = next(s for s in list_suggestions(sqlite_store) if s.rank == 1)
    assert primary.kind == "refresh_reference" and primary.confidence == "high"
    assert "reference_uri" in primary.diff and primary.diff_format == "yaml"
    before = get_monitor(sqlite_store, "cancer")
    decision = accept_suggestion(sqlite_store, primary.id, by="ana", home=settings.home)
    after = get_monitor(sqlite_store, "cancer")
    assert decision.changed and after.config.reference_uri == decision.result["reference"]
    assert (before.suite_version, after.suite_version) == (1, 2)  # the old version stays
    assert get_suite(sqlite_store, after.id, 1)["spec"]["columns"]
    assert decision.result["rows"] == 5 * 45
    new_reference = pd.read_parquet(after.config.reference_uri)
    assert new_reference["label"].notna().all()  # joined with the labels that arrived


@pytest.mark.slow
def test_a_slice_regression_adds_the_slice_to_a_new_validation_set(
    sqlite_store: TraceStore, files, tmp_path: Path
) -> None:
    create_monitor(sqlite_store, _config(files))
    MonitorRunner(sqlite_store, "cancer", home=tmp_path / "home").run()
    regression = Finding(
        "performance",
        "slice_regression",
        None,
        "accuracy",
        0.6,
        0.95,
        Severity.BLOCKING,
        "slice north regressed",
        slice="north",
    )
    _store_run(sqlite_store, "2026-11-22", [regression], final=1.0, accuracy=0.93)
    respond(sqlite_store, "cancer", settings=_settings(tmp_path), warm_start=no_warm_starts)
    primary = next(s for s in list_suggestions(sqlite_store) if s.rank == 1)
    assert primary.kind == "add_slice" and "validation_set: v1" in primary.diff
    decision = accept_suggestion(sqlite_store, primary.id, by="ana", home=tmp_path / "home")
    rows = pd.read_parquet(decision.result["validation_set"])
    assert len(rows) == decision.result["rows_added"] > 0
    assert set(rows["site"]) == {"north"} and rows["label"].notna().all()
    assert get_suggestion(sqlite_store, primary.id).status == "accepted"
