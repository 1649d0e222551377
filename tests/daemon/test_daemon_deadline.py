"""A job that overruns its slot is recorded and abandoned, so later slots still run; and
``daemon --once`` never runs beside a live leader."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import insert, select
from typer.testing import CliRunner

from mileage.cli import app
from mileage.daemon import Daemon, DaemonBusyError, JobSpec
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore, utcnow
from mileage.platform.store import schema as t


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # lets the abandoned job's thread end


def _statuses(store: TraceStore) -> list[str]:
    with store.connect() as conn:
        return list(conn.execute(select(t.job_runs.c.status).order_by(t.job_runs.c.id)).scalars())


def test_job_overrunning_its_slot_is_recorded_and_the_next_slot_runs(
    sqlite_store: TraceStore, release: threading.Event
) -> None:
    calls = {"n": 0}

    def stuck_once(d: Daemon, spec: JobSpec) -> Mapping[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            release.wait(120)  # hangs like a collect on a dead NFS mount would
        return {"call": calls["n"]}

    registry = CollectorRegistry()
    daemon = Daemon(
        Settings.load(job_deadline_seconds=1, job_backoff_seconds=0.01),
        sqlite_store,
        registry=registry,
        providers=[lambda d: [JobSpec("stuck:x", "stuck", 3600)]],
        runners={"stuck": stuck_once},
    )
    first = daemon.run_job("stuck:x", slot_ms=1_000)
    assert first["status"] == "overran" and "deadline of 1 s" in first["detail"]
    second = daemon.run_job("stuck:x", slot_ms=2_000)
    assert second["status"] == "succeeded"
    assert _statuses(sqlite_store) == ["overran", "succeeded"]
    counted = registry.get_sample_value(
        "mileage_job_runs_total", {"mileage_job": "stuck:x", "status": "overran"}
    )
    assert counted == 1.0


def _running_row(store: TraceStore, owner: str) -> None:
    with store.begin() as conn:
        conn.execute(
            insert(t.job_runs).values(
                job_id="collect:x",
                kind="collect",
                slot_ms=1,
                status="running",
                attempts=0,
                owner=owner,
                started_at=utcnow(),
            )
        )


def test_daemon_once_declines_while_another_daemon_leads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = TraceStore.open(url)
    leader = Daemon(Settings.load(), store, registry=CollectorRegistry())
    try:
        assert leader.lock.acquire()
        _running_row(store, leader.owner)
        other = Daemon(Settings.load(), store, registry=CollectorRegistry())
        with pytest.raises(DaemonBusyError):
            other.run_once()
        monkeypatch.setenv("MILEAGE_DB_URL", url)
        result = CliRunner().invoke(app, ["daemon", "--once"])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "another mileage daemon leads" in result.stderr
        assert _statuses(store) == ["running"]  # the leader's job is not marked abandoned
    finally:
        leader.lock.release()
        store.close()


def test_daemon_once_takes_the_lock_and_abandons_dead_owners_runs(
    tmp_path: Path,
) -> None:
    store = TraceStore.open(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        _running_row(store, "gone-host:1")
        results = Daemon(Settings.load(), store, registry=CollectorRegistry()).run_once()
        assert results == []  # an empty store has no jobs
        assert _statuses(store) == ["abandoned"]
    finally:
        store.close()
