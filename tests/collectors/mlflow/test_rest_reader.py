"""The REST reader against a real ``mlflow server`` on loopback."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mileage.collectors.mlflow import MlflowCollector
from mileage.platform.errors import SourceUnavailableError
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.testing import MlflowServer, free_port
from mileage.testing.dump import dump_store
from mileage.testing.mlflow_stores import BuiltStore


@pytest.fixture(scope="module")
def served(
    mlflow_template: BuiltStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[MlflowServer, Path]]:
    folder = tmp_path_factory.mktemp("served")
    db = folder / "mlflow.db"
    shutil.copy2(mlflow_template.path, db)
    with MlflowServer(f"sqlite:///{db}", folder / "artifacts") as server:
        yield server, db


@pytest.mark.slow  # an MLflow tracking server
def test_rest_and_direct_readers_yield_identical_rows(
    served: tuple[MlflowServer, Path], tmp_path: Path
) -> None:
    server, db = served
    via_rest = TraceStore.open(f"sqlite:///{tmp_path / 'rest.db'}")
    direct = TraceStore.open(f"sqlite:///{tmp_path / 'direct.db'}")
    rest_report = MlflowCollector(server.url).collect(via_rest)
    direct_report = MlflowCollector(f"sqlite:///{db}").collect(direct)
    assert rest_report.reader == "rest" and direct_report.reader == "sqlite"
    assert rest_report.runs_written == direct_report.runs_written > 0
    a, b = dump_store(via_rest, signatures=False), dump_store(direct, signatures=False)
    for table in a:
        assert a[table] == b[table], table


@pytest.mark.slow  # an MLflow tracking server
def test_second_rest_pass_reads_only_past_the_watermark(
    served: tuple[MlflowServer, Path], sqlite_store: TraceStore
) -> None:
    server, _ = served
    first = MlflowCollector(server.url).collect(sqlite_store)
    second = MlflowCollector(server.url).collect(sqlite_store)
    assert second.runs_written == 0
    # only the latest run(s), the deleted run and the one still RUNNING are listed again
    assert second.runs_seen <= 4 < first.runs_seen
    full = MlflowCollector(server.url, full=True).collect(sqlite_store)
    assert full.runs_seen == first.runs_seen


def test_unreachable_server_fails_clearly_and_quickly(sqlite_store: TraceStore) -> None:
    url = f"http://user:hunter2@127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError) as info:
        MlflowCollector(
            url, settings=Settings.load(http_retries=2, http_timeout_seconds=2)
        ).collect(sqlite_store)
    message = str(info.value)
    assert "127.0.0.1" in message and "2 attempts" in message and "hunter2" not in message
    assert isinstance(info.value, ConnectionError)
    assert time.monotonic() - started < 30
    status = sqlite_store.counts()
    assert status["collector_passes"] == 1 and status["runs"] == 0


@pytest.mark.slow  # an MLflow tracking server
def test_legacy_file_store_through_a_server_matches_the_direct_reader(
    agnias47: Path, tmp_path: Path
) -> None:
    root = tmp_path / "mlruns"
    shutil.copytree(agnias47, root)
    # an experiment under .trash whose meta.yaml says active: one lifecycle rule for both
    (root / ".trash").mkdir()
    shutil.move(str(root / "7"), str(root / ".trash" / "7"))
    direct = TraceStore.open(f"sqlite:///{tmp_path / 'direct.db'}")
    MlflowCollector(str(root)).collect(direct)
    via_rest = TraceStore.open(f"sqlite:///{tmp_path / 'rest.db'}")
    with MlflowServer(root.as_uri(), tmp_path / "artifacts") as server:
        MlflowCollector(server.url).collect(via_rest)
    a, b = dump_store(via_rest, signatures=False), dump_store(direct, signatures=False)
    for table in a:
        assert a[table] == b[table], table
    with via_rest.connect() as conn:
        stage = select(t.experiments.c.lifecycle_stage).where(t.experiments.c.external_id == "7")
        assert conn.execute(stage).scalar_one() == "active"  # as its meta.yaml says
