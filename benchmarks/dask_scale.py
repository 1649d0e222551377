"""Large-batch check: whole batch in memory vs row groups on one machine vs a 2-worker Dask
LocalCluster, on the same synthetic batch (normal, integer and categorical columns drawn with
numpy; 5% of one column scaled, one column shifted, a new category: the check must find them).

Reports rows per second and peak resident memory (this process; Dask workers sampled
separately). Run: ``python benchmarks/dask_scale.py [--quick] [--rows N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._common import PeakRSS, machine, machine_line, table, write_results


def synthetic(n: int, seed: int, columns: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(columns - 2)})
    frame["level"] = rng.integers(0, 30, n)
    frame["cat"] = rng.choice([f"c{i}" for i in range(8)], n)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--columns", type=int, default=20)
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    from distributed import Client

    from mileage.monitors import MonitorConfig, check_batch, infer_suite
    from mileage.monitors.checks._large import check_parquet, check_parquet_on_dask
    from mileage.platform.cluster import start_local_cluster

    reference = synthetic(50_000, 1, args.columns)
    config = MonitorConfig(name="bench", reference_uri="ref")
    suite = infer_suite(reference, exclude=config.excluded)
    results: list[tuple[str, float, int | None, int | None, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch.parquet"
        batch = synthetic(rows, 2, args.columns)
        batch.loc[: rows // 20, "x0"] *= 1000.0
        batch["x1"] += 1.0
        batch.loc[batch.index % 10 == 3, "cat"] = "NEW"
        batch.to_parquet(path, row_group_size=250_000)
        del batch
        kw = dict(reference=reference, suite=suite, config=config, batch_id="b")
        with PeakRSS() as rss:
            t = time.perf_counter()
            whole, _ = check_batch(pd.read_parquet(path), **kw)
            seconds = time.perf_counter() - t
        results.append(("in memory (read whole)", seconds, rss.peak - rss.start, None, whole))
        with PeakRSS() as rss:
            t = time.perf_counter()
            parts = check_parquet(path, **kw)
            seconds = time.perf_counter() - t
        results.append(("row groups, this process", seconds, rss.peak - rss.start, None, parts))
        cluster = start_local_cluster(2, processes=True, memory_limit="4GiB")
        client = Client(cluster)
        try:
            client.run(lambda: None)
            t = time.perf_counter()
            on_dask = check_parquet_on_dask(client, path, **kw)
            seconds = time.perf_counter() - t
            worker_rss = max(
                client.run(lambda: __import__("psutil").Process().memory_info().rss).values()
            )
        finally:
            client.close()
            cluster.close()
        results.append(("Dask LocalCluster, 2 workers", seconds, None, worker_rss, on_dask))

    def found(r):
        return sorted({(f.check, str(f.column)) for f in r.findings if f.severity.label != "info"})

    info = machine()
    rows_out = [
        [
            name,
            f"{rows / s:,.0f}",
            f"{s:.1f}",
            f"{(m or 0) / 2**20:,.0f}" if m is not None else "-",
            f"{w / 2**20:,.0f}" if w else "-",
            len(found(r)),
        ]
        for name, s, m, w, r in results
    ]
    print(machine_line(info))
    print(f"synthetic batch: {rows:,} rows x {args.columns} columns")
    print(
        table(
            ["path", "rows/s", "seconds", "peak RSS added (MiB)", "worker RSS (MiB)", "findings"],
            rows_out,
        )
    )
    same = found(results[1][4]) == found(results[2][4])
    print(f"row-group and Dask findings identical: {same}")
    write_results(
        "dask_scale",
        {
            "machine": info,
            "data": "synthetic",
            "rows": rows,
            "columns": args.columns,
            "results": [
                {
                    "path": n,
                    "seconds": s,
                    "rows_per_second": rows / s,
                    "peak_rss_added": m,
                    "worker_rss": w,
                    "findings": found(r),
                }
                for n, s, m, w, r in results
            ],
            "row_groups_and_dask_identical": same,
        },
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
