"""The daemon's side of ``/metrics``: the snapshot it renders and the exporter it runs.

Rendering the exposition reads the trace store and formats some 12,000 series for 500
pipelines (over 100 ms of CPU). :class:`MetricsSnapshot` renders it on its own thread after
job runs and at a bounded interval, pausing after each rendering in proportion to its cost so
that rendering (which holds the interpreter) cannot crowd out the jobs. Counters are exported
without ``_created`` series (a third more series for nothing Prometheus uses).

Requests are not served here: :class:`ExporterProcess` runs :mod:`mileage.daemon._exporter`
in a process of its own and hands it each rendering, and the daemon's health every second,
as files in a private directory (see that module for the format, the staleness bound and how
it dies with the daemon). A scrape then never waits for this interpreter, whose GIL the jobs
(pandas, SQLite writes) and the rendering hold for up to hundreds of milliseconds. When the
exporter exits on its own, it is started again on the same address and the restart is logged
and counted.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from mileage.daemon import _exporter
from mileage.daemon._exporter import (
    HEALTH_FILE,
    METRICS_FILE,
    METRICS_GZ_FILE,
    RUNBOOKS_FILE,
)
from mileage.platform.errors import ConfigError
from mileage.platform.settings import RUNBOOKS_PATH

log = logging.getLogger(__name__)

#: Shortest pause between two renderings, so a burst of job runs (500 finish within seconds
#: of each other at a slot) costs a few renderings, not one each.
MIN_REFRESH_GAP_SECONDS = 1.0
#: After a rendering that took ``c`` seconds the next waits at least ``c`` times this (but no
#: longer than ``refresh_seconds``): rendering 10,000 series holds the interpreter for most
#: of a second, and re-rendering back to back while job runs finish kept a scrape waiting
#: for it (a p95 of 400 ms at 500 pipelines). Rendering is kept under a tenth of the time.
RENDER_GAP_FACTOR = 10.0


_LIBC: Any = None
#: glibc's ``mallopt`` parameter for the most arenas (``M_ARENA_MAX`` in malloc.h).
_M_ARENA_MAX = -8
#: Arenas the daemon lets glibc make (its default is 8 per core): a job run on a new thread
#: otherwise gets an arena of its own whose freed pages stay resident. Measured over 15 slots
#: at 500 pipelines: +0.39 MiB per slot with 2 arenas, +0.69 with glibc's default (see
#: docs/benchmarks.md).
DAEMON_MALLOC_ARENAS = 2


def _libc() -> Any:
    """glibc through ctypes, or False where there is none (other platforms, musl)."""
    global _LIBC
    if _LIBC is None:
        _LIBC = False
        if sys.platform.startswith("linux"):
            import ctypes
            import ctypes.util

            with contextlib.suppress(OSError, AttributeError):
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                libc.malloc_trim, libc.mallopt  # noqa: B018 (glibc only: musl lacks them)
                _LIBC = libc
    return _LIBC


def limit_arenas(arenas: int = DAEMON_MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process, as ``MALLOC_ARENA_MAX`` would at start;
    a ``MALLOC_ARENA_MAX`` set by the user is left to rule. False where not applied."""
    libc = _libc()
    if not libc or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))


