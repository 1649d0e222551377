"""Many sources collected as parallel tasks on a 2-worker Dask LocalCluster: workers read,
the caller writes, and the store ends as after local passes, also when a worker dies.

Data: four real MLflow tracking stores from ../shared/data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mileage.collectors import CollectReport
from mileage.collectors.mlflow import MlflowCollector, collect_sources
from mileage.platform.cluster import DaskTaskPool
from mileage.platform.errors import ConfigError
from mileage.platform.store import TraceStore
from mileage.testing import require_shared_data
from mileage.testing.dump import dump_store
from mileage.testing.workers import kill_a_worker_once_busy

pytestmark = pytest.mark.slow  # starts servers or clusters, or checks big batches

pytest.importorskip("distributed")

#: Folder and the tracking store in it: three mlruns/ folders and one SQLite database.
SOURCES = [
    ("agnias47", "mlruns"),
    ("peco602", "mlflow.db"),
    ("stockquant", "mlruns"),
    ("backtesting", "mlruns"),
]


@pytest.fixture(scope="module")
def sources() -> list[str]:
    return [str(require_shared_data(f"mlflow-history-{n}", part)) for n, part in SOURCES]


@pytest.fixture(scope="module")
def expected(sources: list[str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The store after one local pass of each source, one after the other."""
    store = TraceStore.open(f"sqlite:///{tmp_path_factory.mktemp('local') / 'trace.db'}")
    for uri in sources:
        MlflowCollector(uri).collect(store)
    dump = dump_store(store)
    store.close()
    return dump


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TraceStore]:
    s = TraceStore.open(f"sqlite:///{tmp_path / 'trace.db'}")
    yield s
    s.close()


def _reports(results: list[CollectReport | Exception]) -> list[CollectReport]:
    failed = [r for r in results if isinstance(r, Exception)]
    assert not failed, failed
    return [r for r in results if isinstance(r, CollectReport)]


def test_sources_read_on_the_cluster_are_written_as_local_passes_write_them(
    dask_client: Any, sources: list[str], expected: dict[str, Any], store: TraceStore
) -> None:
    pool = DaskTaskPool(dask_client)
    reports = _reports(collect_sources(store, [MlflowCollector(u) for u in sources], pool))
    assert sum(r.runs_written for r in reports) == len(expected["runs"]) > 100
    assert dump_store(store) == expected
    # each source's cursor was stored with its rows: the next pass reads and writes nothing
    again = _reports(collect_sources(store, [MlflowCollector(u) for u in sources], pool))
    assert [r.runs_written for r in again] == [0] * len(sources)
    assert dump_store(store) == expected


def test_a_source_named_twice_is_refused(dask_client: Any, sources: list[str]) -> None:
    store = TraceStore.open("sqlite:///:memory:")
    with pytest.raises(ConfigError, match="named more than once"):
        collect_sources(store, [MlflowCollector(sources[0])] * 2, DaskTaskPool(dask_client))
    assert store.counts()["runs"] == 0


def test_a_worker_killed_mid_read_gives_a_retried_task_and_the_same_rows(
    dask_client: Any, sources: list[str], expected: dict[str, Any], store: TraceStore
) -> None:
    with kill_a_worker_once_busy(dask_client) as (pid, killed):
        reports = collect_sources(
            store, [MlflowCollector(u) for u in sources], DaskTaskPool(dask_client)
        )
    assert killed == [pid]
    assert all(not isinstance(r, Exception) for r in reports), reports
    assert dump_store(store) == expected  # nothing lost, nothing doubled
