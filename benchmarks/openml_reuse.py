"""R3: how much of the previous run does an OpenML iteration reuse?

The seed paper reports that about 80% of OpenML iterations (consecutive runs of one
uploader on one task) reuse over half of the previous workflow. This script collects OpenML
runs with Mileage's collector, lets the collector build its per-uploader, per-task chains,
and reports the share of links that reuse over half of the previous run's operators (flow
components with their parameter values) and over half of its parameter values.

Offline (the default) it collects the recorded OpenML answers in the shared reference data,
served from a loopback HTTP server. That recording holds two runs on two tasks: there is no
link to measure, and the table says so. With internet, measure a real sample:

    python benchmarks/openml_reuse.py --server https://www.openml.org/api/v1/xml --task 31 --limit 2000

For contrast it also measures the recorded HPO trace (``misc/trace.arff``, 500 iterations of
an automated random search on task 11): consecutive configurations of a search, not a
person's iterations.

``--quick`` is the smoke run: the offline measurement (or at most 50 runs with ``--server``),
written to ``benchmarks/results/openml_reuse_quick.json``.

Prints a table, states the machine, writes ``benchmarks/results/openml_reuse.json``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import select

# The repository root, so that `python benchmarks/<name>.py` finds the `benchmarks` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, machine_line, write_results
from mileage.collectors._iterations import stats
from mileage.collectors.openml import OpenmlCollector, Selection
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.testing.data import shared_data_dir
from mileage.testing.openml import RecordedOpenmlServer, recorded_selection

SEED_SHARE = 0.80


def _param_reuse(store: TraceStore) -> tuple[int, int]:
    """Links whose run keeps over half of the previous run's parameter values, and links
    where the previous run had any."""
    with store.connect() as conn:
        links = conn.execute(
            select(t.iterations.c.run_id, t.iterations.c.previous_run_id).where(
                t.iterations.c.previous_run_id.is_not(None)
            )
        ).all()
        params: dict[int, dict[str, str]] = defaultdict(dict)
        for run_id, key, value in conn.execute(
            select(t.params.c.run_id, t.params.c.key, t.params.c.value)
        ):
            params[run_id][key] = value
    measured = reusing = 0
    for run_id, previous in links:
        before = params.get(previous, {})
        if not before:
            continue
        measured += 1
        kept = sum(1 for k, v in before.items() if params.get(run_id, {}).get(k) == v)
        reusing += kept / len(before) > 0.5
    return reusing, measured


def measure_openml(
    selection: Selection, server: str | None, recorded: Path | None
) -> dict[str, Any]:
    """Collect ``selection`` and measure the reuse along the collector's chains."""
    with tempfile.TemporaryDirectory(prefix="mileage-bench-") as tmp:
        store = TraceStore.open(f"sqlite:///{Path(tmp) / 'trace.db'}")
        started = time.perf_counter()
        if recorded is not None:
            with RecordedOpenmlServer(recorded) as mirror:
                report = OpenmlCollector(
                    selection, server=mirror.url, source_uri="test.openml.org", backoff=0
                ).collect(store)
        else:
            report = OpenmlCollector(selection, server=server).collect(store)
        seconds = time.perf_counter() - started
        with store.connect() as conn:
            summary = stats(conn)
        reusing_params, measured_params = _param_reuse(store)
        store.close()
    return {
        "runs": report.runs_written + report.runs_unchanged,
        "chains": summary.chains,
        "links": summary.links,
        "measured_links": summary.measured_links,
        "share_reusing_over_half_operators": summary.share_reusing_over_half,
        "measured_param_links": measured_params,
        "share_reusing_over_half_params": reusing_params / measured_params
        if measured_params
        else None,
        "collect_seconds": round(seconds, 2),
    }


