"""The metrics exporter: a small process that serves the daemon's ``/metrics``, ``/healthz`` and
``/runbooks`` from files the daemon writes.

The daemon renders the exposition (thousands of series, over 100 ms of CPU) and runs jobs
(pandas, SQLite writes) in one interpreter; a scrape served from a thread of that interpreter
waits for the GIL behind them (a p95 of 181 ms at 500 pipelines). This process holds no trace
store, runs no jobs and imports the standard library only (the daemon starts it with
``python -I <this file>``, about 50 ms), so nothing the daemon does can delay a scrape.

Hand-over: the daemon writes, in a directory of its own (mode 0700, made with
:func:`tempfile.mkdtemp`), each file as a fresh 0600 temporary file moved into place with
:func:`os.replace`: ``metrics`` and ``metrics.gz`` (the latest rendering, plain and gzipped),
``healthz.json`` (``{"code", "body", "written_at", "metrics_rendered_at"}``, rewritten every
second) and ``runbooks.html``. A reader sees a whole old file or a whole new one, and no other
local user can write there; the exporter refuses a directory that others can write to or that
another user owns.

Staleness: past ``--stale-seconds`` since the snapshot was rendered, or since the daemon last
wrote its health, the daemon is alive but not refreshing (hung, or its interpreter starved):
``/healthz`` and ``/metrics`` both answer 503 saying so. Prometheus then records the target
down and the daemon's series go absent, so the dead-man's alert (``MileageSchedulerDown``, on
``absent(mileage_scheduler_leader)``) fires as for a dead daemon, instead of the last snapshot
claiming forever that a scheduler leads.

Lifetime: the exporter dies with the daemon, including on SIGKILL: on Linux it asks the kernel
for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``), and everywhere a watchdog thread
exits when the parent process is gone (checked every half second). It binds before anything
else and prints ``{"host": ..., "port": ...}`` on one line of stdout; a bind failure is
printed on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

#: What the daemon writes in its hand-over directory (see the module docstring).
METRICS_FILE = "metrics"
METRICS_GZ_FILE = "metrics.gz"
HEALTH_FILE = "healthz.json"
RUNBOOKS_FILE = "runbooks.html"
#: Prometheus' text exposition format (``prometheus_client.CONTENT_TYPE_LATEST``).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: How often the watchdog checks that the daemon still runs.
PARENT_POLL_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1


class BoundedWSGIServer(WSGIServer):
    """A WSGI server with a fixed pool of ``threads`` and a socket timeout per connection.

    When every worker is busy the accept loop waits, so further connections queue in the
    kernel's listen backlog instead of each getting a thread.
    """

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[WSGIRequestHandler],
        *,
        threads: int,
        timeout: float,
    ) -> None:
        super().__init__(address, handler)
        self.connection_timeout = timeout
        self._slots = threading.BoundedSemaphore(threads)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="mileage-http")

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        conn.settimeout(self.connection_timeout)
        return conn, address

    def process_request(self, request: Any, client_address: Any) -> None:
        # Re-checked every second so that shutdown() is not held up by a full pool.
        while not self._slots.acquire(timeout=1.0):
            if getattr(self, "_BaseServer__shutdown_request", False):
                self.shutdown_request(request)
                return
        try:
            self._pool.submit(self._serve, request, client_address)
        except RuntimeError:  # the pool was shut down with the server
            self._slots.release()
            self.shutdown_request(request)

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or went away is routine; the default prints a traceback.
        return None

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


def check_private(directory: Path) -> None:
    """Raise PermissionError unless ``directory`` is owned by this user and closed to others
    (what the daemon's :func:`tempfile.mkdtemp` makes): otherwise another local user could put
    metrics of their own in it."""
    info = directory.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"{directory} is not a directory")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise PermissionError(f"{directory} belongs to another user; refusing to serve from it")
    if info.st_mode & 0o077:
        raise PermissionError(
            f"{directory} is open to other users (mode {stat.S_IMODE(info.st_mode):o}); "
            "it must be 0700"
        )


class _File:
    """One hand-over file, re-read when it was replaced (compared by inode, size and mtime)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: tuple[int, int, int] | None = None
        self._data: bytes | None = None
        self._lock = threading.Lock()

    def read(self) -> bytes | None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        key = (info.st_ino, info.st_size, info.st_mtime_ns)
        with self._lock:
            if key != self._key:
                try:
                    self._data = self.path.read_bytes()
                except FileNotFoundError:
                    return self._data
                self._key = key
            return self._data


class Exporter:
    """Serves the daemon's hand-over files (see the module docstring).

    Args:
        directory: The daemon's hand-over directory.
        stale_seconds: Age of the snapshot or of the daemon's health past which both
            endpoints answer 503.
        runbooks_path: Where the runbooks page is served.
    """

    def __init__(
        self, directory: Path, stale_seconds: float, runbooks_path: str = "/runbooks"
    ) -> None:
        check_private(directory)
        self.runbooks_path = runbooks_path
        self.directory = directory
        self.stale_seconds = stale_seconds
        self._metrics = _File(directory / METRICS_FILE)
        self._gzipped = _File(directory / METRICS_GZ_FILE)
        self._health = _File(directory / HEALTH_FILE)
        self._runbooks = _File(directory / RUNBOOKS_FILE)
        self.last_scrape: float | None = None

    def health(self, now: float | None = None) -> tuple[int, dict[str, Any]]:
        """``(HTTP status, body)`` of /healthz: the daemon's own verdict, with how long ago
        Prometheus scraped, how old the snapshot is, and 503 past the staleness bound."""
        now = time.time() if now is None else now
        raw = self._health.read()
        if raw is None:
            return 503, {"status": "starting", "detail": "the daemon has not reported yet"}
        state = json.loads(raw)
        code, body = int(state["code"]), dict(state["body"])
        body["prometheus"] = (
            {"status": "never scraped"}
            if self.last_scrape is None
            else {"last_scrape_seconds_ago": round(now - self.last_scrape, 1)}
        )
        rendered = state.get("metrics_rendered_at")
        if rendered:
            body["metrics_age_seconds"] = round(now - float(rendered), 3)
        stale = self.staleness(state, now)
        if stale:
            return 503, {**body, "status": "stale", "stale": stale}
        return code, body

    def staleness(self, state: dict[str, Any], now: float) -> str | None:
        """Why the daemon's hand-over is too old to serve, or None."""
        reported = now - float(state["written_at"])
        if reported > self.stale_seconds:
            return (
                f"the daemon last reported {reported:.0f} s ago (bound {self.stale_seconds:g} s): "
                "it is hung or starved; /metrics answers 503 until it reports again"
            )
        rendered = state.get("metrics_rendered_at")
        if rendered and now - float(rendered) > self.stale_seconds:
            return (
                f"the metrics were rendered {now - float(rendered):.0f} s ago (bound "
                f"{self.stale_seconds:g} s): the daemon is not refreshing them; /metrics "
                "answers 503 until it does"
            )
        return None

    def app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """The WSGI application: /metrics, /healthz, /runbooks."""
        path = environ.get("PATH_INFO")
        if path == "/healthz":
            code, state = self.health()
            return _respond(start_response, code, "application/json", json.dumps(state).encode())
        if path == self.runbooks_path:
            page = self._runbooks.read()
            if page is None:
                return _respond(start_response, 404, "text/plain", b"no runbooks page\n")
            return _respond(start_response, 200, "text/html; charset=utf-8", page)
        if path != "/metrics":
            return _respond(start_response, 404, "text/plain", b"not found: try /metrics\n")
        now = time.time()
        self.last_scrape = now
        raw = self._health.read()
        stale = self.staleness(json.loads(raw), now) if raw is not None else None
        if stale:
            return _respond(start_response, 503, "text/plain", f"{stale}\n".encode())
        gzipped = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        body = (self._gzipped if gzipped else self._metrics).read()
        if body is None:
            return _respond(start_response, 503, "text/plain", b"no metrics rendered yet\n")
        headers = [("Content-Encoding", "gzip")] if gzipped else []
        return _respond(start_response, 200, CONTENT_TYPE, body, headers)


def _respond(
    start_response: Callable[..., Any],
    code: int,
    content_type: str,
    body: bytes,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[code]
    start_response(
        f"{code} {reason}",
        [("Content-Type", content_type), ("Content-Length", str(len(body))), *(extra or [])],
    )
    return [body]


def die_with_parent(parent: int) -> None:
    """Exit when the process ``parent`` is no longer this one's parent (it died)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # the watchdog below still works
            pass
    if os.getppid() != parent:  # it died before the request above
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="mileage-exporter-watchdog", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the Mileage daemon's /metrics.")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9464)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--stale-seconds", type=float, default=120.0)
    parser.add_argument("--runbooks-path", default="/runbooks")
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    die_with_parent(args.parent)
    try:
        exporter = Exporter(args.dir, args.stale_seconds, args.runbooks_path)
        server = BoundedWSGIServer(
            (args.host, args.port), _QuietHandler, threads=args.threads, timeout=args.timeout
        )
    except OSError as exc:
        print(f"mileage metrics exporter: {exc}", file=sys.stderr, flush=True)
        return 2
    server.set_app(exporter.app)
    host, port = server.server_address[:2]
    print(json.dumps({"host": str(host), "port": int(port)}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
