"""Mixed sources (MLflow, OpenML, published meta-data) read apart on workers and written by
the caller, in parts of at most ``collect_task_runs`` runs: the store ends exactly as after
local passes, also when a worker dies mid-read, when two callers collect at once, and from
``mileage collect sources``.

Data: two real MLflow tracking stores and FLAML's zero-shot meta-data from ../shared/data;
recorded real OpenML answers served on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from mileage.collectors import ApartCollector, CollectReport, collect_apart, merge_reports
from mileage.collectors.metadata import MetadataCollector
from mileage.collectors.mlflow import MlflowCollector
from mileage.collectors.openml import OpenmlCollector, Selection
from mileage.platform.cluster import DaskTaskPool, ProcessTaskPool
from mileage.platform.errors import ConfigError
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.testing import PostgresServer, require_shared_data
from mileage.testing.dump import dump_store
from mileage.testing.openml import RecordedOpenmlServer
from mileage.testing.workers import kill_a_worker_once_busy

pytestmark = pytest.mark.slow  # starts servers or clusters

#: Runs per part: the MLflow sources (106 and 125 runs) take 3 and 4 parts.
TASK_RUNS = 40
OPENML = Selection(runs=(12, 1), tasks=(1882,), uploaders=(7,))


@pytest.fixture(scope="module")
def paths() -> dict[str, Any]:
    return {
        "mlflow": [
            str(require_shared_data("mlflow-history-agnias47", "mlruns")),
            str(require_shared_data("mlflow-history-peco602", "mlflow.db")),
        ],
        "flaml": require_shared_data("flaml-zeroshot"),
    }


@pytest.fixture(scope="module")
def openml_url() -> Iterator[str]:
    with RecordedOpenmlServer(require_shared_data("openml-responses")) as server:
        yield server.url


def _collectors(paths: dict[str, Any], openml_url: str) -> list[ApartCollector]:
    settings = Settings.load(config_file=None, collect_task_runs=TASK_RUNS)
    return [
        *(MlflowCollector(uri, settings=settings) for uri in paths["mlflow"]),
        OpenmlCollector(OPENML, server=openml_url, settings=settings, backoff=0),
        MetadataCollector("flaml-zeroshot", paths["flaml"], settings=settings),
    ]


@pytest.fixture(scope="module")
def expected(
    paths: dict[str, Any], openml_url: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The store after one local pass of each source, one after the other."""
    store = TraceStore.open(f"sqlite:///{tmp_path_factory.mktemp('local') / 'trace.db'}")
    for collector in _collectors(paths, openml_url):
        collector.collect(store)  # type: ignore[attr-defined]
    dump = dump_store(store)
    store.close()
    assert len(dump["runs"]) > 250 and dump["flows"] and dump["configurations"]
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


def _passes(store: TraceStore) -> dict[str, int]:
    with store.connect() as conn:
        rows = conn.execute(
            select(t.sources.c.kind, func.count())
            .select_from(t.collector_passes.join(t.sources))
            .group_by(t.sources.c.kind)
        ).all()
    return {kind: int(n) for kind, n in rows}


def test_mixed_sources_read_apart_are_written_as_local_passes_write_them(
    dask_client: Any,
    paths: dict[str, Any],
    openml_url: str,
    expected: dict[str, Any],
    store: TraceStore,
) -> None:
    pool = DaskTaskPool(dask_client)
    reports = _reports(collect_apart(store, _collectors(paths, openml_url), pool))
    assert [r.runs_written for r in reports[:2]] == [106, 125]
    assert dump_store(store) == expected
    # bounded parts: ceil(106/40) + ceil(125/40) MLflow parts, one OpenML and one import
    assert _passes(store) == {"mlflow": 3 + 4, "openml": 1, "metadata": 1}
    # each part's cursor was stored with its rows: the next pass reads and writes nothing
    again = _reports(collect_apart(store, _collectors(paths, openml_url), pool))
    assert [r.runs_written for r in again] == [0, 0, 0, 0]
    assert dump_store(store) == expected


