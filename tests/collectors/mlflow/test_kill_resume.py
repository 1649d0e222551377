"""A collector killed with SIGKILL at any point and restarted ends with the rows of one
clean pass: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mileage.collectors.mlflow import MlflowCollector
from mileage.platform.store import TraceStore
from mileage.testing.dump import dump_store
from mileage.testing.mlflow_stores import build_large_store

N_RUNS = 600


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "mlflow.db"
    return build_large_store(path, n_runs=N_RUNS, n_metrics=5, n_steps=40)


def _runs_in(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _start(db: Path, source: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mileage.cli",
            "--db-url",
            f"sqlite:///{db}",
            "collect",
            "mlflow",
            "--tracking-uri",
            f"sqlite:///{source}",
            "--batch-size",
            "10",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_runs", [0, 1, N_RUNS // 3, (2 * N_RUNS) // 3, N_RUNS])
def test_sigkill_then_resume_equals_one_clean_pass(
    big_store: Path, tmp_path: Path, kill_after_runs: int
) -> None:
    clean = TraceStore.open(f"sqlite:///{tmp_path / 'clean.db'}")
    MlflowCollector(f"sqlite:///{big_store}").collect(clean)
    expected = dump_store(clean)
    clean.close()

    db = tmp_path / "killed.db"
    proc = _start(db, big_store)
    deadline = time.monotonic() + 120
    while _runs_in(db) < kill_after_runs and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if kill_after_runs == 0:
        time.sleep(0.8)  # inside start-up or listing
    assert proc.poll() is None, "the collector finished before the kill point"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written_before = _runs_in(db)
    assert written_before < N_RUNS or kill_after_runs == N_RUNS

    resumed = TraceStore.open(f"sqlite:///{db}")
    report = MlflowCollector(f"sqlite:///{big_store}").collect(resumed)
    assert report.runs_written == N_RUNS - min(written_before, N_RUNS) or kill_after_runs == N_RUNS
    assert dump_store(resumed) == expected
    resumed.close()