def measure_trace(path: Path) -> dict[str, Any]:
    """Reuse between consecutive iterations of a recorded HPO trace (per repeat and fold)."""
    import arff

    with path.open(encoding="utf-8") as fh:
        data = arff.load(fh)
    names = [a[0] for a in data["attributes"]]
    rows = [dict(zip(names, r)) for r in data["data"]]
    params = [n for n in names if n.startswith("parameter_")]
    operators = sorted({n[len("parameter_") :].split("__")[0] for n in params})
    rows.sort(key=lambda r: (r["repeat"], r["fold"], r["iteration"]))
    links = by_params = by_operators = 0
    for prev, cur in itertools.pairwise(rows):
        if (prev["repeat"], prev["fold"]) != (cur["repeat"], cur["fold"]):
            continue
        links += 1
        by_params += sum(prev[p] == cur[p] for p in params) / len(params) > 0.5
        kept = sum(
            all(prev[p] == cur[p] for p in params if p[len("parameter_") :].split("__")[0] == op)
            for op in operators
        )
        by_operators += kept / len(operators) > 0.5
    return {
        "runs": len(rows),
        "chains": len({(r["repeat"], r["fold"]) for r in rows}),
        "links": links,
        "measured_links": links,
        "share_reusing_over_half_operators": by_operators / links if links else None,
        "measured_param_links": links,
        "share_reusing_over_half_params": by_params / links if links else None,
        "operators": operators,
        "parameters": len(params),
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="OpenML API URL (default: the recorded answers, offline)")
    parser.add_argument(
        "--task", type=int, action="append", default=[], help="task id (repeatable)"
    )
    parser.add_argument(
        "--uploader", type=int, action="append", default=[], help="user id (repeatable)"
    )
    parser.add_argument("--limit", type=int, default=None, help="at most this many runs")
    parser.add_argument("--quick", action="store_true", help="at most 50 live runs (smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.limit = min(args.limit or 50, 50)

    data = shared_data_dir() / "openml-responses"
    rows: list[tuple[str, dict[str, Any], str]] = []
    if args.server:
        selection = Selection(
            tasks=tuple(args.task), uploaders=tuple(args.uploader), limit=args.limit
        )
        rows.append(
            (
                f"OpenML runs from {args.server} ({selection.describe()})",
                measure_openml(selection, args.server, None),
                "live sample",
            )
        )
    if data.is_dir():
        recorded = measure_openml(recorded_selection(), None, data)
        note = (
            "recorded answers hold 2 runs on 2 tasks: no consecutive iterations to measure"
            if not recorded["links"]
            else "recorded answers"
        )
        rows.append(("OpenML recorded answers (shared data, loopback server)", recorded, note))
        rows.append(
            (
                "OpenML HPO trace, task 11 (misc/trace.arff)",
                measure_trace(data / "misc" / "trace.arff"),
                "automated random search, not a person's iterations",
            )
        )
    elif not args.server:
        raise SystemExit(f"{data} is missing: set MILEAGE_SHARED_DATA, or pass --server and --task")

    info = machine()
    header = f"{'sample':58} {'runs':>5} {'chains':>6} {'links':>5} {'ops > 1/2':>9} {'params > 1/2':>12}  note"
    print("R3: share of OpenML iterations reusing over half of the previous run")
    print(machine_line(info))
    print(header)
    print("-" * len(header))
    for name, r, note in rows:
        print(
            f"{name[:58]:58} {r['runs']:>5} {r['chains']:>6} {r['links']:>5} "
            f"{_pct(r['share_reusing_over_half_operators']):>9} {_pct(r['share_reusing_over_half_params']):>12}  {note}"
        )
    print(
        f"{'seed paper (MILE/Helix, OpenML)':58} {'':>5} {'':>6} {'':>5} {'~80%':>9} {'':>12}  reported, not measured here"
    )
    path = write_results(
        "openml_reuse",
        {
            "benchmark": "openml_reuse",
            "requirement": "R3",
            "machine": info,
            "seed_share_reusing_over_half": SEED_SHARE,
            "samples": [{"name": n, "note": note, **r} for n, r, note in rows],
        },
        quick=args.quick,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
