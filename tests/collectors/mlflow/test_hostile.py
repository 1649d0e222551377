"""Hostile and damaged MLflow stores: one bad run is quarantined, the rest is ingested.

Each test is named after the case it holds (see docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mileage.cli import app
from mileage.collectors.mlflow import MlflowCollector
from mileage.platform.errors import PartialFileError
from mileage.platform.metrics import CollectorsSource
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.testing import require_shared_data

AGNIAS_RUNS = 106
PECO_RUNS = 125


@pytest.fixture
def mlruns(tmp_path: Path, agnias47: Path) -> Path:
    root = tmp_path / "mlruns"
    shutil.copytree(agnias47, root)
    return root


@pytest.fixture
def mlflow_db(tmp_path: Path) -> Path:
    """A private copy of a real MLflow SQLite database (125 runs)."""
    source = require_shared_data("mlflow-history-peco602", "mlflow.db")
    target = tmp_path / "mlflow.db"
    shutil.copyfile(source, target)
    return target


def _runs(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("*/*/meta.yaml") if p.parent.parent != root)


def _quarantine(store: TraceStore) -> list[tuple[str, str, str]]:
    with store.connect() as conn:
        return [
            (r.kind, r.record_id, r.field)
            for r in conn.execute(select(t.quarantine).order_by(t.quarantine.c.id))
        ]


def _stored_ids(store: TraceStore) -> set[str]:
    with store.connect() as conn:
        return set(conn.execute(select(t.runs.c.external_id)).scalars())


def _edit_meta(run: Path, old: str, new: str) -> None:
    meta = run / "meta.yaml"
    text = meta.read_text()
    assert old in text
    meta.write_text(text.replace(old, new, 1))


def _db_run(db: Path, index: int = 3) -> str:
    with sqlite3.connect(db) as con:
        return str(
            con.execute(
                "SELECT run_uuid FROM runs ORDER BY run_uuid LIMIT 1 OFFSET ?", (index,)
            ).fetchone()[0]
        )


def _assert_one_quarantined(
    store: TraceStore, report_runs: int, total: int, run_id: str, field: str
) -> None:
    assert report_runs == total - 1
    assert _quarantine(store) == [("run", run_id, field)]
    assert run_id not in _stored_ids(store) and len(_stored_ids(store)) == total - 1


# -- file store: meta.yaml ----------------------------------------------------------------


def test_meta_yaml_name_list_quarantines_one_run(sqlite_store: TraceStore, mlruns: Path) -> None:
    run = _runs(mlruns)[10]
    _edit_meta(run, "\nname: ''", "\nname: [a, b]")
    report = MlflowCollector(str(mlruns)).collect(sqlite_store)
    _assert_one_quarantined(sqlite_store, report.runs_written, AGNIAS_RUNS, run.name, "name")
    assert any("run quarantined" in w and run.name[:12] in w for w in report.warnings)


def test_meta_yaml_start_time_yesterday_quarantines_one_run(
    sqlite_store: TraceStore, mlruns: Path
) -> None:
    run = _runs(mlruns)[20]
    _edit_meta(run, "start_time: ", "start_time: yesterday\nold_start_time: ")
    report = MlflowCollector(str(mlruns)).collect(sqlite_store)
    _assert_one_quarantined(sqlite_store, report.runs_written, AGNIAS_RUNS, run.name, "start_time")
    with sqlite_store.connect() as conn:
        problem = conn.execute(select(t.quarantine.c.problem)).scalar_one()
    assert problem == "must be epoch milliseconds, got 'yesterday'"


def test_quarantined_run_is_ingested_once_fixed(sqlite_store: TraceStore, mlruns: Path) -> None:
    run = _runs(mlruns)[20]
    _edit_meta(run, "start_time: ", "start_time: yesterday\nold_start_time: ")
    MlflowCollector(str(mlruns)).collect(sqlite_store)
    again = MlflowCollector(str(mlruns)).collect(sqlite_store)
    assert again.runs_written == 0 and again.quarantined == 1
    with sqlite_store.connect() as conn:
        assert conn.execute(select(t.quarantine.c.passes)).scalar_one() == 2
    _edit_meta(run, "start_time: yesterday\nold_start_time: ", "start_time: ")
    fixed = MlflowCollector(str(mlruns)).collect(sqlite_store)
    assert fixed.runs_written == 1 and fixed.quarantined == 0
    assert _quarantine(sqlite_store) == [] and len(_stored_ids(sqlite_store)) == AGNIAS_RUNS


# -- MLflow SQLite database ---------------------------------------------------------------


def test_sqlite_non_utf8_run_name_quarantines_one_run(
    sqlite_store: TraceStore, mlflow_db: Path
) -> None:
    run_id = _db_run(mlflow_db)
    with sqlite3.connect(mlflow_db) as con:
        con.execute("UPDATE runs SET name = x'fffe41' WHERE run_uuid = ?", (run_id,))
    report = MlflowCollector(str(mlflow_db)).collect(sqlite_store)
    _assert_one_quarantined(sqlite_store, report.runs_written, PECO_RUNS, run_id, "name")


def test_sqlite_text_metric_value_quarantines_one_run(
    sqlite_store: TraceStore, mlflow_db: Path
) -> None:
    run_id = _db_run(mlflow_db, 7)
    with sqlite3.connect(mlflow_db) as con:
        key = con.execute(
            "SELECT key FROM metrics WHERE run_uuid = ? LIMIT 1", (run_id,)
        ).fetchone()
        con.execute(
            "UPDATE metrics SET value = 'abc' WHERE run_uuid = ? AND key = ?", (run_id, key[0])
        )
    report = MlflowCollector(str(mlflow_db)).collect(sqlite_store)
    _assert_one_quarantined(
        sqlite_store, report.runs_written, PECO_RUNS, run_id, f"metrics.{key[0]}"
    )


def test_sqlite_start_time_yesterday_quarantines_one_run(
    sqlite_store: TraceStore, mlflow_db: Path
) -> None:
    run_id = _db_run(mlflow_db, 11)
    with sqlite3.connect(mlflow_db) as con:
        con.execute("UPDATE runs SET start_time = 'yesterday' WHERE run_uuid = ?", (run_id,))
    report = MlflowCollector(str(mlflow_db)).collect(sqlite_store)
    _assert_one_quarantined(sqlite_store, report.runs_written, PECO_RUNS, run_id, "start_time")


def _stored_names(store: TraceStore) -> dict[str, str | None]:
    with store.connect() as conn:
        return {
            r.external_id: r.name for r in conn.execute(select(t.runs.c.external_id, t.runs.c.name))
        }


def test_mlflow_1_26_sqlite_run_names_empty_stay_empty(
    sqlite_store: TraceStore, mlflow_db: Path
) -> None:
    """MLflow 1.26 wrote '' into every run's name; MLflow's client returns '', so do we."""
    named, missing = _db_run(mlflow_db, 2), _db_run(mlflow_db, 5)
    with sqlite3.connect(mlflow_db) as con:
        assert con.execute("SELECT COUNT(*) FROM runs WHERE name = ''").fetchone()[0] == PECO_RUNS
        con.execute("UPDATE runs SET name = NULL WHERE run_uuid IN (?, ?)", (named, missing))
        con.execute(
            "INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.runName', 'tagged', ?)",
            (named,),
        )
    MlflowCollector(str(mlflow_db)).collect(sqlite_store)
    names = _stored_names(sqlite_store)
    assert len(names) == PECO_RUNS
    # An empty name falls back to the mlflow.runName tag, as in MLflow's client, and is
    # otherwise kept as it is stored: '' stays '', a missing name stays NULL.
    assert names.pop(named) == "tagged" and names.pop(missing) is None
    assert set(names.values()) == {""}


def test_file_store_empty_run_name_stays_empty(sqlite_store: TraceStore, mlruns: Path) -> None:
    run = _runs(mlruns)[4]
    _edit_meta(run, "\nname: ''", "\nname: ''\nrun_name: ''")
    (run / "tags" / "mlflow.runName").unlink()
    MlflowCollector(str(mlruns)).collect(sqlite_store)
    names = _stored_names(sqlite_store)
    assert names[run.name] == ""
    assert all(name for run_id, name in names.items() if run_id != run.name)


def test_truncated_sqlite_database_is_refused_with_one_line(
    tmp_path: Path, mlflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    truncated = tmp_path / "w3.db"
    truncated.write_bytes(mlflow_db.read_bytes()[:500_000])
    store = TraceStore.open(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        with pytest.raises(PartialFileError, match="truncated"):
            MlflowCollector(str(truncated)).collect(store)
        assert _quarantine(store) == [("file", str(truncated.resolve()), "database")]
        assert store.counts()["runs"] == 0
    finally:
        store.close()
    monkeypatch.setenv("MILEAGE_DB_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    result = CliRunner().invoke(app, ["collect", "mlflow", "--tracking-uri", str(truncated)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(truncated.resolve()) in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_status_and_metrics_show_the_quarantine(
    tmp_path: Path, mlflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _db_run(mlflow_db, 5)
    with sqlite3.connect(mlflow_db) as con:
        con.execute("UPDATE runs SET start_time = 'yesterday' WHERE run_uuid = ?", (run_id,))
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("MILEAGE_DB_URL", url)
    cli = CliRunner()
    assert cli.invoke(app, ["collect", "mlflow", "--tracking-uri", str(mlflow_db)]).exit_code == 0
    status = cli.invoke(app, ["status", "--json"])
    data = json.loads(status.stdout)
    assert data["sources"][0]["quarantined"] == 1
    assert data["quarantine"][0]["record_id"] == run_id
    assert data["quarantine"][0]["field"] == "start_time"
    human = cli.invoke(app, ["status"])
    assert "quarantine" in human.stdout and "start_time" in human.stdout
    store = TraceStore.open(url)
    try:
        with store.connect() as conn:
            families = {m.name: m for m in CollectorsSource().collect(conn, 0.0)}
    finally:
        store.close()
    samples = families["mileage_quarantined_records"].samples
    assert [(s.labels["record_kind"], s.value) for s in samples] == [("run", 1.0)]


# -- file store safety --------------------------------------------------------------------


def test_symlink_to_secret_is_never_read(
    sqlite_store: TraceStore, mlruns: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "environ"
    secret.write_text("MILEAGE_WEBHOOK_URL=https://hooks.example/SUPERSECRET\n")
    run = _runs(mlruns)[3]
    (run / "params" / "stolen_env").symlink_to(secret)
    report = MlflowCollector(str(mlruns)).collect(sqlite_store)
    assert report.runs_written == AGNIAS_RUNS - 1
    rel = f"{run.parent.name}/{run.name}/params/stolen_env"
    assert _quarantine(sqlite_store) == [("run", run.name, rel)]
    with sqlite_store.connect() as conn:
        values = list(conn.execute(select(t.params.c.value)).scalars())
        (problem,) = conn.execute(select(t.quarantine.c.problem)).scalars()
    assert not any("SUPERSECRET" in v for v in values)
    assert "symbolic link" in problem


def test_symlinked_run_folder_is_not_entered(
    sqlite_store: TraceStore, mlruns: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-run"
    shutil.copytree(_runs(mlruns)[0], outside)
    (outside / "meta.yaml").write_text(
        (outside / "meta.yaml").read_text().replace(_runs(mlruns)[0].name, "f" * 32)
    )
    (_runs(mlruns)[0].parent / ("f" * 32)).symlink_to(outside)
    report = MlflowCollector(str(mlruns)).collect(sqlite_store)
    assert report.runs_written == AGNIAS_RUNS
    assert "f" * 32 not in _stored_ids(sqlite_store)


def test_fifo_in_store_does_not_block(sqlite_store: TraceStore, mlruns: Path) -> None:
    run = _runs(mlruns)[4]
    os.mkfifo(run / "params" / "fifo_param")
    done: list[int] = []
    worker = threading.Thread(
        target=lambda: done.append(MlflowCollector(str(mlruns)).collect(sqlite_store).runs_written),
        daemon=True,
    )
    worker.start()
    worker.join(120)
    assert done == [AGNIAS_RUNS - 1]
    with sqlite_store.connect() as conn:
        (problem,) = conn.execute(select(t.quarantine.c.problem)).scalars()
    assert "not a regular file" in problem


def test_file_over_size_cap_quarantines_its_run(sqlite_store: TraceStore, mlruns: Path) -> None:
    run = _runs(mlruns)[5]
    with (run / "params" / "huge").open("wb") as fh:
        fh.truncate(3000)  # sparse: no disk used
    settings = Settings.load(max_file_bytes=2048)
    report = MlflowCollector(str(mlruns), settings=settings).collect(sqlite_store)
    assert report.runs_written == AGNIAS_RUNS - 1
    assert _quarantine(sqlite_store) == [
        ("run", run.name, f"{run.parent.name}/{run.name}/params/huge")
    ]


# -- foreign stores -----------------------------------------------------------------------


def test_experiment_folder_without_meta_yaml_is_collected_under_a_placeholder(
    sqlite_store: TraceStore, mlruns: Path
) -> None:
    experiment = _runs(mlruns)[0].parent
    n_runs = sum(1 for p in experiment.glob("*/meta.yaml"))
    (experiment / "meta.yaml").unlink()
    report = MlflowCollector(str(mlruns)).collect(sqlite_store)
    assert report.runs_written == AGNIAS_RUNS
    assert any("without meta.yaml" in w for w in report.warnings)
    with sqlite_store.connect() as conn:
        placeholder = conn.execute(
            select(t.experiments.c.id, t.experiments.c.lifecycle_stage).where(
                t.experiments.c.external_id == experiment.name
            )
        ).one()
        runs = conn.execute(
            select(t.runs.c.id).where(t.runs.c.experiment_id == placeholder.id)
        ).all()
    assert placeholder.lifecycle_stage == "unknown" and len(runs) == n_runs
