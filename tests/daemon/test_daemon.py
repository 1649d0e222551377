"""The daemon with real stores, real HTTP, real processes and real signals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from mileage.collectors.mlflow import MlflowCollector
from mileage.daemon import PROVIDERS, RUNNERS, Daemon, JobSpec
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore, epoch_seconds
from mileage.platform.store import schema as t
from mileage.testing import free_port


def _settings(**kw: Any) -> Settings:
    return Settings.load(**{"job_backoff_seconds": 0.01, **kw})


@pytest.fixture
def collected(sqlite_store: TraceStore, agnias47: Path) -> TraceStore:
    MlflowCollector(str(agnias47)).collect(sqlite_store)
    return sqlite_store


@pytest.fixture
def flaky_job() -> Iterator[dict[str, Any]]:
    """A job kind that fails its first two attempts of every run."""
    calls = {"n": 0}

    def runner(d: Daemon, spec: JobSpec) -> Mapping[str, Any]:
        calls["n"] += 1
        if calls["n"] % 3:
            raise RuntimeError(f"transient failure {calls['n']}")
        return {"ok": True}

    yield {
        "calls": calls,
        "providers": [*PROVIDERS, lambda d: [JobSpec("flaky:x", "flaky", 3600)]],
        "runners": {**RUNNERS, "flaky": runner},
    }


def _sample(registry: CollectorRegistry, name: str, labels: dict[str, str]) -> float | None:
    return registry.get_sample_value(name, labels)


def test_run_once_collects_every_source_and_records_runs(collected: TraceStore) -> None:
    d = Daemon(_settings(), collected, registry=CollectorRegistry())
    results = d.run_once()
    assert [r["job"] for r in results] == ["collect:mlflow:1"]
    assert (
        results[0]["status"] == "succeeded" and json.loads(results[0]["detail"])["runs_seen"] == 106
    )
    assert (
        _sample(
            d.registry,
            "mileage_job_runs_total",
            {"mileage_job": "collect:mlflow:1", "status": "succeeded"},
        )
        == 1
    )
    assert (
        _sample(
            d.registry,
            "mileage_collector_runs",
            {"kind": "mlflow", "source": "file:///.../mlflow-history-agnias47/mlruns"},
        )
        == 106
    )
    assert _sample(
        d.registry,
        "mileage_job_last_success_timestamp_seconds",
        {"mileage_job": "collect:mlflow:1"},
    ) == pytest.approx(time.time(), abs=60)
    with collected.connect() as conn:
        assert conn.execute(select(t.job_runs.c.status)).scalars().all() == ["succeeded"]


def test_failing_job_is_retried_with_backoff_and_counted(
    collected: TraceStore, flaky_job: dict[str, Any]
) -> None:
    pauses: list[float] = []
    d = Daemon(
        _settings(job_retries=3, job_backoff_seconds=2),
        collected,
        registry=CollectorRegistry(),
        sleep=pauses.append,
        providers=flaky_job["providers"],
        runners=flaky_job["runners"],
    )
    (outcome,) = [r for r in d.run_once() if r["job"] == "flaky:x"]
    assert outcome["status"] == "succeeded" and outcome["attempts"] == 3
    assert pauses == [2, 4]
    assert _sample(d.registry, "mileage_job_retries_total", {"mileage_job": "flaky:x"}) == 2
    d2 = Daemon(
        _settings(job_retries=2),
        collected,
        registry=CollectorRegistry(),
        sleep=lambda s: None,
        providers=flaky_job["providers"],
        runners=flaky_job["runners"],
    )
    (failed,) = [r for r in d2.run_once() if r["job"] == "flaky:x"]
    assert failed["status"] == "failed" and "transient failure" in failed["detail"]
    assert _sample(d2.registry, "mileage_job_last_run_failed", {"mileage_job": "flaky:x"}) == 1


def test_a_slot_runs_once_even_with_two_leaders(collected: TraceStore) -> None:
    a = Daemon(_settings(), collected, registry=CollectorRegistry())
    b = Daemon(_settings(), collected, registry=CollectorRegistry())
    b.owner = "other-host:1"
    a.specs()
    b.specs()
    first = a.run_job("collect:mlflow:1", slot_ms=1_000)
    second = b.run_job("collect:mlflow:1", slot_ms=1_000)
    assert (first["status"], second["status"]) == ("succeeded", "skipped")
    with collected.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.job_runs)).scalar_one() == 1


def test_metrics_and_health_over_http(collected: TraceStore) -> None:
    d = Daemon(_settings(), collected, registry=CollectorRegistry())
    host, port = d.serve_http("127.0.0.1", 0)
    try:
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200 and json.loads(resp.read())["scheduler"] == "standby"
        d.run_once()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode()
        assert (
            'mileage_job_runs_total{mileage_job="collect:mlflow:1",status="succeeded"} 1.0' in body
        )
        assert "mileage_collector_lag_seconds" in body and "mileage_metrics_source_up" in body
    finally:
        d.close()


def _daemon_process(db: Path, port: int, interval: float = 1.0) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MILEAGE_COLLECT_INTERVAL_SECONDS": str(interval),
        "MILEAGE_LOG_LEVEL": "INFO",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mileage.cli",
            "--db-url",
            f"sqlite:///{db}",
            "daemon",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return dict(json.loads(resp.read()))
    except OSError:
        return None


def _wait(predicate: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def _owners(store: TraceStore) -> set[str]:
    with store.connect() as conn:
        return set(
            conn.execute(
                select(t.job_runs.c.owner).where(t.job_runs.c.status == "succeeded")
            ).scalars()
        )


@pytest.mark.slow
def test_standby_takes_over_when_the_leader_is_killed(tmp_path: Path, agnias47: Path) -> None:
    db = tmp_path / "trace.db"
    store = TraceStore.open(f"sqlite:///{db}")
    MlflowCollector(str(agnias47)).collect(store)
    ports = free_port(), free_port()
    first = _daemon_process(db, ports[0])
    try:
        _wait(lambda: (_health(ports[0]) or {}).get("leader"))
        second = _daemon_process(db, ports[1])
        try:
            assert _wait(lambda: _health(ports[1]))["leader"] is False
            _wait(lambda: _owners(store))
            first.send_signal(signal.SIGKILL)
            first.wait()
            _wait(lambda: (_health(ports[1]) or {}).get("leader"), timeout=30)
            _wait(lambda: len(_owners(store)) == 2, timeout=30)
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=60) == 0
        finally:
            if second.poll() is None:
                second.kill()
    finally:
        if first.poll() is None:
            first.kill()
    with store.connect() as conn:
        rows = conn.execute(
            select(t.job_runs.c.slot_ms, t.job_runs.c.status, t.job_runs.c.owner)
        ).all()
    slots = [r.slot_ms for r in rows]
    assert len(slots) == len(set(slots)) >= 2, "a slot ran twice"
    assert len({r.owner for r in rows if r.status == "succeeded"}) == 2, "the standby never ran"
    assert "running" not in {r.status for r in rows}
    store.close()


@pytest.mark.slow
def test_sigterm_lets_the_running_job_finish(tmp_path: Path, agnias47: Path) -> None:
    db = tmp_path / "trace.db"
    store = TraceStore.open(f"sqlite:///{db}")
    MlflowCollector(str(agnias47)).collect(store)
    port = free_port()
    proc = _daemon_process(db, port, interval=0.5)
    try:
        _wait(lambda: (_health(port) or {}).get("leader"))
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with store.connect() as conn:
        statuses = conn.execute(select(t.job_runs.c.status)).scalars().all()
    assert statuses and set(statuses) == {"succeeded"}
    store.close()


def test_postgres_leader_lock_admits_one_replica(postgres: Any) -> None:
    from mileage.daemon._leader import LeaderLock

    store = TraceStore.open(postgres.create_database())
    a, b = LeaderLock(store.engine), LeaderLock(store.engine)
    assert a.acquire() and not b.acquire()
    assert a.alive()
    a.release()
    assert b.acquire()
    b.release()
    store.close()


@pytest.mark.slow
def test_a_monitor_job_checks_alerts_and_routes_in_one_run(
    sqlite_store: TraceStore, tmp_path: Path
) -> None:
    from mileage.monitors import create_monitor
    from mileage.monitors.alerts._inbox import list_suggestions
    from mileage.testing.monitoring import cancer_data, monitored_pipeline, register_model

    data = cancer_data()
    create_monitor(sqlite_store, monitored_pipeline(data, tmp_path, register_model(data, tmp_path)))
    registry = CollectorRegistry()
    daemon = Daemon(_settings(home=tmp_path / "home", routers=[]), sqlite_store, registry=registry)
    specs = {s.id: s for s in daemon.specs()}
    assert specs["monitor:cancer"].interval_seconds == 86400  # the monitor's cadence, 1d
    (run,) = [r for r in daemon.run_once() if r["job"] == "monitor:cancer"]
    assert run["status"] == "succeeded", run
    detail = json.loads(run["detail"])
    assert (
        detail["batches"] == 2 and detail["pages"] == 1 and detail["deliveries"]["delivered"] >= 1
    )
    (s,) = [s for s in list_suggestions(sqlite_store) if s.kind == "fix_upstream"]
    assert s.owner == "oncology-ml"  # reached its owner in the run that found the fault
    labels = {"pipeline": "cancer", "severity": "page", "kind": "broken_column"}
    assert _sample(registry, "mileage_open_alerts", labels) == 1.0
    failures = registry.get_sample_value(
        "mileage_monitor_validation_failures",
        {"pipeline": "cancer", "model": "cancer", "version": "1", "severity": "blocking"},
    )
    assert failures is not None and failures >= 1
    drift = [
        s for m in registry.collect() if m.name == "mileage_monitor_drift_score" for s in m.samples
    ]
    assert 0 < len(drift) <= 5 and all(
        set(s.labels) == {"pipeline", "model", "version", "feature"} for s in drift
    )
    margin = _sample(
        registry,
        "mileage_monitor_slo_margin",
        {"pipeline": "cancer", "model": "cancer", "version": "1"},
    )
    assert margin is not None and margin < 0  # the broken batch broke the SLO
    (rerun,) = [r for r in daemon.run_once() if r["job"] == "monitor:cancer"]
    again = json.loads(rerun["detail"])
    assert again["batches"] == 0 and again["runs_read"] == 0  # idempotent: nothing twice


@pytest.fixture
def tick_job() -> dict[str, Any]:
    """A job kind that does nothing, at a cadence the test can change."""
    cadence = {"tick:x": 3600.0}
    return {
        "cadence": cadence,
        "providers": [lambda d: [JobSpec(job, "tick", every) for job, every in cadence.items()]],
        "runners": {"tick": lambda d, spec: {"ok": True}},
    }


def _next_run(d: Daemon, job_id: str) -> Any:
    return d._scheduler.get_job(job_id).next_run_time


def test_resync_keeps_the_next_run_of_unchanged_jobs(
    sqlite_store: TraceStore, tick_job: dict[str, Any]
) -> None:
    from datetime import UTC, datetime, timedelta

    d = Daemon(
        _settings(),
        sqlite_store,
        registry=CollectorRegistry(),
        providers=tick_job["providers"],
        runners=tick_job["runners"],
    )
    d.lead()
    try:
        d._scheduler.pause()
        due = datetime.now(UTC) - timedelta(seconds=1)  # due, not yet handed out
        d._scheduler.modify_job("tick:x", next_run_time=due)
        assert d.sync_jobs() == ["tick:x"]
        assert _next_run(d, "tick:x") == due  # a resync must not skip the due run
        tick_job["cadence"]["tick:x"] = 1800.0
        tick_job["cadence"]["tick:y"] = 60.0
        d.sync_jobs()
        nxt = _next_run(d, "tick:x")
        assert nxt > datetime.now(UTC) and nxt.timestamp() % 1800 == 0  # rescheduled, aligned
        assert _next_run(d, "tick:y").timestamp() % 60 == 0
        del tick_job["cadence"]["tick:y"]
        d.sync_jobs()
        assert [j.id for j in d._scheduler.get_jobs()] == ["tick:x"]
    finally:
        d.close()


def test_a_slot_missed_while_down_runs_once_after_a_restart(
    sqlite_store: TraceStore, tick_job: dict[str, Any]
) -> None:
    from datetime import UTC, datetime

    first = Daemon(
        _settings(),
        sqlite_store,
        registry=CollectorRegistry(),
        providers=tick_job["providers"],
        runners=tick_job["runners"],
    )
    first.lead()
    first._scheduler.pause()
    # the daemon was down when this hour's slot fell due (as the job store then records it)
    slot = int(time.time() // 3600 * 3600)
    first._scheduler.modify_job("tick:x", next_run_time=datetime.fromtimestamp(slot, UTC))
    first.close()
    second = Daemon(
        _settings(),
        sqlite_store,
        registry=CollectorRegistry(),
        providers=tick_job["providers"],
        runners=tick_job["runners"],
    )
    second.lead()

    def finished() -> list[Any]:
        with sqlite_store.connect() as conn:
            return list(
                conn.execute(select(t.job_runs).where(t.job_runs.c.status != "running")).all()
            )

    try:
        rows = _wait(finished, timeout=20)
    finally:
        second.close()
    assert [(r.job_id, r.slot_ms, r.status) for r in rows] == [("tick:x", slot * 1000, "succeeded")]


def test_job_health_reads_the_latest_runs_of_every_job(any_store: TraceStore) -> None:
    """What the scrape reads by index seeks equals the whole-table answer."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    base = datetime(2026, 11, 20, tzinfo=UTC)
    statuses = {  # job -> statuses of its runs, oldest first
        "collect:mlflow:1": ["succeeded", "failed", "succeeded", "running"],
        "monitor:churn": ["succeeded", "succeeded", "failed", "abandoned"],
        "monitor:dead": ["failed", "failed"],
        "monitor:new": ["running"],
    }
    rows = [
        {
            "job_id": job,
            "kind": job.split(":")[0],
            "slot_ms": k * 300_000,
            "status": status,
            "attempts": 1,
            "owner": "test:1",
            "started_at": base + timedelta(minutes=5 * k),
            "finished_at": None
            if status == "running"
            else base + timedelta(minutes=5 * k, seconds=7),
        }
        for job, runs in statuses.items()
        for k, status in enumerate(runs)
    ]
    with any_store.begin() as conn:
        conn.execute(insert(t.job_runs), rows)
    registry = CollectorRegistry()
    Daemon(_settings(), any_store, registry=registry)

    def sample(name: str, job: str) -> float | None:
        return registry.get_sample_value(name, {"mileage_job": job})

    last_ok = "mileage_job_last_success_timestamp_seconds"
    assert (
        sample(last_ok, "collect:mlflow:1") == (base + timedelta(minutes=10, seconds=7)).timestamp()
    )
    assert sample(last_ok, "monitor:churn") == (base + timedelta(minutes=5, seconds=7)).timestamp()
    assert sample(last_ok, "monitor:dead") is None and sample(last_ok, "monitor:new") is None
    failed = "mileage_job_last_run_failed"
    assert [sample(failed, job) for job in statuses] == [0.0, 1.0, 1.0, None]


