"""Every benchmark runs: ``--help`` parses, and ``--quick`` (the same code path on tiny sizes)
finishes and writes ``benchmarks/results/<name>_quick.json``.

These are smoke tests, not measurements: the numbers a quick run prints mean nothing, and no
timing is asserted. They are marked ``bench`` (``make bench-quick`` runs only them; ``make
check`` leaves them out).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mileage.testing import require_shared_data

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results"
NAMES = sorted(p.stem for p in BENCHMARKS.glob("[a-z]*.py"))
# The reference data each benchmark reads (skipped without it, failed under MILEAGE_REQUIRE_DATA=1).
DATA = {
    "nextstep": ("mlflow-history-agnias47", "mlruns"),
    "openml_reuse": ("openml-responses",),
    "warmstart": ("tabrepo-lightgbm",),
    "warmstart_optuna": ("tabrepo-lightgbm",),
}
QUICK_TIMEOUT = 1500  # seconds: catches a hang, not a slow run on a busy machine


def _run(name: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{name}.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_every_benchmark_is_listed() -> None:
    """A new benchmark script is picked up by the smoke tests without editing this file."""
    assert len(NAMES) >= 10 and "warmstart" in NAMES and "_common" not in NAMES
    assert set(DATA) <= set(NAMES)


@pytest.mark.bench
@pytest.mark.timeout(QUICK_TIMEOUT + 300)
@pytest.mark.parametrize("name", NAMES)
def test_quick_run_writes_its_quick_results(name: str) -> None:
    for parts in [DATA[name]] if name in DATA else []:
        require_shared_data(*parts)
    helped = _run(name, "--help", timeout=120)
    assert helped.returncode == 0, helped.stderr[-2000:]
    assert "--quick" in helped.stdout
    started = time.time()
    done = _run(name, "--quick", timeout=QUICK_TIMEOUT)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:])
    path = RESULTS / f"{name}_quick.json"
    assert path.exists() and path.stat().st_mtime >= started - 1, f"{path} was not written"
    payload = json.loads(path.read_text())
    assert payload, f"{path} is empty"
    assert not (RESULTS / f"{name}.json").exists() or (
        (RESULTS / f"{name}.json").stat().st_mtime < started
    ), f"a --quick run of {name} overwrote the measured results"
