"""Benchmark: collecting MLflow run histories into the trace store.

Builds an MLflow SQLite store (MLflow creates the schema; rows are bulk-inserted, content is
synthetic) with 20,000 runs x 10 params x 10 metrics x 50 steps (10 million metric points),
then measures in one process:

(a) ``MlflowCollector`` into a fresh trace store, end to end, and a second pass with no new runs;
(b) the loop a user would write (``MlflowClient.search_runs`` pages, then ``get_metric_history``
    per run and metric) on a sample of runs, extrapolated, on the store as MLflow leaves it and
    after SQLite's ``ANALYZE`` (on a copy);
(c) a raw ``pandas.read_sql`` of the tracking tables, the read limit;
(d) through an ``mlflow server``: our REST reader against the naive loop on the same server.

Run: ``python benchmarks/collect_mlflow.py`` (``--runs 2000`` for a closer look, ``--quick`` for
a smoke run on 200 runs that writes ``benchmarks/results/collect_mlflow_quick.json``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

# The repository root, so that `python benchmarks/<name>.py` finds the `benchmarks` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import WORK, PeakRSS, machine, table, write_results
from mileage.collectors.mlflow import MlflowCollector
from mileage.platform.store import TraceStore
from mileage.testing import MlflowServer
from mileage.testing.mlflow_stores import build_large_store

N_PARAMS, N_METRICS, N_STEPS = 10, 10, 50
MB = 2**20


def _store(path: Path, n_runs: int) -> Path:
    marker = path.with_suffix(".complete")
    if not marker.exists():
        path.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        print(f"building {n_runs:,}-run MLflow store at {path} ...", flush=True)
        build_large_store(
            path, n_runs=n_runs, n_params=N_PARAMS, n_metrics=N_METRICS, n_steps=N_STEPS
        )
        marker.write_text(str(n_runs))
        print(f"  built in {time.perf_counter() - started:.0f}s", flush=True)
    return path


def ours(uri: str, target: Path, n_runs: int) -> dict[str, Any]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    store = TraceStore.open(f"sqlite:///{target}")
    with PeakRSS() as mem:
        started = time.perf_counter()
        report = MlflowCollector(uri).collect(store)
        seconds = time.perf_counter() - started
    assert report.runs_written == n_runs, report
    started = time.perf_counter()
    again = MlflowCollector(uri).collect(store)
    second = time.perf_counter() - started
    assert again.runs_written == 0
    store.close()
    return {
        "seconds": seconds,
        "runs_per_s": n_runs / seconds,
        "points_per_s": n_runs * N_METRICS * N_STEPS / seconds,
        "peak_rss_mib": mem.peak / MB,
        "rss_growth_mib": (mem.peak - mem.start) / MB,
        "second_pass_seconds": second,
        "trace_store_mib": target.stat().st_size / MB,
    }


def naive(uri: str, n_runs: int, sample: int) -> dict[str, Any]:
    """The obvious client loop: list every run, then one history call per run and metric."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    with PeakRSS() as mem:
        started = time.perf_counter()
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs: list[Any] = []
        token = None
        while True:
            page = client.search_runs(experiments, max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                break
        listing = time.perf_counter() - started
        started = time.perf_counter()
        points = 0
        for run in runs[:sample]:
            for key in run.data.metrics:
                points += len(client.get_metric_history(run.info.run_id, key))
        history = time.perf_counter() - started
    assert len(runs) == n_runs and points == sample * N_METRICS * N_STEPS
    per_run = history / sample
    total = listing + per_run * n_runs
    return {
        "sampled_runs": sample,
        "listing_seconds": listing,
        "history_seconds_per_run": per_run,
        "history_ms_per_call": 1000 * history / (sample * N_METRICS),
        "extrapolated_seconds": total,
        "runs_per_s": n_runs / total,
        "points_per_s": n_runs * N_METRICS * N_STEPS / total,
        "peak_rss_mib": mem.peak / MB,
    }


def read_sql(db: Path, n_runs: int) -> dict[str, Any]:
    import pandas as pd

    with PeakRSS() as mem:
        started = time.perf_counter()
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        frames = {
            "runs": pd.read_sql_query("SELECT * FROM runs", con),
            "params": pd.read_sql_query("SELECT run_uuid, key, value FROM params", con),
            "tags": pd.read_sql_query("SELECT run_uuid, key, value FROM tags", con),
            "metrics": pd.read_sql_query(
                "SELECT run_uuid, key, step, timestamp, value, is_nan FROM metrics", con
            ),
        }
        seconds = time.perf_counter() - started
        con.close()
    assert len(frames["metrics"]) == n_runs * N_METRICS * N_STEPS
    del frames
    return {
        "seconds": seconds,
        "runs_per_s": n_runs / seconds,
        "points_per_s": n_runs * N_METRICS * N_STEPS / seconds,
        "peak_rss_mib": mem.peak / MB,
        "rss_growth_mib": (mem.peak - mem.start) / MB,
    }


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - argument parsing and the report table
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument(
        "--rest-runs",
        type=int,
        default=None,
        help="runs in the store served over REST (default: --runs)",
    )
    parser.add_argument("--sample", type=int, default=20, help="runs read by the naive loop")
    parser.add_argument("--skip-rest", action="store_true")
    parser.add_argument("--quick", action="store_true", help="200 runs, 5 sampled (smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.sample = 200, 5
    args.rest_runs = args.rest_runs or args.runs
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    for name in ("mlflow", "alembic", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)

    info = machine()
    db = _store(WORK / f"mlflow-{args.runs}.db", args.runs)
    uri = f"sqlite:///{db}"
    result: dict[str, Any] = {
        "benchmark": "collect_mlflow",
        "data": f"synthetic runs in a store created by MLflow 3.17.2: {args.runs:,} runs x {N_PARAMS} params x {N_METRICS} metrics x {N_STEPS} steps = {args.runs * N_METRICS * N_STEPS:,} metric points",
        "machine": info,
    }
    print("(a) our collector ...", flush=True)
    result["ours_sqlite"] = ours(uri, WORK / "trace-a.db", args.runs)
    print("(c) raw pandas.read_sql ...", flush=True)
    result["read_sql"] = read_sql(db, args.runs)
    print("(b) naive loop on the store as MLflow leaves it ...", flush=True)
    copy = WORK / "mlflow-copy.db"
    shutil.copy2(db, copy)
    result["naive_sqlite"] = naive(f"sqlite:///{copy}", args.runs, args.sample)
    print("(b') naive loop after ANALYZE ...", flush=True)
    con = sqlite3.connect(copy)
    con.execute("ANALYZE")
    con.close()
    analyzed_sample = args.sample if args.quick else max(args.sample, 100)
    result["naive_sqlite_analyzed"] = naive(f"sqlite:///{copy}", args.runs, analyzed_sample)
    copy.unlink()

    if not args.skip_rest:
        print("(d) REST: our reader and the naive loop against one mlflow server ...", flush=True)
        rest_db = _store(WORK / f"mlflow-{args.rest_runs}.db", args.rest_runs)
        served = WORK / "served.db"
        shutil.copy2(rest_db, served)
        # MLflow's default: 4 workers. The naive loop and ours share the same server.
        with MlflowServer(f"sqlite:///{served}", WORK / "artifacts", workers=4) as server:
            result["naive_rest"] = naive(server.url, args.rest_runs, args.sample)
            result["ours_rest"] = ours(server.url, WORK / "trace-rest.db", args.rest_runs)
        served.unlink()
        result["rest_store"] = f"{args.rest_runs:,} runs (same shape)"

    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    a, c = result["ours_sqlite"], result["read_sql"]
    result["ratios"] = {
        "ours_over_read_sql": a["runs_per_s"] / c["runs_per_s"],
        "ours_over_naive": a["runs_per_s"] / result["naive_sqlite"]["runs_per_s"],
        "ours_over_naive_analyzed": a["runs_per_s"] / result["naive_sqlite_analyzed"]["runs_per_s"],
    }
    if "ours_rest" in result:
        result["ratios"]["rest_ours_over_naive"] = (
            result["ours_rest"]["runs_per_s"] / result["naive_rest"]["runs_per_s"]
        )
    rows = [
        [
            "ours, SQLite reader (end to end)",
            f"{a['runs_per_s']:,.0f}",
            f"{a['points_per_s']:,.0f}",
            f"{a['peak_rss_mib']:,.0f}",
            f"{a['seconds']:.1f} s",
        ],
        [
            "raw pandas.read_sql (read only)",
            f"{c['runs_per_s']:,.0f}",
            f"{c['points_per_s']:,.0f}",
            f"{c['peak_rss_mib']:,.0f}",
            f"{c['seconds']:.1f} s",
        ],
    ]
    for key, label in (
        ("naive_sqlite", "naive client loop, as MLflow leaves the store"),
        ("naive_sqlite_analyzed", "naive client loop, after ANALYZE"),
    ):
        n = result[key]
        rows.append(
            [
                label,
                f"{n['runs_per_s']:,.1f}",
                f"{n['points_per_s']:,.0f}",
                f"{n['peak_rss_mib']:,.0f}",
                f"{n['extrapolated_seconds']:.0f} s (extrapolated; {n['history_ms_per_call']:.0f} ms/call)",
            ]
        )
    if "ours_rest" in result:
        o, n = result["ours_rest"], result["naive_rest"]
        rows.append(
            [
                f"ours, REST reader ({args.rest_runs:,} runs)",
                f"{o['runs_per_s']:,.1f}",
                f"{o['points_per_s']:,.0f}",
                f"{o['peak_rss_mib']:,.0f}",
                f"{o['seconds']:.1f} s",
            ]
        )
        rows.append(
            [
                f"naive client loop, REST ({args.rest_runs:,} runs)",
                f"{n['runs_per_s']:,.1f}",
                f"{n['points_per_s']:,.0f}",
                f"{n['peak_rss_mib']:,.0f}",
                f"{n['extrapolated_seconds']:.0f} s (extrapolated; {n['history_ms_per_call']:.0f} ms/call)",
            ]
        )
    text = table(["method", "runs/s", "metric points/s", "peak RSS MiB", "time"], rows)
    ratios = result["ratios"]
    summary = [
        f"ours / raw read_sql: {ratios['ours_over_read_sql']:.2f}x (target >= 0.5)",
        f"ours / naive loop: {ratios['ours_over_naive']:,.0f}x (store as left by MLflow), {ratios['ours_over_naive_analyzed']:,.0f}x (after ANALYZE)",
        f"second pass with no new runs: {a['second_pass_seconds']:.2f} s (target < 1 s)",
        f"peak RSS of our collector: {a['peak_rss_mib']:,.0f} MiB, of which {a['rss_growth_mib']:,.0f} MiB during collection (target < 1 GiB)",
    ]
    if "rest_ours_over_naive" in ratios:
        summary.append(
            f"REST: ours / naive loop against the same server: {ratios['rest_ours_over_naive']:.0f}x (target >= 20x)"
        )
    print()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB; load average {info['load_average_at_start']} -> {info['load_average_at_end']}"
    )
    print(f"data: {result['data']}")
    print(text)
    print("\n".join(summary))
    result["table"] = text
    result["summary"] = summary
    print(f"written {write_results('collect_mlflow', result, quick=args.quick)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
