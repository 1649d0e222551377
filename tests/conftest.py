"""Shared fixtures: fresh trace stores on SQLite and on a real PostgreSQL server, MLflow stores
built with MLflow itself, and the shared reference data."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mileage.platform.store import TraceStore
from mileage.testing import PostgresServer, require_shared_data
from mileage.testing.mlflow_stores import BuiltStore, build_tracking_store


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session; tests create their own databases on it."""
    try:
        server = PostgresServer().start()
    except RuntimeError as exc:
        pytest.fail(f"cannot start the PostgreSQL test server: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[TraceStore]:
    store = TraceStore.open(f"sqlite:///{tmp_path / 'trace.db'}")
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TraceStore]:
    """A fresh, migrated trace store on each supported backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'trace.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
    store = TraceStore.open(url)
    yield store
    store.close()


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> BuiltStore:
    """An MLflow SQLite store built once per session (MLflow's migrations take seconds)."""
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    return build_tracking_store(path)


@pytest.fixture
def mlflow_store(mlflow_template: BuiltStore, tmp_path: Path) -> BuiltStore:
    """A private copy of the template store that the test may change."""
    target = tmp_path / "mlflow" / "mlflow.db"
    target.parent.mkdir()
    shutil.copy2(mlflow_template.path, target)
    copy = BuiltStore(**{**mlflow_template.__dict__})
    copy.path, copy.uri = target, f"sqlite:///{target}"
    return copy


@pytest.fixture(scope="session")
def agnias47() -> Path:
    """The real MLflow file store written by an older MLflow (106 runs)."""
    return require_shared_data("mlflow-history-agnias47", "mlruns")


@pytest.fixture(scope="session")
def dask_client() -> Iterator[object]:
    """A 2-worker Dask LocalCluster (worker processes, one thread each) for the session."""
    pytest.importorskip("distributed")
    from distributed import Client

    from mileage.platform.cluster import start_local_cluster

    cluster = start_local_cluster(2, processes=True, memory_limit="2GiB")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()
