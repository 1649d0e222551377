"""The daemon's HTTP side: /metrics from a snapshot, a bounded pool, job log lines."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from mileage.daemon import Daemon, JobSpec
from mileage.platform.logs import configure_logging
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore


def _tick_daemon(store: TraceStore, calls: list[float], **settings: Any) -> Daemon:
    def runner(d: Daemon, spec: JobSpec) -> Mapping[str, Any]:
        calls.append(time.time())
        return {"ticks": len(calls)}

    return Daemon(
        Settings.load(job_backoff_seconds=0.01, **settings),
        store,
        registry=CollectorRegistry(),
        providers=[lambda d: [JobSpec("tick:a", "tick", 3600)]],
        runners={"tick": runner},
    )


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[bytes, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read(), resp.headers


def _runs(body: bytes) -> float | None:
    for line in body.decode().splitlines():
        if line.startswith("mileage_job_runs_total{") and 'status="succeeded"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def served(sqlite_store: TraceStore) -> Iterator[tuple[Daemon, int, list[float]]]:
    calls: list[float] = []
    daemon = _tick_daemon(
        sqlite_store,
        calls,
        metrics_refresh_seconds=30.0,
        daemon_http_threads=2,
        daemon_http_timeout_seconds=1.0,
    )
    _, port = daemon.serve_http("127.0.0.1", 0)
    try:
        yield daemon, port, calls
    finally:
        daemon.close()


def test_metrics_come_from_a_snapshot_that_a_job_run_refreshes(
    served: tuple[Daemon, int, list[float]],
) -> None:
    daemon, port, _ = served
    body, _ = _get(port, "/metrics")
    assert _runs(body) is None  # nothing ran yet
    rendered = daemon.snapshot.rendered_at
    # Two scrapes in a row serve the same rendering: no work on the request path.
    assert _get(port, "/metrics")[0] == _get(port, "/metrics")[0]
    assert daemon.snapshot.rendered_at == rendered

    daemon.specs()
    daemon.run_job("tick:a", slot_ms=1_000)  # as the scheduler calls it, not run_once
    deadline = time.monotonic() + 10
    while _runs(_get(port, "/metrics")[0]) != 1.0:
        assert time.monotonic() < deadline, "the snapshot was not refreshed after a job run"
        time.sleep(0.1)
    body, _ = _get(port, "/metrics")
    assert b"mileage_metrics_snapshot_timestamp_seconds" in body
    health = json.loads(_get(port, "/healthz")[0])
    assert 0 <= health["metrics_age_seconds"] < 10


def test_counters_come_without_created_series(served: tuple[Daemon, int, list[float]]) -> None:
    daemon, port, _ = served
    daemon.specs()
    daemon.run_job("tick:a", slot_ms=1_000)
    daemon.snapshot.refresh()
    body = _get(port, "/metrics")[0].decode()
    assert "mileage_job_runs_total{" in body
    assert "_created" not in body


def test_rendering_pauses_in_proportion_to_its_cost() -> None:
    """A costly rendering is followed by a pause ten times as long (capped by the refresh
    period), so rendering cannot keep the interpreter from serving scrapes."""
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector

    from mileage.daemon._http import MIN_REFRESH_GAP_SECONDS, MetricsSnapshot

    class Slow(Collector):
        def collect(self) -> Iterator[Any]:
            time.sleep(0.15)
            yield GaugeMetricFamily("slow", "A costly family.", value=1.0)

    registry = CollectorRegistry()
    snapshot = MetricsSnapshot(registry, refresh_seconds=10.0)
    snapshot.refresh()
    assert snapshot.gap_seconds() == MIN_REFRESH_GAP_SECONDS  # cheap: the floor
    registry.register(Slow())
    snapshot.refresh()
    assert 0.15 <= snapshot.last_cost_seconds < 1.0
    assert snapshot.gap_seconds() == pytest.approx(10 * snapshot.last_cost_seconds)
    snapshot.refresh_seconds = 1.2  # never staler than the refresh period
    assert snapshot.gap_seconds() == 1.2


def test_metrics_are_gzipped_for_clients_that_accept_it(
    served: tuple[Daemon, int, list[float]],
) -> None:
    _, port, _ = served
    plain, _ = _get(port, "/metrics")
    packed, headers = _get(port, "/metrics", {"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed) == plain


def test_idle_connections_neither_pin_threads_nor_block_scrapes(
    served: tuple[Daemon, int, list[float]],
) -> None:
    daemon, port, _ = served
    assert daemon._http is not None and daemon._http.process is not None
    exporter = daemon._http.process.pid  # the process that serves the requests

    def threads() -> int:
        status = Path(f"/proc/{exporter}/status").read_text()
        return int(next(x for x in status.splitlines() if x.startswith("Threads:")).split()[1])

    before = threads()
    idle = []
    for _ in range(10):  # each sends half a request line and then nothing
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /metr")
        idle.append(s)
    try:
        time.sleep(0.5)
        assert threads() <= before + 2  # the pool has two workers
        started = time.monotonic()
        body, _ = _get(port, "/healthz")  # waits for the idle ones to time out (1 s each)
        assert json.loads(body)["status"] == "ok"
        assert time.monotonic() - started < 15
        assert threads() <= before + 2
    finally:
        for s in idle:
            s.close()


def test_every_job_run_logs_one_json_line(sqlite_store: TraceStore) -> None:
    calls: list[float] = []
    daemon = _tick_daemon(sqlite_store, calls)
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    try:
        daemon.specs()
        daemon.run_job("tick:a", slot_ms=1_764_928_800_000)
        daemon.run_job("tick:a", slot_ms=1_764_928_800_000)  # the same slot: skipped
    finally:
        daemon.close()
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    jobs = [x for x in lines if x.get("job") == "tick:a"]
    assert [(x["status"], x["slot"]) for x in jobs] == [
        ("succeeded", "2025-12-05T10:00:00.000Z"),
        ("skipped", "2025-12-05T10:00:00.000Z"),
    ]
    assert jobs[0]["level"] == "INFO" and jobs[0]["duration_seconds"] >= 0
    assert jobs[0]["time"].endswith("Z") and "tick:a" in jobs[0]["message"]


def test_text_log_lines_carry_iso_utc_times(sqlite_store: TraceStore) -> None:
    calls: list[float] = []
    daemon = _tick_daemon(sqlite_store, calls)
    out = io.StringIO()
    configure_logging("INFO", "text", stream=out)
    try:
        daemon.specs()
        daemon.run_job("tick:a", slot_ms=1_764_928_800_000)
    finally:
        daemon.close()
        logging.getLogger().handlers.clear()
    line = next(x for x in out.getvalue().splitlines() if "tick:a" in x)
    stamp, level, _ = line.split(" ", 2)
    assert stamp.endswith("Z") and "T" in stamp and level == "INFO"
    assert "slot 2025-12-05T10:00:00.000Z succeeded" in line


_ARENAS_PROBE = r"""
import ctypes, os, re, sys, tempfile, threading
from mileage.daemon._http import limit_arenas
applied = limit_arenas(2)
def churn():
    for _ in range(3000):
        keep = [bytes(700) for _ in range(50)]
        del keep
threads = [threading.Thread(target=churn) for _ in range(8)]
for th in threads: th.start()
for th in threads: th.join()
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
path = tempfile.mktemp()
f = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(f)); libc.fclose(ctypes.c_void_p(f))
print(applied, len(re.findall(r"<heap nr=", open(path).read())))
os.unlink(path)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc arenas: Linux only")
def test_the_daemon_caps_malloc_arenas_unless_the_user_set_them() -> None:
    """Job runs on many threads get at most two glibc arenas (their freed pages otherwise stay
    resident, slot after slot); a MALLOC_ARENA_MAX the user set is left alone."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run(
        [sys.executable, "-c", _ARENAS_PROBE],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    assert out[0] == "True" and int(out[1]) <= 2, out
    out = subprocess.run(
        [sys.executable, "-c", _ARENAS_PROBE],
        env={**env, "MALLOC_ARENA_MAX": "4"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    assert out[0] == "False", out
