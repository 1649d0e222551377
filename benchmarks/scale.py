"""Scale: checks of very large batches on one machine and on Dask, and the meta-learner's
surrogate trained on millions of runs, on synthetic data (labelled so in the results).

Parts (``--parts``, default all but the daemon):

* ``memory``: one synthetic batch written as Parquet in row groups of 250,000 rows (never
  held whole in memory: row groups are generated and written one at a time), checked in row
  groups in a fresh process per size (1,000,000, 5,000,000 and 20,000,000 rows x 50 columns
  by default); the figure is that process's peak resident memory (``ru_maxrss``, imports and
  the reference included) and its wall time. The smallest size is also checked read whole,
  in memory (the single-machine path), for the findings to compare;
* ``dask``: the largest batch on a Dask ``LocalCluster`` of 1, then 2 worker processes with
  one thread each, warmed up before timing (the check's modules imported on every worker
  with ``client.run``); each task reads its own row group from the file and returns a small
  summary. Per-task compute and transfer times come from Dask's task stream; each worker's
  peak memory is sampled on the worker;
* ``metalearner``: the warm-start surrogate (the LightGBM regressor over meta-features and
  configuration features) on ``--runs`` synthetic runs (tasks x configurations, shaped like
  the trace store's training table), fitted in one process (one thread, as the ranker does)
  and with ``lightgbm.dask`` on a 2-worker ``LocalCluster`` from the exported Parquet table;
* ``daemon`` (not in the default set): ``benchmarks/daemon_load.py`` with ``--monitors``
  monitors on a 2-worker ``LocalCluster`` (``--dask-workers 2``), at real time by default;
  its missed and late runs are copied into the results.

Every timed run records the load average before and after (the machine's cores are shared).
Run: ``nice python benchmarks/scale.py [--quick] [--parts memory,dask,metalearner,daemon]``;
results go to ``benchmarks/results/scale.json`` (parts not run keep their previous figures).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

import numpy as np

from benchmarks._common import machine, machine_line, results_path, table, write_results

ROOT = Path(__file__).resolve().parents[1]
ROW_GROUP = 250_000


# -- the synthetic batch -----------------------------------------------------------------------


def synthetic(n: int, seed: int, columns: int, *, start: int = 0, faults: bool = False) -> Any:
    """``n`` rows of a synthetic batch: ``columns - 2`` normal float32 columns, an integer
    level and a category; with ``faults``, 5% of ``x0`` x1000 (rows below 5% of
    ``--faults-below``), ``x1`` shifted by one standard deviation and a new category in every
    tenth row (by row position, so every part of a batch has them)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {f"x{i}": rng.normal(size=n).astype(np.float32) for i in range(columns - 2)}
    )
    frame["level"] = rng.integers(0, 30, n)
    frame["cat"] = rng.choice([f"c{i}" for i in range(8)], n)
    if faults:
        position = np.arange(start, start + n)
        frame.loc[position % 20 == 7, "x0"] *= np.float32(1000.0)
        frame["x1"] += np.float32(1.0)
        frame.loc[position % 10 == 3, "cat"] = "NEW"
    return frame


def write_batches(folder: Path, sizes: list[int], columns: int, row_group: int) -> dict[int, Path]:
    """Write one Parquet file per size, row group by row group (the smaller files are the
    first rows of the larger ones); memory is one row group."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    paths = {n: folder / f"batch-{n}.parquet" for n in sizes}
    writers: dict[int, Any] = {}
    try:
        for i, start in enumerate(range(0, max(sizes), row_group)):
            rows = min(row_group, max(sizes) - start)
            table_ = pa.Table.from_pandas(
                synthetic(rows, 1000 + i, columns, start=start, faults=True), preserve_index=False
            )
            for n, path in paths.items():
                if start < n:
                    if n not in writers:
                        writers[n] = pq.ParquetWriter(path, table_.schema)
                    writers[n].write_table(table_.slice(0, min(rows, n - start)))
    finally:
        for w in writers.values():
            w.close()
    return paths


def _setup(columns: int) -> tuple[Any, Any, Any]:
    from mileage.monitors import MonitorConfig, infer_suite

    reference = synthetic(50_000, 1, columns)
    config = MonitorConfig(name="bench", reference_uri="ref")
    suite = infer_suite(reference, exclude=config.excluded)
    return reference, config, suite


def findings(report: Any) -> list[list[str]]:
    """The (check, column) pairs of a report's findings above info, as JSON lists."""
    found = {(f.check, str(f.column)) for f in report.findings if f.severity.label != "info"}
    return [list(pair) for pair in sorted(found)]


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- part memory: one check per fresh process ----------------------------------------------------


