"""The daemon's monitor checks of many pipelines on a 2-worker Dask LocalCluster (one thread
per worker): checks run on both workers at once, the daemon writes every report once, and a
worker killed mid-check gives a retried task and the same store content.

Data: scikit-learn's breast cancer table (the monitoring test pipeline, no model).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from mileage.daemon import Daemon
from mileage.daemon._jobs import monitor_jobs
from mileage.platform.cluster import DaskTaskPool
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.testing.workers import kill_a_worker_once_busy

pytestmark = pytest.mark.slow  # starts servers or clusters, or checks big batches

pytest.importorskip("distributed")

PIPELINES = ["p0", "p1", "p2"]


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """Three monitored pipelines, each with a batch with a unit change upstream."""
    from mileage.monitors import MonitorConfig
    from mileage.testing.monitoring import cancer_data

    data = cancer_data()
    root = tmp_path_factory.mktemp("pipelines")
    configs = []
    for i, name in enumerate(PIPELINES):
        folder = root / name
        (folder / "batches").mkdir(parents=True)
        data.reference.to_parquet(folder / "reference.parquet")
        served = data.held_out.drop(columns=["label"]).sample(frac=1.0, random_state=i)
        broken = served.iloc[:110].copy()
        broken["mean_radius"] = broken["mean_radius"] * 1000
        broken.to_parquet(folder / "batches" / "2026-11-21.parquet")
        configs.append(
            MonitorConfig(
                name=name,
                reference_uri=str(folder / "reference.parquet"),
                batches_uri=str(folder / "batches"),
                id_column="id",
                cadence="1d",
            )
        )
    return configs


def _store(path: Path, pipelines: list[Any]) -> TraceStore:
    from mileage.monitors import create_monitor

    store = TraceStore.open(f"sqlite:///{path}")
    for config in pipelines:
        create_monitor(store, config)
    return store


def _content(store: TraceStore) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Reports per (pipeline, batch) and every finding, without ids and times."""
    with store.connect() as conn:
        runs = conn.execute(
            select(t.monitors.c.name, t.monitor_runs.c.batch_id, t.monitor_runs.c.status)
            .join(t.monitors, t.monitors.c.id == t.monitor_runs.c.monitor_id)
            .order_by(t.monitors.c.name, t.monitor_runs.c.batch_id)
        ).all()
        f = t.monitor_findings
        findings = conn.execute(
            select(
                f.c.pipeline,
                f.c.batch_id,
                f.c.check_kind,
                f.c.check,
                f.c.column,
                f.c.statistic,
                f.c.value,
                f.c.severity,
            ).order_by(
                f.c.pipeline, f.c.batch_id, f.c.check_kind, f.c.check, f.c.column, f.c.statistic
            )
        ).all()
    return [tuple(r) for r in runs], [tuple(r) for r in findings]


@pytest.fixture(scope="module")
def expected(pipelines: list[Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The store after each monitor checked its batches in this process."""
    from mileage.monitors import MonitorRunner

    folder = tmp_path_factory.mktemp("local")
    store = _store(folder / "trace.db", pipelines)
    for config in pipelines:
        MonitorRunner(store, config.name, home=folder / "home").run()
    content = _content(store)
    store.close()
    return content


def _daemon(tmp_path: Path, pipelines: list[Any], client: Any) -> Daemon:
    settings = Settings.load(home=tmp_path / "home", routers=[], job_backoff_seconds=0.01)
    return Daemon(
        settings,
        _store(tmp_path / "trace.db", pipelines),
        registry=CollectorRegistry(),
        providers=[monitor_jobs],
        pool=DaskTaskPool(client),
    )


def _run_all_at_once(daemon: Daemon) -> list[dict[str, Any]]:
    """Every monitor job at once, as the scheduler's worker threads start them."""
    specs = daemon.specs()
    slot = int(time.time() * 1000)
    with ThreadPoolExecutor(len(specs)) as threads:
        return list(threads.map(lambda s: daemon.run_job(s.id, slot_ms=slot), specs))


def test_checks_of_many_pipelines_run_on_both_workers_and_the_daemon_writes_them(
    dask_client: Any, pipelines: list[Any], expected: Any, tmp_path: Path
) -> None:
    from distributed import get_task_stream

    daemon = _daemon(tmp_path, pipelines, dask_client)
    try:
        with get_task_stream(client=dask_client) as stream:
            results = _run_all_at_once(daemon)
        assert [r["status"] for r in results] == ["succeeded"] * len(PIPELINES), results
        checks = [s for s in stream.data if "check_batch_task" in str(s["key"])]
        assert len(checks) == len(PIPELINES)
        assert len({s["worker"] for s in checks}) == 2  # both workers checked
        assert _content(daemon.store) == expected
        with daemon.store.connect() as conn:  # the daemon wrote, once per batch
            runs = conn.execute(select(func.count()).select_from(t.monitor_runs)).scalar()
        assert runs == len(PIPELINES)
        assert all(status == "failed" for _, _, status in expected[0])  # each found its fault
    finally:
        daemon.close()
        daemon.store.close()


def test_a_worker_killed_mid_check_gives_a_retried_task_and_the_same_store(
    dask_client: Any, pipelines: list[Any], expected: Any, tmp_path: Path
) -> None:
    daemon = _daemon(tmp_path, pipelines, dask_client)
    with kill_a_worker_once_busy(dask_client) as (pid, killed):
        results = _run_all_at_once(daemon)
    try:
        assert killed == [pid]
        assert [r["status"] for r in results] == ["succeeded"] * len(PIPELINES), results
        assert [r["attempts"] for r in results] == [1] * len(PIPELINES)  # retried by Dask
        assert _content(daemon.store) == expected  # nothing lost, nothing doubled
    finally:
        daemon.close()
        daemon.store.close()


def test_a_client_that_gave_up_on_its_scheduler_is_replaced(tmp_path: Path) -> None:
    """The scheduler was away long enough for the client to close: every later run used to fail
    with 'Client is closed' until the daemon was restarted; now the next run connects again."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False},
    ) as cluster:
        settings = Settings.load(home=tmp_path / "home", dask_scheduler=cluster.scheduler_address)
        store = TraceStore.open(f"sqlite:///{tmp_path / 'trace.db'}")
        daemon = Daemon(settings, store, registry=CollectorRegistry())
        try:
            first = daemon.pool
            assert isinstance(first, DaskTaskPool) and first.run(sum, [1, 2]) == 3
            first.client.close()  # what the client does when the scheduler stays away
            second = daemon.pool
            assert isinstance(second, DaskTaskPool) and second is not first
            assert second.client.status == "running"
            assert second.run(sum, [3, 4]) == 7
        finally:
            daemon.close()
            store.close()
