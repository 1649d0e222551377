"""The /metrics exporter process: it dies with the daemon, says when the daemon stopped
refreshing, is restarted when it crashes, and serves only what the daemon wrote."""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from mileage.daemon._exporter import HEALTH_FILE, METRICS_FILE, Exporter
from mileage.daemon._http import ExporterProcess, remove_orphans
from mileage.platform.errors import ConfigError


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _answers(port: int) -> bool:
    try:
        _get(port, "/healthz")
    except OSError:
        return False
    return True


def _until(predicate: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, f"{what} not within {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - started


class _Health:
    """A daemon's health() that can be made to hang, as a daemon stuck on its store does."""

    def __init__(self) -> None:
        self.free = threading.Event()
        self.free.set()

    def __call__(self) -> tuple[int, dict[str, Any]]:
        self.free.wait()
        return 200, {"status": "ok", "scheduler": "running"}


def _start(home: Path, health: Any, stale_seconds: float) -> ExporterProcess:
    process = ExporterProcess(
        home,
        health,
        Counter("restarts", "Restarts.", registry=CollectorRegistry()),
        threads=2,
        timeout=1.0,
        stale_seconds=stale_seconds,
    )
    process.prepare()
    process.publish(b"up 1\n", b"", time.time())
    process.start("127.0.0.1", 0, b"<html>runbooks</html>")
    return process


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[tuple[ExporterProcess, _Health]]:
    health = _Health()
    process = _start(tmp_path / "home", health, stale_seconds=60.0)
    try:
        yield process, health
    finally:
        health.free.set()
        process.stop()


def test_the_exporter_dies_when_the_daemon_is_killed(tmp_path: Path) -> None:
    # What Daemon.serve_http runs, without a trace store to open (quicker to start).
    script = textwrap.dedent(
        f"""
        import time
        from prometheus_client import CollectorRegistry, Counter
        from mileage.daemon._http import ExporterProcess, remove_orphans
        exporter = ExporterProcess(
            __import__("pathlib").Path("{tmp_path / "home"}"),
            lambda: (200, {{"status": "ok"}}),
            Counter("restarts", "Restarts.", registry=CollectorRegistry()),
            threads=2, timeout=1.0, stale_seconds=60.0,
        )
        exporter.prepare()
        exporter.publish(b"up 1\\n", b"", time.time())
        host, port = exporter.start("127.0.0.1", 0, b"")
        print(port, exporter.process.pid, flush=True)
        time.sleep(60)
        """
    )
    daemon = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert daemon.stdout is not None
        port, exporter = map(int, daemon.stdout.readline().split())
        assert exporter != daemon.pid
        assert _get(port, "/metrics")[0] == 200
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
        took = _until(lambda: not _answers(port), 3.0, "the port closing")
        assert took < 3.0
        _until(lambda: not Path(f"/proc/{exporter}").exists(), 3.0, "the exporter exiting")
    finally:
        daemon.kill()
        daemon.wait()
    # The killed daemon could not remove its hand-over directory; the next one does.
    (left,) = (tmp_path / "home").glob("exporter-*")
    assert remove_orphans(tmp_path / "home") == [left] and not left.exists()


def test_a_hung_daemon_turns_healthz_and_metrics_to_503_until_it_reports_again(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    health = _Health()
    process = _start(tmp_path / "home", health, stale_seconds=2.0)
    request.addfinalizer(process.stop)
    request.addfinalizer(health.free.set)  # finalizers run last in, first out
    assert process.address is not None
    port = process.address[1]
    process.publish(b"up 1\n", b"", time.time())
    assert _get(port, "/metrics") == (200, b"up 1\n")
    code, body = _get(port, "/healthz")
    assert code == 200 and json.loads(body)["status"] == "ok"
    assert json.loads(body)["prometheus"]["last_scrape_seconds_ago"] < 5

    health.free.clear()  # the daemon stops reporting (and rendering)
    _until(lambda: _get(port, "/healthz")[0] == 503, 5.0, "/healthz turning 503")
    body = json.loads(_get(port, "/healthz")[1])
    assert body["status"] == "stale" and "bound 2 s" in body["stale"]
    code, text = _get(port, "/metrics")
    assert code == 503 and (b"not refreshing" in text or b"hung" in text)

    health.free.set()  # it reports again, with a fresh rendering
    process.publish(b"up 2\n", b"", time.time())
    _until(lambda: _get(port, "/metrics") == (200, b"up 2\n"), 5.0, "/metrics serving again")
    assert _get(port, "/healthz")[0] == 200


def test_a_crashed_exporter_is_restarted_on_the_same_port(
    exporter: tuple[ExporterProcess, _Health], caplog: pytest.LogCaptureFixture
) -> None:
    process, _ = exporter
    assert process.address is not None and process.process is not None
    port, first = process.address[1], process.process.pid
    caplog.set_level(logging.WARNING, logger="mileage.daemon._http")
    os.kill(first, signal.SIGKILL)
    _until(
        lambda: process.process is not None and process.process.pid != first,
        5.0,
        "a new exporter",
    )
    assert _get(port, "/metrics") == (200, b"up 1\n")
    assert process.restarts._value.get() == 1
    assert any("exited with status -9" in r.getMessage() for r in caplog.records)


def test_handed_over_files_are_private_and_a_shared_directory_is_refused(
    exporter: tuple[ExporterProcess, _Health], tmp_path: Path
) -> None:
    process, _ = exporter
    assert process.directory is not None and process.address is not None
    assert stat.S_IMODE(process.directory.stat().st_mode) == 0o700
    for name in (METRICS_FILE, HEALTH_FILE):
        assert stat.S_IMODE((process.directory / name).stat().st_mode) == 0o600
    assert _get(process.address[1], "/runbooks") == (200, b"<html>runbooks</html>")

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    with pytest.raises(PermissionError, match="0700"):
        Exporter(shared, 60.0)


def test_a_taken_port_is_a_clear_error(exporter: tuple[ExporterProcess, _Health]) -> None:
    process, _ = exporter
    assert process.address is not None
    other = ExporterProcess(
        process.home,
        lambda: (200, {}),
        Counter("restarts", "Restarts.", registry=CollectorRegistry()),
        threads=1,
        timeout=1.0,
        stale_seconds=60.0,
    )
    with pytest.raises(ConfigError, match="Free the port"):
        other.start("127.0.0.1", process.address[1], b"")
    assert other.directory is None  # cleaned up
