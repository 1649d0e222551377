"""The same large-batch check on a 2-worker Dask LocalCluster (one thread per worker):
identical findings to the single-machine row-group check, also when a worker dies mid-job.

Data: synthetic (see test_large_batches.py).
"""

from __future__ import annotations

import pytest

from mileage.monitors.checks._large import check_parquet, check_parquet_on_dask
from mileage.testing.workers import kill_a_worker_once_busy

pytestmark = pytest.mark.slow  # starts servers or clusters, or checks big batches

pytest.importorskip("distributed")


def _same(a, b) -> None:
    key = lambda f: (f.check_kind, f.check, str(f.column), f.statistic)  # noqa: E731
    assert [(key(f), f.severity, f.value) for f in a.findings] == [
        (key(f), f.severity, f.value) for f in b.findings
    ]
    stats = lambda r: {(s.check_kind, s.column, s.statistic): s.value for s in r.statistics}  # noqa: E731
    assert stats(a) == stats(b)


@pytest.mark.parametrize("name", ["clean", "bad"])
def test_dask_gives_the_single_machine_findings(dask_client, large_batches, name: str) -> None:
    reference, suite, config, folder, _ = large_batches
    path = folder / f"{name}.parquet"
    kwargs = dict(reference=reference, suite=suite, config=config, batch_id=name)
    local = check_parquet(path, **kwargs)
    on_dask = check_parquet_on_dask(dask_client, path, **kwargs)
    _same(local, on_dask)
    if name == "bad":
        assert local.blocking


def test_a_worker_killed_mid_job_is_retried_with_the_same_result(
    dask_client, large_batches
) -> None:
    """A worker process dies while it summarises a part: the scheduler runs its tasks again
    on a restarted worker, and the report equals the undisturbed one (the report is written
    once, by the caller, after the merged summary is back)."""
    from mileage.monitors.checks._large import plan_parts

    reference, suite, config, folder, _ = large_batches
    path = folder / "bad.parquet"
    kwargs = dict(reference=reference, suite=suite, config=config, batch_id="bad")
    expected = check_parquet(path, **kwargs)
    parts, _ = plan_parts(path)
    with kill_a_worker_once_busy(dask_client) as (pid, killed):
        report = check_parquet_on_dask(dask_client, path, **kwargs, rows_per_part=1_000)
    assert killed == [pid]
    assert len(parts) == 9
    _same(expected, report)
