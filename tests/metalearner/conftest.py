"""Fixtures of the meta-learner tests: TabRepo's LightGBM table imported into a trace store
(with a trained warm-start model), built once per session and copied per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mileage.collectors.metadata import import_metadata
from mileage.metalearner.warmstart._service import train_warmstart
from mileage.platform.store import TraceStore
from mileage.testing import require_shared_data


@pytest.fixture(scope="session")
def tabrepo_dir() -> Path:
    return require_shared_data("tabrepo-lightgbm")


@pytest.fixture(scope="session")
def tabrepo_template(tmp_path_factory: pytest.TempPathFactory, tabrepo_dir: Path) -> Path:
    """A SQLite trace store holding TabRepo and one trained warm-start model (closed)."""
    path = tmp_path_factory.mktemp("tabrepo") / "trace.db"
    store = TraceStore.open(f"sqlite:///{path}")
    try:
        import_metadata(store, "tabrepo-lightgbm", tabrepo_dir)
        train_warmstart(store)
        with store.engine.connect() as conn:  # fold the WAL into the file before copies
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.close()
    return path


@pytest.fixture
def tabrepo_db(tabrepo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the template store file."""
    target = tmp_path / "trace.db"
    shutil.copy2(tabrepo_template, target)
    return target


@pytest.fixture
def tabrepo_store(tabrepo_db: Path) -> Iterator[TraceStore]:
    store = TraceStore.open(f"sqlite:///{tabrepo_db}")
    yield store
    store.close()