def test_a_worker_killed_mid_read_gives_a_retried_task_and_the_same_rows(
    dask_client: Any,
    paths: dict[str, Any],
    openml_url: str,
    expected: dict[str, Any],
    store: TraceStore,
) -> None:
    with kill_a_worker_once_busy(dask_client) as (pid, killed):
        results = collect_apart(store, _collectors(paths, openml_url), DaskTaskPool(dask_client))
    assert killed == [pid]
    _reports(results)
    assert dump_store(store) == expected  # nothing lost, nothing doubled


def test_two_callers_collecting_the_same_sources_at_once_write_each_row_once(
    dask_client: Any,
    postgres: PostgresServer,
    paths: dict[str, Any],
    openml_url: str,
    expected: dict[str, Any],
) -> None:
    url = postgres.create_database()
    # two stores (engines) on one database, opened here: migrations run in one thread
    callers = [TraceStore.open(url) for _ in range(2)]
    results: list[list[CollectReport | Exception]] = []

    def caller(own: TraceStore) -> None:
        results.append(
            collect_apart(own, _collectors(paths, openml_url), DaskTaskPool(dask_client))
        )

    threads = [threading.Thread(target=caller, args=(own,)) for own in callers]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for own in callers:
        own.close()
    assert len(results) == 2
    for outcome in results:
        _reports(outcome)  # neither caller failed on the other's rows
    with TraceStore.open(url) as shared:
        assert dump_store(shared) == expected  # unique keys held: no row twice, none lost
        again = collect_apart(shared, _collectors(paths, openml_url), DaskTaskPool(dask_client))
        assert [r.runs_written for r in _reports(again)] == [0, 0, 0, 0]


def test_collect_sources_runs_mixed_sources_on_local_worker_processes(
    paths: dict[str, Any], openml_url: str, expected: dict[str, Any], tmp_path: Path
) -> None:
    from mileage.cli import app

    db = tmp_path / "trace.db"
    args = ["--db-url", f"sqlite:///{db}", "collect", "sources", "--json"]
    for uri in paths["mlflow"]:
        args += ["--mlflow", uri]
    args += ["--openml-server", openml_url, "--openml-task", "1882", "--openml-uploader", "7"]
    args += ["--openml-run", "12", "--openml-run", "1"]
    args += ["--metadata", f"flaml-zeroshot={paths['flaml']}"]
    env = {
        "MILEAGE_DAEMON_PROCESSES": "2",
        "MILEAGE_DASK_SCHEDULER": "",
        "MILEAGE_COLLECT_TASK_RUNS": str(TASK_RUNS),
        "MILEAGE_HOME": str(tmp_path / "home"),
    }
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["where"] == "2 local processes"
    assert [s["runs_written"] for s in out["sources"]] == [106, 125, 2, expected_runs(expected)]
    with TraceStore.open(f"sqlite:///{db}") as written:
        assert dump_store(written) == expected


def expected_runs(dump: dict[str, Any]) -> int:
    """Runs of the meta-data import: all runs but the MLflow and OpenML ones."""
    return len(dump["runs"]) - 106 - 125 - 2


def test_a_source_named_twice_is_refused_before_anything_runs(
    paths: dict[str, Any], openml_url: str
) -> None:
    store = TraceStore.open("sqlite:///:memory:")
    twice = [*_collectors(paths, openml_url), MlflowCollector(paths["mlflow"][0])]
    with pytest.raises(ConfigError, match="named more than once"):
        collect_apart(store, twice, ProcessTaskPool(1))  # refused before a worker starts
    assert store.counts()["runs"] == 0


def test_a_pass_written_in_parts_reports_the_sum_of_its_parts() -> None:
    parts = [
        CollectReport("s", "rest", runs_seen=90, runs_written=40, runs_unchanged=50, seconds=1.0),
        CollectReport("s", "rest", runs_seen=90, runs_written=10, runs_unchanged=40, seconds=0.5),
    ]
    parts[0].warnings = ["deleted run (2x, e.g. a1, b2)"]
    parts[1].warnings = ["deleted run (3x, e.g. b2, c3, d4)", "NaN kept (1x, e.g. e5)"]
    merged = merge_reports(parts)
    assert (merged.runs_seen, merged.runs_written, merged.runs_unchanged) == (90, 50, 50)
    assert merged.seconds == 1.5
    assert merged.warnings == ["NaN kept (1x, e.g. e5)", "deleted run (5x, e.g. a1, b2, c3)"]
