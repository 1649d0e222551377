"""The OpenML collector killed with SIGKILL and restarted ends with the rows of one clean
pass: ``mileage collect openml`` runs in a subprocess against the recorded server, which
holds one answer long enough to kill the process at a known point."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mileage.collectors.openml import OpenmlCollector, Selection
from mileage.platform.store import TraceStore
from mileage.testing.dump import dump_store
from mileage.testing.openml import RecordedOpenmlServer

SELECTION = Selection(runs=(12, 1), tasks=(1882,))


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute(sql).fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _cli(db: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MILEAGE_HTTP_TIMEOUT_SECONDS": "120", "MILEAGE_HTTP_RETRIES": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "mileage.cli", "--db-url", f"sqlite:///{db}", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )


def _wait(proc: subprocess.Popen[bytes], condition: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        assert proc.poll() is None, "the collector finished before the kill point"
        time.sleep(0.02)
    assert condition(), "the kill point was never reached"  # type: ignore[operator]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("held", "committed_runs"),
    [
        (r"^task/1882$", 0),  # while storing the selected task: nothing but the source yet
        (r"^evaluation/list/", 0),  # while listing the runs
        (r"^run/1$", 1),  # after the first batch (run 12) committed
    ],
)
def test_sigkill_then_resume_equals_one_clean_pass(
    openml_server: RecordedOpenmlServer, tmp_path: Path, held: str, committed_runs: int
) -> None:
    clean = TraceStore.open(f"sqlite:///{tmp_path / 'clean.db'}")
    OpenmlCollector(SELECTION, server=openml_server.url, batch_size=1, backoff=0).collect(clean)
    expected = dump_store(clean)
    clean.close()

    openml_server.clear()
    openml_server.slow_seconds = 60
    openml_server.fail(held, "timeout")
    db = tmp_path / "killed.db"
    proc = _cli(
        db,
        *("collect", "openml", "--server", openml_server.url, "--batch-size", "1"),
        *("--run", "12", "--run", "1", "--task", "1882"),
    )
    pattern = held.strip("^$").rstrip("/")
    _wait(proc, lambda: any(c.startswith(pattern) for c in openml_server.calls))
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _count(db, "SELECT COUNT(*) FROM runs") == committed_runs

    openml_server.clear()
    resumed = TraceStore.open(f"sqlite:///{db}")
    report = OpenmlCollector(SELECTION, server=openml_server.url, batch_size=1, backoff=0).collect(
        resumed
    )
    assert report.runs_written == 2 - committed_runs
    assert dump_store(resumed) == expected
    resumed.close()
