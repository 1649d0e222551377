"""The registry and the runner on a real trace store (SQLite and PostgreSQL): monitors, suite
versions, runs and findings survive a restart, drift persistence spans runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import select

from mileage.monitors import MonitorConfig, MonitorNotFoundError, MonitorRunner, create_monitor
from mileage.monitors._registry import (
    get_monitor,
    get_suite,
    list_monitors,
    list_suites,
    query_findings,
    remove_monitor,
    update_monitor,
)
from mileage.monitors.checks._suite import drop_column
from mileage.platform.errors import ConfigError
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t


@pytest.fixture
def files(cancer, tmp_path: Path) -> dict[str, Path]:
    """Reference with labels and predictions, three scored batches (clean, then two with a
    shifted column), labels."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, validation = cancer.reference.iloc[:170], cancer.reference.iloc[170:]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    model.fit(train[cancer.features], train["label"])
    ref = tmp_path / "ref.parquet"  # validation rows, held out from training
    validation.assign(prediction=model.predict(validation[cancer.features])).to_parquet(ref)
    batches = tmp_path / "batches"
    batches.mkdir()
    held = cancer.held_out.drop(columns=["label"])
    held["prediction"] = model.predict(held[cancer.features])  # the serving job's output
    parts = [held.iloc[i * 75 : (i + 1) * 75].copy() for i in range(3)]
    for i, part in enumerate(parts):
        if i:
            part["mean_texture"] = part["mean_texture"] * 1.6  # within bounds, clearly drifted
        part.to_parquet(batches / f"2026-11-{20 + i}.parquet")
    labels = tmp_path / "labels.csv"
    cancer.held_out[["id", "label"]].to_csv(labels, index=False)
    return {"ref": ref, "batches": batches, "labels": labels}


def _config(files: dict[str, Path]) -> MonitorConfig:
    return MonitorConfig(
        name="cancer",
        reference_uri=str(files["ref"]),
        batches_uri=str(files["batches"]),
        labels_uri=str(files["labels"]),
        id_column="id",
        prediction_column="prediction",
        owner="oncology-ml",
        cadence="1d",
        drift={"persistence": 2},
    )


def test_crud_and_suite_versions(any_store: TraceStore, files) -> None:
    record, suite = create_monitor(any_store, _config(files))
    assert record.suite_version == 1 and "mean_radius" in suite["columns"]
    assert "label" not in suite["columns"]  # labels arrive separately
    with pytest.raises(ConfigError, match="already exists"):
        create_monitor(any_store, _config(files))
    with pytest.raises(ConfigError, match="monitor name"):
        create_monitor(any_store, dataclasses.replace(_config(files), name="no spaces"))
    edited = update_monitor(
        any_store,
        "cancer",
        dataclasses.replace(record.config, owner="triage"),
        suite=drop_column(suite, "mean_area"),
        note="dropped mean_area",
    )
    assert edited.suite_version == 2 and edited.config.owner == "triage"
    assert "mean_area" not in get_suite(any_store, record.id)["spec"]["columns"]
    assert "mean_area" in get_suite(any_store, record.id, 1)["spec"]["columns"]  # kept
    assert [s.version for s in list_suites(any_store, record.id)] == [1, 2]
    assert [m.name for m in list_monitors(any_store)] == ["cancer"]
    assert remove_monitor(any_store, "cancer") == {"runs": 0, "findings": 0}
    with pytest.raises(
        MonitorNotFoundError, match="no monitor is called 'cancer' \\(known: none yet\\)"
    ):
        get_monitor(any_store, "cancer")


