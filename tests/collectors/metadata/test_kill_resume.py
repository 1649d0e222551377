"""An import of published meta-data is one transaction: killed with SIGKILL anywhere, it
leaves all or nothing, and the next import completes it."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mileage.collectors.metadata import import_metadata
from mileage.platform.store import TraceStore
from mileage.testing import require_shared_data


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


@pytest.mark.slow
def test_a_killed_import_leaves_all_or_nothing(tmp_path: Path) -> None:
    folder = require_shared_data("tabrepo-lightgbm")
    db = tmp_path / "killed.db"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "mileage.cli", "--db-url", f"sqlite:///{db}"),
            *("collect", "metadata", "--source", "tabrepo-lightgbm", "--path", str(folder)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while _count(db, "SELECT COUNT(*) FROM collector_passes") == 0 and time.monotonic() < deadline:
        assert proc.poll() is None, "the import finished before the kill point"
        time.sleep(0.02)
    time.sleep(1.0)  # reading or writing, never committed halfway
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _count(db, "SELECT COUNT(*) FROM runs") in (0, 9672)
    store = TraceStore.open(f"sqlite:///{db}")
    report = import_metadata(store, "tabrepo-lightgbm", folder)
    counts = store.counts()
    assert (counts["runs"], counts["tasks"], counts["source_configurations"]) == (9672, 93, 104)
    assert report.scored_runs == 9672
    store.close()
