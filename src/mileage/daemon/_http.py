"""The daemon's HTTP server: ``/metrics`` from a snapshot, ``/healthz``, a bounded pool.

Rendering the exposition reads the trace store and formats some 12,000 series for 500
pipelines (over 100 ms of CPU); done per request, a scrape that arrives while jobs run
competes with them for the interpreter and took seconds. :class:`MetricsSnapshot` renders it
on its own thread after job runs and at a bounded interval, and a request copies the latest
bytes, and pauses after each rendering in proportion to its cost, so rendering (which holds
the interpreter) cannot crowd out the requests it is for. Counters are exported without
``_created`` series (a third more series for nothing Prometheus uses).
:class:`BoundedWSGIServer` serves requests on a fixed pool with a socket timeout per
connection, so idle or stalled clients cannot pin an unbounded number of threads.
"""

from __future__ import annotations

import gzip
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

log = logging.getLogger(__name__)

#: Shortest pause between two renderings, so a burst of job runs (500 finish within seconds
#: of each other at a slot) costs a few renderings, not one each.
MIN_REFRESH_GAP_SECONDS = 1.0
#: After a rendering that took ``c`` seconds the next waits at least ``c`` times this (but no
#: longer than ``refresh_seconds``): rendering 10,000 series holds the interpreter for most
#: of a second, and re-rendering back to back while job runs finish kept a scrape waiting
#: for it (a p95 of 400 ms at 500 pipelines). Rendering is kept under a tenth of the time.
RENDER_GAP_FACTOR = 10.0


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
            self._stop.wait(self.gap_seconds())

    def gap_seconds(self) -> float:
        """The pause after a rendering: :data:`RENDER_GAP_FACTOR` times its cost, at least
        :data:`MIN_REFRESH_GAP_SECONDS`, at most ``refresh_seconds``."""
        cost = self.last_cost_seconds
        return min(max(MIN_REFRESH_GAP_SECONDS, RENDER_GAP_FACTOR * cost), self.refresh_seconds)

    def age_seconds(self) -> float | None:
        """Seconds since the last rendering (None before the first)."""
        return time.time() - self.rendered_at if self.rendered_at else None

    def app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """WSGI app serving the snapshot (gzipped when the client accepts it)."""
        if not self.rendered_at:
            self.refresh()
        gzipped = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        body = self._gzipped if gzipped else self._body
        headers = [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))]
        if gzipped:
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", headers)
        return [body]


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
        log.debug("HTTP request from %s failed", client_address, exc_info=True)

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None