def test_runs_findings_and_persistence_survive_a_restart(
    any_store: TraceStore, files, tmp_path: Path
) -> None:
    create_monitor(any_store, _config(files))
    home = tmp_path / "home"
    runner = MonitorRunner(any_store, "cancer", home=home)
    first = runner.run(as_of=None)
    assert [r.batch_id for r in first] == ["2026-11-20", "2026-11-21", "2026-11-22"]
    # batch 21 drifts (warning), batch 22 is the second drifting batch in a row (blocking)
    drift = {
        r.batch_id: [(f.column, f.severity.label) for f in r.findings if f.check_kind == "drift"]
        for r in first
    }
    assert drift == {
        "2026-11-20": [],
        "2026-11-21": [("mean_texture", "warning")],
        "2026-11-22": [("mean_texture", "blocking")],
    }
    url = any_store.engine.url.render_as_string(hide_password=False)
    any_store.close()
    reopened = TraceStore.open(url)  # a restart: a new engine, a new runner
    try:
        again = MonitorRunner(reopened, "cancer", home=home).run()
        assert again == []  # nothing new, nothing waiting for labels (all labelled)
        stored = query_findings(reopened, monitor="cancer", check_kind="drift")
        assert {(f.batch_id, f.severity, f.column) for f in stored} == {
            ("2026-11-21", "warning", "mean_texture"),
            ("2026-11-22", "blocking", "mean_texture"),
        }
        row = stored[0]
        assert row.pipeline == "cancer" and row.statistic == "wasserstein_normed"
        assert row.threshold == 0.1 and row.evidence["p_adjusted"] < 0.01
        with reopened.connect() as conn:
            runs = conn.execute(select(t.monitor_runs.c.batch_id, t.monitor_runs.c.status)).all()
            coverage = (
                conn.execute(
                    select(t.monitor_statistics.c.value).where(
                        t.monitor_statistics.c.statistic == "label_coverage"
                    )
                )
                .scalars()
                .all()
            )
        assert sorted(runs) == [
            ("2026-11-20", "passed"),
            ("2026-11-21", "warning"),
            ("2026-11-22", "failed"),
        ]
        assert coverage == [1.0, 1.0, 1.0]
        rerun = MonitorRunner(reopened, "cancer", home=home).run("2026-11-20")
        assert [r.batch_id for r in rerun] == ["2026-11-20"]
    finally:
        reopened.close()


def test_labels_arriving_later_turn_a_provisional_metric_final(
    sqlite_store: TraceStore, files, tmp_path: Path, cancer
) -> None:
    labels = files["labels"]
    cancer.held_out[["id", "label"]].head(20).to_csv(labels, index=False)  # few labels so far
    config = dataclasses.replace(_config(files), performance={"min_coverage": 0.5, "slo": 0.8})
    create_monitor(sqlite_store, config)
    home = tmp_path / "home"
    first = MonitorRunner(sqlite_store, "cancer", home=home).run()
    perf = [f for r in first for f in r.findings if f.check_kind == "performance"]
    assert {f.severity.label for f in perf} == {"info"}
    cancer.held_out[["id", "label"]].to_csv(labels, index=False)  # the rest arrives
    later = MonitorRunner(sqlite_store, "cancer", home=home).run()
    assert sorted(r.batch_id for r in later) == ["2026-11-20", "2026-11-21", "2026-11-22"]
    finals = [s.value for r in later for s in r.statistics if s.statistic == "final"]
    assert finals == [1.0, 1.0, 1.0]
    assert MonitorRunner(sqlite_store, "cancer", home=home).run() == []


def test_unreadable_and_empty_batches_are_findings_not_crashes(
    sqlite_store: TraceStore, files, tmp_path: Path
) -> None:
    (files["batches"] / "2026-11-23.parquet").write_bytes(b"not a parquet file")
    (files["batches"] / "2026-11-24.csv").write_text("")
    create_monitor(sqlite_store, dataclasses.replace(_config(files), labels_uri=None))
    reports = {r.batch_id: r for r in MonitorRunner(sqlite_store, "cancer", home=tmp_path).run()}
    (unreadable,) = reports["2026-11-23"].findings
    assert unreadable.check == "read_batch" and unreadable.blocking
    assert "cannot be read as parquet" in unreadable.message
    (empty,) = reports["2026-11-24"].findings
    assert empty.statistic == "row_count" and "empty" in empty.message
    with sqlite_store.connect() as conn:
        errors = conn.execute(
            select(t.monitor_runs.c.batch_id, t.monitor_runs.c.error).where(
                t.monitor_runs.c.status == "error"
            )
        ).all()
    assert [b for b, _ in errors] == ["2026-11-23"]
