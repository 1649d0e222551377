"""Benchmark: what the MLflow plugin costs a training script.

Measures, in one process and against a local SQLite tracking store:
(a) ``mlflow.start_run()`` + ``end_run()`` with the plugin on and off (code and environment tags),
    alternating on and off so both see the same machine load;
(b) a scikit-learn Pipeline with a LightGBM model fitted on a 100,000 x 20 frame inside a run, on
    and off (data fingerprint, pipeline tag, LightGBM parameters and per-iteration metrics);
(c) the same fit with MLflow autologging on (``mlflow.sklearn.autolog()`` and
    ``mlflow.lightgbm.autolog()``, models not logged), so the plugin's fit hooks chain to
    autologging's patches, on and off;
(d) the data fingerprint alone on that frame (the digest of the run's MLflow dataset input).
The overhead per run, the figure held against the 50 ms target, is (a) plus (c).
The frame is synthetic (random numbers); only its size matters here.

Run: ``python benchmarks/plugin_overhead.py`` (``--quick`` for a smoke run on a 10,000-row frame
with few repetitions, written to ``benchmarks/results/plugin_overhead_quick.json``).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The repository root, so that `python benchmarks/<name>.py` finds the `benchmarks` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, table, write_results


def _timed(fn: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def paired(fn: Any, pairs: int, cpu: dict[str, list[float]]) -> tuple[list[float], list[float]]:
    """Alternate off and on, so both states see the same machine load; wall seconds returned,
    this process's CPU seconds appended to ``cpu["off"]`` and ``cpu["on"]`` (on a loaded
    machine the CPU time is the steadier of the two)."""
    off: list[float] = []
    on: list[float] = []
    for _ in range(pairs):
        for state, out in (("0", off), ("1", on)):
            os.environ["MILEAGE_PLUGIN_ENABLED"] = state
            cpu_started = time.process_time()
            out.extend(_timed(fn, 1))
            cpu["off" if state == "0" else "on"].append(time.process_time() - cpu_started)
    return off, on


def _overhead(off: list[float], on: list[float]) -> float:
    """The median of the paired differences, in ms."""
    return statistics.median([(b - a) * 1000 for a, b in zip(off, on)])


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the synthetic frame")
    parser.add_argument("--pairs", type=int, default=40, help="off/on pairs of empty runs")
    parser.add_argument("--fit-pairs", type=int, default=15, help="off/on pairs of fitted runs")
    parser.add_argument("--quick", action="store_true", help="10,000 rows, few pairs (smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.pairs, args.fit_pairs = 10_000, 4, 2
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    rows_label = f"{args.rows:,} x 20"
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    import lightgbm as lgb
    import mlflow
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from mileage.plugin._fingerprints import data_fingerprint

    info = machine()
    workdir = Path(tempfile.mkdtemp(prefix="mileage-plugin-bench-"))
    os.chdir(workdir)
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    mlflow.set_experiment("overhead")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(args.rows, 20)), columns=[f"f{i}" for i in range(20)])
    target = (frame.f0 + rng.normal(scale=0.5, size=len(frame)) > 0).astype(int)
    valid_x, valid_y = frame[:5000], target[:5000]

    def empty_run() -> None:
        with mlflow.start_run():
            pass

    def fit_run() -> None:
        with mlflow.start_run():
            Pipeline(
                [
                    ("scale", StandardScaler()),
                    ("clf", lgb.LGBMClassifier(n_estimators=20, n_jobs=1, verbose=-1)),
                ]
            ).fit(frame, target, clf__eval_X=(valid_x,), clf__eval_y=(valid_y,))

    os.environ["MILEAGE_PLUGIN_ENABLED"] = "1"
    empty_run()  # warm up: hooks installed, git and package metadata read once
    fit_run()
    results: dict[str, Any] = {}
    cpu: dict[str, dict[str, list[float]]] = {
        k: {"off": [], "on": []} for k in ("start_run", "fit", "autolog_fit")
    }
    results["start_run_off"], results["start_run_on"] = paired(
        empty_run, args.pairs, cpu["start_run"]
    )
    results["fit_off"], results["fit_on"] = paired(fit_run, args.fit_pairs, cpu["fit"])
    # Autologging stays on for the rest of the process: measured after the plain fits.
    mlflow.sklearn.autolog(log_models=False, silent=True)
    mlflow.lightgbm.autolog(log_models=False, silent=True)
    fit_run()  # warm up autologging's patches
    results["autolog_fit_off"], results["autolog_fit_on"] = paired(
        fit_run, args.fit_pairs, cpu["autolog_fit"]
    )
    results["fingerprint"] = _timed(lambda: data_fingerprint(frame), 3 if args.quick else 20)
    med = {k: statistics.median(v) * 1000 for k, v in results.items()}
    start_overhead = _overhead(results["start_run_off"], results["start_run_on"])
    fit_overhead = _overhead(results["fit_off"], results["fit_on"])
    autolog_overhead = _overhead(results["autolog_fit_off"], results["autolog_fit_on"])
    cpu_ms = {k: _overhead(v["off"], v["on"]) for k, v in cpu.items()}
    cpu_per_run = cpu_ms["start_run"] + cpu_ms["autolog_fit"]
    rows = [
        [
            "start_run + end_run",
            f"{med['start_run_off']:.1f}",
            f"{med['start_run_on']:.1f}",
            f"{start_overhead:+.1f}",
        ],
        [
            f"Pipeline(StandardScaler, LGBMClassifier 20 trees).fit, {rows_label}, in a run",
            f"{med['fit_off']:.1f}",
            f"{med['fit_on']:.1f}",
            f"{fit_overhead:+.1f}",
        ],
        [
            "the same fit with sklearn and LightGBM autologging on (models not logged)",
            f"{med['autolog_fit_off']:.1f}",
            f"{med['autolog_fit_on']:.1f}",
            f"{autolog_overhead:+.1f}",
        ],
        [
            f"data fingerprint of the {rows_label} frame alone",
            "-",
            f"{med['fingerprint']:.1f}",
            "-",
        ],
    ]
    text = table(
        [
            "what (median ms)",
            "plugin off",
            "plugin on",
            "overhead ms (median of paired differences)",
        ],
        rows,
    )
    per_run = start_overhead + autolog_overhead
    verdict = "met" if per_run < 50 else "missed"
    summary = (
        f"plugin overhead per run (start_run plus one autologged fit on {args.rows:,} rows): "
        f"{per_run:.1f} ms (target < 50 ms: {verdict}); without autologging "
        f"{start_overhead + fit_overhead:.1f} ms; in CPU time of the training process "
        f"{cpu_per_run:.1f} ms (fit {cpu_ms['fit']:+.1f} ms without autologging)"
    )
    print(f"machine: {info['cpu']}, {info['cores']} cores; data: synthetic {rows_label} frame")
    print(text)
    print(summary)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    path = write_results(
        "plugin_overhead",
        {
            "benchmark": "plugin_overhead",
            "data": f"synthetic {rows_label} normal frame",
            "machine": info,
            "median_ms": med,
            "overhead_per_run_ms": per_run,
            "overhead_per_run_without_autolog_ms": start_overhead + fit_overhead,
            "overhead_per_run_cpu_ms": cpu_per_run,
            "overhead_cpu_ms": cpu_ms,
            "target_ms": 50,
            "met": per_run < 50,
            "table": text,
            "summary": summary,
        },
        quick=args.quick,
    )
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