def one_check(path: str, mode: str, columns: int) -> dict[str, Any]:
    """Check ``path`` in this process (``rowgroups`` or ``memory``); its peak RSS."""
    import pandas as pd

    from mileage.monitors import check_batch
    from mileage.monitors.checks._large import check_parquet

    reference, config, suite = _setup(columns)
    kw = dict(reference=reference, suite=suite, config=config, batch_id="b")
    _warm_driver()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = time.perf_counter()
    if mode == "memory":
        report, _ = check_batch(pd.read_parquet(path), **kw)
    else:
        report = check_parquet(path, **kw)
    seconds = time.perf_counter() - t
    return {
        "seconds": seconds,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "peak_rss_before_check": before,
        "findings": findings(report),
    }


def run_one_check(path: Path, mode: str, columns: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    before = load()
    out = subprocess.run(
        [sys.executable, __file__, "--one-check", str(path), "--mode", mode, "--columns",
         str(columns)],
        env=env, capture_output=True, text=True, check=False, timeout=7200,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"check of {path} ({mode}) failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result.update(load_before=before, load_after=load())
    return result


def part_memory(paths: dict[int, Path], columns: int, memory_rows: int) -> dict[str, Any]:
    points = []
    for n, path in sorted(paths.items()):
        r = run_one_check(path, "rowgroups", columns)
        r.update(rows=n, path="row groups, one process")
        points.append(r)
        print(f"  row groups {n:>11,} rows: {r['seconds']:7.1f} s, peak RSS "
              f"{r['peak_rss'] / 2**20:,.0f} MiB (load {r['load_before']} -> {r['load_after']})",
              flush=True)  # fmt: skip
    r = run_one_check(paths[memory_rows], "memory", columns)
    r.update(rows=memory_rows, path="read whole, in memory")
    print(f"  in memory  {memory_rows:>11,} rows: {r['seconds']:7.1f} s, peak RSS "
          f"{r['peak_rss'] / 2**20:,.0f} MiB", flush=True)  # fmt: skip
    same = [p["findings"] == r["findings"] for p in points]
    return {
        "columns": columns,
        "row_group_rows": ROW_GROUP,
        "points": points,
        "in_memory": r,
        "same_findings_as_in_memory": same,
    }


# -- part dask -------------------------------------------------------------------------------


def _start_peak(dask_worker: Any) -> None:
    """On a worker: sample this process's RSS every 20 ms until :func:`_stop_peak` (the state
    lives on the worker object: this function is shipped by value)."""

    def rss() -> int:
        status = Path("/proc/self/status").read_text().splitlines()
        return next(int(x.split()[1]) * 1024 for x in status if x.startswith("VmRSS:"))

    stop = threading.Event()
    _PEAK: dict[str, Any] = {"peak": rss(), "stop": stop}
    dask_worker._mileage_peak = _PEAK

    def sample() -> None:
        while not stop.is_set():
            _PEAK["peak"] = max(_PEAK["peak"], rss())
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()


def _stop_peak(dask_worker: Any) -> int:
    _PEAK = dask_worker._mileage_peak
    _PEAK["stop"].set()
    return int(_PEAK["peak"])


def _warm() -> str:
    import mileage.monitors.checks._large
    import mileage.monitors.checks._partitions
    import mileage.monitors.checks._validation  # noqa: F401

    return "ok"


def _warm_driver() -> None:
    """Import what the report needs here (Evidently's import alone takes seconds) before timing."""
    import evidently  # noqa: F401

    _warm()


def _cluster(workers: int) -> tuple[Any, Any]:
    from distributed import Client

    from mileage.platform.cluster import start_local_cluster

    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    cluster = start_local_cluster(workers, processes=True, memory_limit="8GiB")
    client = Client(cluster)
    client.wait_for_workers(workers)
    client.run(_warm)
    return cluster, client


def task_profile(stream: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds per action over every task (compute, transfer, serialisation) from Dask's task
    stream, and the compute time of the row-group tasks."""
    actions: dict[str, float] = {}
    parts = []
    for task in stream:
        for ss in task.get("startstops", []):
            actions[ss["action"]] = actions.get(ss["action"], 0.0) + ss["stop"] - ss["start"]
            if ss["action"] == "compute" and str(task.get("key", "")).find("summarize_part") >= 0:
                parts.append(ss["stop"] - ss["start"])
    return {
        "tasks": len(stream),
        "seconds_by_action": {k: round(v, 3) for k, v in sorted(actions.items())},
        "row_group_task_seconds": {
            "n": len(parts),
            "mean": float(np.mean(parts)) if parts else None,
            "max": float(np.max(parts)) if parts else None,
        },
    }


def part_dask(path: Path, columns: int, worker_counts: list[int]) -> dict[str, Any]:
    from distributed import get_task_stream

    from mileage.monitors.checks._large import (
        check_parquet_on_dask,
        make_plan,
        plan_parts,
        summarize_part,
    )

    reference, config, suite = _setup(columns)
    kw = dict(reference=reference, suite=suite, config=config, batch_id="b")
    _warm_driver()
    parts, schema = plan_parts(path)
    rows = sum(p.rows for p in parts)
    plan = make_plan(schema, rows, suite=suite, config=config, reference=reference)
    # What one row-group task sends back, with the batch-wide sample threshold and without
    # (every part keeping its own sample_rows smallest draws, as before the threshold).
    one = summarize_part(parts[0], plan)
    old = summarize_part(parts[0], replace(plan, threshold=1.0))
    sizes = {"summary_bytes": len(pickle.dumps(one)), "summary_bytes_without_threshold":
             len(pickle.dumps(old))}  # fmt: skip
    runs: list[dict[str, Any]] = []
    for workers in worker_counts:
        cluster, client = _cluster(workers)
        try:
            client.run(_start_peak)
            before = load()
            t = time.perf_counter()
            with get_task_stream(client) as ts:
                report = check_parquet_on_dask(client, path, **kw)
            seconds = time.perf_counter() - t
            after = load()
            peaks = client.run(_stop_peak)
        finally:
            client.close()
            cluster.close()
        runs.append(
            {
                "workers": workers,
                "seconds": seconds,
                "rows_per_second": rows / seconds,
                "worker_peak_rss": sorted(peaks.values()),
                "findings": findings(report),
                "profile": task_profile(ts.data),
                "load_before": before,
                "load_after": after,
            }
        )
        print(f"  Dask {workers} worker(s): {seconds:7.1f} s, worker peak RSS "
              f"{max(peaks.values()) / 2**20:,.0f} MiB (load {before} -> {after}); "
              f"{runs[-1]['profile']['seconds_by_action']}", flush=True)  # fmt: skip
    by = {r["workers"]: r["seconds"] for r in runs}
    return {
        "rows": rows,
        "columns": columns,
        "row_groups": len(parts),
        **sizes,
        "runs": runs,
        "speedup_1_to_2": by[1] / by[2] if 1 in by and 2 in by else None,
    }


# -- part metalearner ------------------------------------------------------------------------


def training_runs(n_runs: int, seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """Synthetic tasks x configurations: meta-features X, configuration features C, an error
    per (task, configuration) with structure in both (every run observed)."""
    configs = 500 if n_runs >= 500_000 else 50
    tasks = max(1, n_runs // configs)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(tasks, 8))
    C = rng.uniform(size=(configs, 6))
    w = rng.normal(size=(8, 6))
    errors = ((X @ w)[:, None, :] * C[None, :, :]).sum(-1) + rng.normal(
        0, 0.5, size=(tasks, configs)
    )
    Y = 1.0 / (1.0 + np.exp(-errors))
    return X, C, Y, ~np.isnan(Y)


def one_fit(n_runs: int) -> dict[str, Any]:
    """The surrogate fitted in this process, as ``WarmStartRanker.fit`` does it."""
    from mileage.metalearner.warmstart import WarmStartRanker
    from mileage.metalearner.warmstart._ranker import normalized_regret

    X, C, Y, observed = training_runs(n_runs)
    regret = normalized_regret(Y)
    ranker = WarmStartRanker()
    t = time.perf_counter()
    booster = ranker._fit_surrogate(X, C, regret, observed)
    seconds = time.perf_counter() - t
    rows, cols = np.nonzero(observed)
    pick = np.random.default_rng(1).choice(len(rows), 20_000, replace=False)
    pred = booster.predict(np.hstack([X[rows[pick]], C[cols[pick]]]))
    return {
        "seconds": seconds,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "rmse_on_sample": float(np.sqrt(np.mean((pred - regret[rows[pick], cols[pick]]) ** 2))),
    }


def part_metalearner(n_runs: int, workers: int, tmp: Path) -> dict[str, Any]:
    from mileage.metalearner.warmstart import WarmStartRanker
    from mileage.metalearner.warmstart._dask import export_training_table, fit_surrogate_on_dask
    from mileage.metalearner.warmstart._ranker import normalized_regret

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    before = load()
    out = subprocess.run(
        [sys.executable, __file__, "--one-fit", str(n_runs)],
        env=env, capture_output=True, text=True, check=False, timeout=7200,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"single-process fit failed:\n{out.stderr[-3000:]}")
    single = json.loads(out.stdout.strip().splitlines()[-1])
    single.update(load_before=before, load_after=load())
    print(f"  one process, {n_runs:,} runs: fit {single['seconds']:.1f} s, peak RSS "
          f"{single['peak_rss'] / 2**20:,.0f} MiB", flush=True)  # fmt: skip

    X, C, Y, observed = training_runs(n_runs)
    regret = normalized_regret(Y)
    ranker = WarmStartRanker()
    folder = tmp / "table"
    t = time.perf_counter()
    files = export_training_table(X, C, regret, observed, folder)
    export_seconds = time.perf_counter() - t
    cluster, client = _cluster(workers)
    try:
        client.run(lambda: __import__("lightgbm.dask") and None)
        client.run(_start_peak)
        before = load()
        t = time.perf_counter()
        booster = fit_surrogate_on_dask(
            client, folder, ranker.surrogate_params(), ranker.surrogate_estimators
        )
        seconds = time.perf_counter() - t
        after = load()
        peaks = client.run(_stop_peak)
    finally:
        client.close()
        cluster.close()
    rows, cols = np.nonzero(observed)
    pick = np.random.default_rng(1).choice(len(rows), 20_000, replace=False)
    pred = booster.predict(np.hstack([X[rows[pick]], C[cols[pick]]]))
    rmse = float(np.sqrt(np.mean((pred - regret[rows[pick], cols[pick]]) ** 2)))
    on_dask = {
        "workers": workers,
        "export_seconds": export_seconds,
        "files": len(files),
        "seconds": seconds,
        "worker_peak_rss": sorted(peaks.values()),
        "rmse_on_sample": rmse,
        "load_before": before,
        "load_after": after,
    }
    print(f"  lightgbm.dask, {workers} workers: fit {seconds:.1f} s (export {export_seconds:.1f} s)"
          f", worker peak RSS {max(peaks.values()) / 2**20:,.0f} MiB", flush=True)  # fmt: skip
    return {
        "runs": n_runs,
        "tasks": X.shape[0],
        "configurations": C.shape[0],
        "rounds": ranker.surrogate_estimators,
        "single_process": single,
        "dask": on_dask,
    }


# -- part daemon -----------------------------------------------------------------------------


def part_daemon(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``daemon_load.py`` on a LocalCluster (or, with ``--daemon-results``, read the
    results of that command run before) and keep its missed and late runs."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    name = "daemon_load_scale_quick" if args.quick else "daemon_load_scale"
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "daemon_load.py"),
        "--monitors", str(args.monitors), "--speedup", str(args.speedup),
        "--cycles", str(args.cycles), "--new-share", str(args.new_share),
        "--history-days", "0", "--dask-workers", str(args.workers), "--daemon-workers",
        str(args.daemon_workers), "--baselines", "none", "--out", name,
    ]  # fmt: skip
    before = load()
    if not args.daemon_results:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"daemon_load failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
        print(out.stdout[-3000:], flush=True)
    result = json.loads(results_path(name).read_text())
    phase = result["phases"][0]
    keep = ("due_runs", "ran", "missed", "missed_percent", "failed", "late", "late_percent",
            "start_delay_seconds", "slot_drain_seconds", "run_seconds", "cpu_seconds_per_cycle",
            "cpu_percent_mean", "rss_mib_start", "rss_mib_end", "load_average")  # fmt: skip
    return {
        "command": "python benchmarks/"
        + " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd[1:])),
        "results_file": f"benchmarks/results/{name}.json",
        "settings": result["settings"],
        "setup": result["setup"],
        "run_cost": result["run_cost"],
        "daemon": {k: phase.get(k) for k in keep},
        "machine": result["machine"],
        "load_before": before if not args.daemon_results else None,
        "load_after": load() if not args.daemon_results else None,
    }


# -- main ------------------------------------------------------------------------------------


def summary_table(out: dict[str, Any]) -> str:
    """The printed table of every part measured."""
    rows = []
    for p in out.get("memory", {}).get("points", []):
        rows.append([f"row groups, {p['rows']:,} x {out['memory']['columns']}",
                     f"{p['seconds']:.1f}", f"{p['peak_rss'] / 2**20:,.0f}"])  # fmt: skip
    if "memory" in out:
        m = out["memory"]["in_memory"]
        rows.append([f"in memory, {m['rows']:,}", f"{m['seconds']:.1f}",
                     f"{m['peak_rss'] / 2**20:,.0f}"])  # fmt: skip
    for r in out.get("dask", {}).get("runs", []):
        rows.append([f"Dask {r['workers']} worker(s), {out['dask']['rows']:,}",
                     f"{r['seconds']:.1f}", f"{max(r['worker_peak_rss']) / 2**20:,.0f} per worker"])  # fmt: skip
    if "metalearner" in out:
        ml = out["metalearner"]
        rows.append([f"surrogate, one process, {ml['runs']:,} runs",
                     f"{ml['single_process']['seconds']:.1f}",
                     f"{ml['single_process']['peak_rss'] / 2**20:,.0f}"])  # fmt: skip
        rows.append([f"surrogate, lightgbm.dask {ml['dask']['workers']} workers",
                     f"{ml['dask']['seconds']:.1f}",
                     f"{max(ml['dask']['worker_peak_rss']) / 2**20:,.0f} per worker"])  # fmt: skip
    return table(["what (synthetic)", "seconds", "peak RSS MiB"], rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument("--parts", default="memory,dask,metalearner")
    parser.add_argument("--sizes", default="1000000,5000000,20000000")
    parser.add_argument("--columns", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5_000_000, help="meta-learner runs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--folder", default=None, help="where the batches go (default: /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the batch files")
    parser.add_argument("--monitors", type=int, default=2000)
    parser.add_argument("--speedup", type=float, default=1.0)
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--new-share", type=float, default=0.02)
    parser.add_argument("--daemon-workers", type=int, default=8)
    parser.add_argument(
        "--daemon-results",
        action="store_true",
        help="part daemon: read benchmarks/results/daemon_load_scale.json of an earlier run",
    )
    parser.add_argument("--one-check", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="rowgroups", help=argparse.SUPPRESS)
    parser.add_argument("--one-fit", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.one_check:
        print(json.dumps(one_check(args.one_check, args.mode, args.columns), default=str))
        return
    if args.one_fit:
        print(json.dumps(one_fit(args.one_fit)))
        return
    global ROW_GROUP
    if args.quick:
        args.sizes, args.columns, args.runs = "40000", 12, 20_000
        args.monitors, args.speedup, args.cycles = 20, 30.0, 1
        ROW_GROUP = 20_000
    sizes = sorted(int(s) for s in args.sizes.split(","))
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    info = machine()
    print(machine_line(info), flush=True)
    previous = results_path("scale", quick=args.quick)
    out: dict[str, Any] = json.loads(previous.read_text()) if previous.exists() else {}
    out["data"] = "synthetic"
    out.setdefault("machine", info)  # of the first run; every run's is under "runs"
    run = {"parts": parts, "machine": info}
    out.setdefault("runs", []).append(run)
    tmp = Path(args.folder or tempfile.mkdtemp(prefix="mileage-scale-"))
    try:
        if "memory" in parts or "dask" in parts:
            t = time.perf_counter()
            paths = write_batches(tmp, sizes, args.columns, ROW_GROUP)
            print(f"batches written in {time.perf_counter() - t:.0f} s: "
                  f"{ {n: f'{p.stat().st_size / 2**30:.2f} GiB' for n, p in paths.items()} }",
                  flush=True)  # fmt: skip
            if "memory" in parts:
                out["memory"] = part_memory(paths, args.columns, sizes[0])
                out["memory"]["load_at_end"] = load()
            if "dask" in parts:
                base = next(
                    (p for p in out.get("memory", {}).get("points", []) if p["rows"] == sizes[-1]),
                    None,
                )
                # the default batch under "dask", another size under "dask_<rows>"
                key = "dask" if sizes[-1] == 20_000_000 or args.quick else f"dask_{sizes[-1]}"
                out[key] = part_dask(paths[sizes[-1]], args.columns, [1, args.workers])
                if base is not None:
                    out[key]["row_groups_one_process_seconds"] = base["seconds"]
        if "metalearner" in parts:
            out["metalearner"] = part_metalearner(args.runs, args.workers, tmp)
        if "daemon" in parts:
            out["daemon"] = part_daemon(args)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    run["load_average_at_end"] = load()
    print(summary_table(out))
    write_results("scale", out, quick=args.quick)


if __name__ == "__main__":
    main()