def trim_heap() -> bool:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``); False where
    that is not available.

    A rendering allocates megabytes of short-lived strings, and job runs (pandas frames,
    SQLite rows) do so on a new thread each; glibc keeps what they free in its per-thread
    arenas, so the daemon's resident memory crept up slot after slot although its Python
    heap stayed flat (``tracemalloc``, see docs/benchmarks.md). Called after each rendering;
    the call releases the interpreter while it runs.
    """
    libc = _libc()
    if not libc:
        return False
    libc.malloc_trim(0)
    return True


class MetricsSnapshot:
    """The ``/metrics`` body, rendered off the request path.

    Args:
        registry: What to render.
        refresh_seconds: Longest age of the snapshot while it runs: it is re-rendered at
            least this often, and sooner (at most once per :data:`MIN_REFRESH_GAP_SECONDS`)
            after :meth:`touch`.
    """

    def __init__(self, registry: CollectorRegistry, refresh_seconds: float) -> None:
        self.registry = registry
        self.refresh_seconds = refresh_seconds
        self._body = b""
        self._gzipped = b""
        self.rendered_at = 0.0
        self.last_cost_seconds = 0.0
        self._render_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Called with ``(body, gzipped, rendered_at)`` after each rendering (the hand-over
        #: to the exporter); a failing sink is logged and the next rendering tries again.
        self.sink: Callable[[bytes, bytes, float], None] | None = None
        # Set before each rendering, so the exposition says how old and how costly it is.
        self._age_gauge = Gauge(
            "mileage_metrics_snapshot_timestamp_seconds",
            "Unix time this /metrics snapshot was rendered (scrapes serve the latest).",
            registry=registry,
        )
        self._cost_gauge = Gauge(
            "mileage_metrics_render_seconds",
            "Wall seconds the previous rendering of the /metrics snapshot took.",
            registry=registry,
        )
        #: Counted by :class:`ExporterProcess`.
        self.exporter_restarts = Counter(
            "mileage_metrics_exporter_restarts",
            "Times the /metrics exporter process exited on its own and was started again.",
            registry=registry,
        )

    @property
    def running(self) -> bool:
        """Whether the refresher thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def refresh(self) -> None:
        """Render now (on the calling thread); on failure the previous snapshot stays."""
        with self._render_lock:
            started = time.perf_counter()
            now = time.time()
            self._age_gauge.set(now)
            try:
                body = generate_latest(self.registry)
            except Exception:  # a failed rendering must not take the endpoint down
                log.warning(
                    "rendering /metrics failed; serving the previous snapshot", exc_info=True
                )
                return
            # Level 1: a tenth of the CPU of level 6 and most of the saving on this text.
            self._body, self._gzipped = body, gzip.compress(body, compresslevel=1)
            self.rendered_at = now
            self.last_cost_seconds = time.perf_counter() - started
            self._cost_gauge.set(self.last_cost_seconds)
            if self.sink is not None:
                try:
                    self.sink(self._body, self._gzipped, now)
                except OSError:
                    log.warning("handing /metrics to the exporter failed", exc_info=True)

    def touch(self) -> None:
        """Ask for a rendering soon (called after each job run)."""
        self._wake.set()

    def start(self) -> None:
        """Render once, then keep rendering on a background thread until :meth:`stop`."""
        self.refresh()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="mileage-metrics-snapshot", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the refresher thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.refresh_seconds)
            if self._stop.is_set():
                return
            self._wake.clear()
            self.refresh()
            trim_heap()
            self._stop.wait(self.gap_seconds())

    def gap_seconds(self) -> float:
        """The pause after a rendering: :data:`RENDER_GAP_FACTOR` times its cost, at least
        :data:`MIN_REFRESH_GAP_SECONDS`, at most ``refresh_seconds``."""
        cost = self.last_cost_seconds
        return min(max(MIN_REFRESH_GAP_SECONDS, RENDER_GAP_FACTOR * cost), self.refresh_seconds)

    def age_seconds(self) -> float | None:
        """Seconds since the last rendering (None before the first)."""
        return time.time() - self.rendered_at if self.rendered_at else None


#: How often the daemon writes its health for the exporter (and checks the exporter runs).
HEALTH_WRITE_SECONDS = 1.0
#: How long the exporter may take to start and bind.
EXPORTER_START_SECONDS = 30.0


def stale_bound(refresh_seconds: float) -> float:
    """Seconds without a fresh snapshot (or health) after which the exporter answers 503:
    twelve refresh periods, and never under two minutes, so a rendering slowed by a busy
    slot is not mistaken for a hung daemon."""
    return max(120.0, 12.0 * refresh_seconds)


#: The pid of the daemon that made a hand-over directory.
OWNER_FILE = "daemon.pid"


def remove_orphans(home: Path) -> list[Path]:
    """Remove the hand-over directories in ``home`` whose daemon no longer runs (one killed
    with SIGKILL could not remove its own); returns them. A directory whose owner cannot be
    told is left alone."""
    removed = []
    for directory in home.glob("exporter-*"):
        try:
            pid = int((directory / OWNER_FILE).read_text())
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
        except (OSError, ValueError):  # no owner file yet, or not ours to signal
            continue
    return removed


