"""The mlruns/ reader on a real store written by an older MLflow, and on damaged copies."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from mileage.collectors.mlflow import MlflowCollector
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t


def _count_files(root: Path, sub: str) -> int:
    return sum(1 for p in root.glob(f"*/*/{sub}/*") if p.is_file())


def test_every_run_of_the_real_store_lands(sqlite_store: TraceStore, agnias47: Path) -> None:
    report = MlflowCollector(str(agnias47)).collect(sqlite_store)
    n_runs = sum(1 for p in agnias47.glob("*/*/meta.yaml"))
    assert report.runs_seen == report.runs_written == n_runs == 106
    counts = sqlite_store.counts()
    assert counts["runs"] == 106
    assert counts["params"] == _count_files(agnias47, "params")
    assert counts["tags"] == _count_files(agnias47, "tags")
    assert counts["metric_histories"] == _count_files(agnias47, "metrics")
    assert counts["experiments"] == 5
    points = sum(len(p.read_text().splitlines()) for p in agnias47.glob("*/*/metrics/*"))
    with sqlite_store.connect() as conn:
        stored_points = sum(conn.execute(select(t.metric_histories.c.n_points)).scalars())
        statuses = set(conn.execute(select(t.runs.c.status)).scalars())
        users = set(conn.execute(select(t.runs.c.user)).scalars())
    assert stored_points == points
    assert statuses <= {"FINISHED", "FAILED", "KILLED", "RUNNING"} and "FINISHED" in statuses
    assert users == {"andy"}
    assert any("another machine" in w for w in report.warnings)


def test_one_metric_file_matches_the_stored_history(
    sqlite_store: TraceStore, agnias47: Path
) -> None:
    MlflowCollector(str(agnias47)).collect(sqlite_store)
    metric_file = sorted(agnias47.glob("*/*/metrics/*"))[0]
    run_ext = metric_file.parent.parent.name
    lines = [line.split() for line in metric_file.read_text().splitlines()]
    expected = sorted((int(p[2]) if len(p) > 2 else 0, int(p[0]), float(p[1])) for p in lines)
    with sqlite_store.connect() as conn:
        run_id = conn.execute(
            select(t.runs.c.id).where(t.runs.c.external_id == run_ext)
        ).scalar_one()
    got = sqlite_store.metric_history(run_id, metric_file.name)
    assert (
        list(zip(got["step"].tolist(), got["timestamp"].tolist(), got["value"].tolist()))
        == expected
    )


@pytest.fixture
def damaged(tmp_path: Path, agnias47: Path) -> Path:
    """A copy of the real store with the faults old and hand-edited stores contain."""
    root = tmp_path / "mlruns"
    shutil.copytree(agnias47, root)
    runs = sorted(p.parent for p in root.glob("6/*/meta.yaml"))
    # NaN / inf values and a malformed line
    (runs[0] / "metrics" / "accuracy").write_text(
        "1650000000000 nan 0\n1650000000001 inf 1\n1650000000002 -inf 2\ngarbage\n"
    )
    # a two-field line written by very old MLflow (no step)
    (runs[1] / "metrics" / "old_style").write_text("1650000000000 0.5\n")
    # bytes that are not UTF-8
    (runs[2] / "params" / "optimizer").write_bytes(b"adam\xff\xfe")
    # RUNNING forever, no end time
    meta = (runs[3] / "meta.yaml").read_text().replace("status: 3", "status: 1")
    (runs[3] / "meta.yaml").write_text(meta.replace("end_time: ", "old_end_time: "))
    # finished but without an end time
    meta = (runs[4] / "meta.yaml").read_text()
    (runs[4] / "meta.yaml").write_text(meta.replace("end_time: ", "old_end_time: "))
    # deleted run
    meta = (
        (runs[5] / "meta.yaml")
        .read_text()
        .replace("lifecycle_stage: active", "lifecycle_stage: deleted")
    )
    (runs[5] / "meta.yaml").write_text(meta)
    # a broken meta.yaml
    (runs[6] / "meta.yaml").write_text("run_id: [unterminated\n")
    # a deleted experiment in .trash
    (root / ".trash").mkdir()
    shutil.move(str(root / "7"), str(root / ".trash" / "7"))
    return root


def test_damaged_store_is_collected_with_warnings(sqlite_store: TraceStore, damaged: Path) -> None:
    report = MlflowCollector(str(damaged)).collect(sqlite_store)
    text = "\n".join(report.warnings)
    for expected in (
        "NaN or infinite",
        "malformed metric line",
        "not valid UTF-8",
        "RUNNING after 7 days",
        "without an end time",
        "deleted run",
        "run quarantined (skipped; see 'mileage status'): meta.yaml",
        "experiment under .trash whose meta.yaml says it is active",
    ):
        assert expected in text, expected
    assert report.runs_written == 105  # the run with the broken meta.yaml is quarantined
    assert report.quarantined == 1
    with sqlite_store.connect() as conn:
        lifecycle = dict(
            conn.execute(
                select(t.runs.c.lifecycle_stage, t.runs.c.id).where(
                    t.runs.c.lifecycle_stage != "active"
                )
            ).all()
        )
        trashed = conn.execute(
            select(t.experiments.c.lifecycle_stage).where(t.experiments.c.external_id == "7")
        ).scalar_one()
        params = (
            conn.execute(select(t.params.c.value).where(t.params.c.value.like("adam%")))
            .scalars()
            .all()
        )
        old = conn.execute(
            select(t.metric_histories).where(t.metric_histories.c.key == "old_style")
        ).one()
        quarantined = conn.execute(select(t.quarantine.c.kind, t.quarantine.c.field)).all()
    # MLflow reports the stage its meta.yaml names, wherever the folder lies; so do we.
    assert "deleted" in lifecycle and trashed == "active"
    assert quarantined == [("run", "meta.yaml")]
    assert "adam\ufffd\ufffd" in params
    assert (old.n_points, old.last_step, old.last_value) == (1, 0, 0.5)
    with sqlite_store.connect() as conn:
        run_id = conn.execute(
            select(t.metric_histories.c.run_id).where(t.metric_histories.c.n_nonfinite == 3)
        ).scalar_one()
    values = sqlite_store.metric_history(run_id, "accuracy")["value"]
    assert np.isnan(values[0]) and values[1] == np.inf and values[2] == -np.inf
    again = MlflowCollector(str(damaged)).collect(sqlite_store)
    assert again.runs_written == 0


def test_changed_run_is_the_only_one_rewritten(
    sqlite_store: TraceStore, tmp_path: Path, agnias47: Path
) -> None:
    root = tmp_path / "mlruns"
    shutil.copytree(agnias47, root)
    MlflowCollector(str(root)).collect(sqlite_store)
    metric = sorted(root.glob("8/*/metrics/accuracy"))[0]
    with metric.open("a") as fh:
        fh.write("1750000000000 0.99 7\n")
    report = MlflowCollector(str(root)).collect(sqlite_store)
    assert (report.runs_written, report.runs_unchanged) == (1, 105)
    with sqlite_store.connect() as conn:
        row = conn.execute(
            select(t.metric_histories)
            .join(t.runs, t.runs.c.id == t.metric_histories.c.run_id)
            .where(t.runs.c.external_id == metric.parent.parent.name)
        ).one()
    assert (row.last_step, row.last_value) == (7, 0.99)