def test_a_run_that_waited_for_a_worker_claims_the_slot_it_was_scheduled_for(
    sqlite_store: TraceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two jobs share one worker and fall due together; the second starts after the next
    slot began, and must still claim its own slot (not the next one, whose run it would skip)."""

    def slow(d: Daemon, spec: JobSpec) -> Mapping[str, Any]:
        time.sleep(1.4)
        return {}

    d = Daemon(
        _settings(daemon_workers=1),
        sqlite_store,
        registry=CollectorRegistry(),
        providers=[lambda d: [JobSpec("slow:a", "slow", 1.0), JobSpec("slow:b", "slow", 1.0)]],
        runners={"slow": slow},
    )
    d.lead()

    def claimed() -> dict[str, list[int]]:
        with sqlite_store.connect() as conn:
            rows = conn.execute(
                select(t.job_runs.c.job_id, t.job_runs.c.slot_ms, t.job_runs.c.started_at).order_by(
                    t.job_runs.c.id
                )
            ).all()
        out: dict[str, list[int]] = {}
        for job, slot, started in rows:
            out.setdefault(job, []).append(slot)
            assert epoch_seconds(started) * 1000 >= slot
        return out if len(out) == 2 else {}

    try:
        first = _wait(claimed, timeout=20)
    finally:
        d.close()
    (a,), (b,) = first["slow:a"][:1], first["slow:b"][:1]
    assert a == b  # both were scheduled for the same slot; the one that waited kept it


@pytest.mark.slow
def test_a_live_scrape_passes_promtool_check_metrics(
    sqlite_store: TraceStore, tmp_path: Path
) -> None:
    """Every family once, counters ending in _total, no reserved label: what Prometheus's own
    linter says about a scrape of a daemon that has checked, alerted and routed."""
    import shutil

    from mileage.monitors import create_monitor
    from mileage.testing.monitoring import cancer_data, monitored_pipeline, register_model

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: install Debian's prometheus", pytrace=False)
    data = cancer_data()
    create_monitor(sqlite_store, monitored_pipeline(data, tmp_path, register_model(data, tmp_path)))
    d = Daemon(
        _settings(home=tmp_path / "home", routers=[]), sqlite_store, registry=CollectorRegistry()
    )
    host, port = d.serve_http("127.0.0.1", 0)
    try:
        d.run_once()
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as resp:
            body = resp.read()
    finally:
        d.close()
    text = body.decode()
    assert 'mileage_job_runs_total{mileage_job="monitor:cancer",status="succeeded"} 1.0' in text
    assert 'mileage_job_runs_total{mileage_job="monitor:cancer",status="failed"} 0.0' in text
    assert "mileage_monitor_slo_healthy{" in text and "mileage_open_alerts{" in text
    assert not re.search(r'[{,]job="', text) and "quantile=" not in text
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, check=False
    )
    assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), (
        lint.stdout.decode() + lint.stderr.decode()
    )