class ExporterProcess:
    """Runs and supervises the exporter process, and hands it the daemon's bytes.

    Args:
        home: The daemon's state directory; the hand-over directory is made in it (0700) and
            removed by :meth:`stop`.
        health: Returns ``(HTTP status, body)`` of /healthz as the daemon sees it; called
            every :data:`HEALTH_WRITE_SECONDS` on the supervising thread.
        restarts: Counted when the exporter exited on its own and was started again.
        threads, timeout: The exporter's request pool and per-connection socket timeout.
        stale_seconds: The exporter's staleness bound (see :func:`stale_bound`).
    """

    def __init__(
        self,
        home: Path,
        health: Callable[[], tuple[int, dict[str, Any]]],
        restarts: Counter,
        *,
        threads: int,
        timeout: float,
        stale_seconds: float,
    ) -> None:
        self.home = home
        self.health = health
        self.threads = threads
        self.timeout = timeout
        self.stale_seconds = stale_seconds
        self.directory: Path | None = None
        self.address: tuple[str, int] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = restarts
        self._rendered_at: float | None = None
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    # -- hand-over -------------------------------------------------------------------------

    def _write(self, name: str, data: bytes) -> None:
        """Replace ``name`` in the hand-over directory at once (a fresh 0600 file, renamed)."""
        directory = self.directory
        if directory is None:
            return
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            Path(tmp).replace(directory / name)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise

    def publish(self, body: bytes, gzipped: bytes, rendered_at: float) -> None:
        """Hand over a rendering (the snapshot's sink)."""
        with self._write_lock:
            self._write(METRICS_FILE, body)
            self._write(METRICS_GZ_FILE, gzipped)
            self._rendered_at = rendered_at

    def write_health(self) -> None:
        """Hand over the daemon's health now."""
        code, body = self.health()
        state = {
            "code": code,
            "body": body,
            "written_at": time.time(),
            "metrics_rendered_at": self._rendered_at,
        }
        with self._write_lock:
            self._write(HEALTH_FILE, json.dumps(state).encode())

    # -- the process -----------------------------------------------------------------------

    def prepare(self) -> Path:
        """Make the hand-over directory (0700, in ``home``) if it is not made yet, and remove
        those that daemons killed before they could remove their own left behind."""
        if self.directory is None:
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
            remove_orphans(self.home)
            self.directory = Path(tempfile.mkdtemp(prefix="exporter-", dir=self.home))
            self._write(OWNER_FILE, str(os.getpid()).encode())
        return self.directory

    def start(self, host: str, port: int, runbooks: bytes) -> tuple[str, int]:
        """Make the hand-over directory, start the exporter on ``host:port`` and supervise it;
        returns the bound address.

        Raises:
            ConfigError: The exporter could not start (the port is taken, say).
        """
        self.prepare()
        self._write(RUNBOOKS_FILE, runbooks)
        self.write_health()
        self._stop.clear()
        self._ready.clear()
        # The process is started by the supervising thread, which lives as long as the
        # exporter should: PR_SET_PDEATHSIG fires when the thread that started it ends.
        self._thread = threading.Thread(
            target=self._supervise, args=(host, port), name="mileage-exporter", daemon=True
        )
        self._thread.start()
        self._ready.wait(EXPORTER_START_SECONDS + 5)
        if self.address is None:
            error = self._error
            self.stop()
            raise ConfigError(
                f"the /metrics exporter did not start on {host}:{port}: {error}. Free the "
                "port or choose another (--port, MILEAGE_DAEMON_PORT)."
            )
        return self.address

    def _spawn(self, host: str, port: int) -> tuple[str, int]:
        assert self.directory is not None
        process = subprocess.Popen(
            [
                sys.executable,
                "-I",  # the standard library only: no site or PYTHONPATH lookups
                str(Path(_exporter.__file__).resolve()),
                "--dir",
                str(self.directory),
                "--host",
                host,
                "--port",
                str(port),
                "--threads",
                str(self.threads),
                "--timeout",
                str(self.timeout),
                "--stale-seconds",
                str(self.stale_seconds),
                "--runbooks-path",
                RUNBOOKS_PATH,
                "--parent",
                str(os.getpid()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        assert process.stdout is not None
        line = b""
        if select.select([process.stdout], [], [], EXPORTER_START_SECONDS)[0]:
            line = process.stdout.readline()
        process.stdout.close()
        if not line:
            process.kill()
            code = process.wait()
            raise OSError(f"the exporter exited with status {code} before listening")
        bound = json.loads(line)
        self.process = process
        return str(bound["host"]), int(bound["port"])

    def _supervise(self, host: str, port: int) -> None:
        try:
            self.address = self._spawn(host, port)
        except (OSError, ValueError) as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        host, port = self.address  # a restart binds the same port, even if 0 was asked
        while not self._stop.wait(HEALTH_WRITE_SECONDS):
            try:
                self.write_health()
            except Exception:
                log.warning("handing /healthz to the exporter failed", exc_info=True)
            process = self.process
            if process is not None and process.poll() is None:
                continue
            if process is not None:
                log.warning(
                    "the /metrics exporter exited with status %s; starting it again on %s:%d",
                    process.returncode,
                    host,
                    port,
                )
                self.restarts.inc()
                self.process = None
            try:
                self._spawn(host, port)
            except (OSError, ValueError) as exc:
                log.warning("starting the /metrics exporter again failed (%s); retrying", exc)

    def stop(self) -> None:
        """Stop the exporter and remove the hand-over directory."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
        self.address = None
