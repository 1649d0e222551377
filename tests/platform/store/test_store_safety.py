"""The trace store file: private on creation, never changed when it is someone else's, one
clear line when it is damaged, and one daemon lock per store file."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from mileage.cli import app
from mileage.daemon import LeaderLock
from mileage.platform.errors import StoreError
from mileage.platform.store import TraceStore
from mileage.testing import require_shared_data


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_new_store_and_home_are_private(tmp_path: Path) -> None:
    path = tmp_path / "home" / ".mileage" / "mileage.db"
    store = TraceStore.open(f"sqlite:///{path}")
    store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "home").stat().st_mode) == 0o700


def test_foreign_sqlite_file_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    foreign = tmp_path / "mlflow.db"
    shutil.copyfile(require_shared_data("mlflow-history-peco602", "mlflow.db"), foreign)
    before = _md5(foreign)
    with pytest.raises(StoreError, match="is not a Mileage trace store"):
        TraceStore.open(f"sqlite:///{foreign}")
    assert _md5(foreign) == before
    with sqlite3.connect(foreign) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] != "wal"


@pytest.mark.parametrize(
    "content", [b"this is not a database at all" * 100, b""], ids=["text", "empty-header"]
)
def test_corrupt_store_is_one_line_error(
    tmp_path: Path, content: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.db"
    if content:
        path.write_bytes(content)
    else:  # a real store cut in half
        TraceStore.open(f"sqlite:///{path}").close()
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    monkeypatch.setenv("MILEAGE_DB_URL", f"sqlite:///{path}")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "store.db" in result.stderr


def test_db_and_sqlite_stores_get_different_lock_files(tmp_path: Path) -> None:
    first = LeaderLock(create_engine(f"sqlite:///{tmp_path / 'prod.db'}"))
    second = LeaderLock(create_engine(f"sqlite:///{tmp_path / 'prod.sqlite'}"))
    try:
        assert first.acquire() and second.acquire()
        assert (tmp_path / "prod.db.daemon.lock").exists()
        assert (tmp_path / "prod.sqlite.daemon.lock").exists()
    finally:
        first.release()
        second.release()
