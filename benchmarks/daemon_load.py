"""Benchmark: the daemon with 500 monitored pipelines on a 5-minute cadence.

What runs: one real registered model (scikit-learn on the breast cancer data, logged and
registered in an MLflow SQLite store, as :mod:`mileage.testing.monitoring` does) and 500
monitors created with ``create_monitor`` in an SQLite trace store (the embedded default), each
with the cadence ``5m``, the shared reference and labels, and its own batch folder. Real data
batches arrive while the daemon runs: before every slot a random share of the pipelines gets
a new batch (held-out rows of the breast cancer data; one in ten with ``mean_radius`` x1000, a
unit change upstream, so alerts open, suggestions are written and alerts resolve). A monitor
run with a new batch validates it, scores it with the model, tests drift, joins labels and
judges performance, then turns findings into alerts and suggestions (routers off: the inbox
only); a run without one reads its state and finds nothing to do.

Accelerated clock: the daemon's real scheduler path runs unchanged (``Daemon.run_forever``:
leader lock, APScheduler's ``BackgroundScheduler`` with the ``SQLAlchemyJobStore`` in the trace
store, coalescing, ``misfire_grace_time``, ``max_instances=1``, epoch-aligned slots claimed in
``job_runs``, the periodic job resync, ``/metrics`` and ``/healthz``), but every duration that
belongs to simulated time is divided by ``--speedup``: the monitors' cadence (through a wrapper
around the monitor job provider; the monitors themselves are registered with ``5m``), the
misfire grace (an hour) and the resync period (a minute). APScheduler reads the real clock, so
a 5-minute slot lasts ``300 / speedup`` real seconds (30 s by default). The speedup is chosen
so that a cycle's real work fits in the accelerated period on 2 cores: a monitor run with
nothing new costs milliseconds, one with a new batch about half a second (both measured before
the phases and reported), so 500 full checks per 5 minutes (some 250 s of CPU in one Python
process) cannot be compressed ten-fold; the share of pipelines that get a new batch before
each slot (``--new-share``, 2%: 10 batches per slot) sets the real work instead. What is
measured is the scheduler's correctness and overhead under that load, not the checks.

Figures (the first measured slot is a warm-up for CPU and memory; the steady state is every
slot after it):

* missed: a due (job, slot) with no run in ``job_runs`` (each run claims the slot it was
  scheduled for); failed runs, skipped claims and APScheduler's own misfire and max-instances
  events are counted too;
* late: a run that started more than ``--late-fraction`` (half) of the cadence after its slot
  was due, on the accelerated clock. All 500 jobs share the cadence and epoch-aligned slots, so
  they fall due together and queue for the workers; the start delay is also reported in real
  seconds, since the time to drain that queue does not shrink with the clock (a delay that is
  a third of an accelerated 30-second slot is a thirtieth of a real 5-minute one);
* CPU: process CPU time per slot and CPU% of one core, sampled every second (the process also
  runs the batch feeder; the CPU spent producing ``/metrics`` is measured
  inside the registry and reported apart); RSS at the start, middle and end of the steady
  state, with its fitted slope (the daemon's process; the exporter process that serves
  ``/metrics`` is reported apart, at the start and end);
* ``/metrics``: scraped over HTTP every 5 real seconds from a separate process, as Prometheus
  does (``serve_http`` on 127.0.0.1, which starts the exporter process; three
  times a 15-second Prometheus scrape interval): p50/p95/max time, size and number of series.
  ``job_runs`` is first filled with ``--history-days`` (1) of past runs of the 500 jobs, as a
  daemon that has been running that long would have.

Baselines, in the same process, on the same store and data, with the same feed of batches,
after the daemon's phase:

* ``plain APScheduler``: what a user would write by hand: the same 500 jobs, the same
  epoch-aligned triggers, executor size (4) and job defaults, on APScheduler's in-memory job
  store, each calling ``monitor_cycle`` directly (no leader lock, no persisted jobs, no slot
  claims, no ``job_runs``, no metrics). Its runs are recorded in memory, each attributed to the
  scheduled time APScheduler reports for it;
* ``APScheduler defaults`` (full run only): the same with ``BackgroundScheduler()``'s own
  defaults (10 worker threads, ``misfire_grace_time`` of 1 second);
* for ``/metrics``: a bare prometheus_client registry serving from memory the same series as
  our latest scrape (parsed outside the timed request) on ``prometheus_client``'s own HTTP
  server, scraped right after ours: the cost of exposition alone under the same load.

Run: ``python benchmarks/daemon_load.py`` (about 10 minutes); ``--quick`` is a smoke run of
under a minute (40 monitors, clock x50, one baseline) that writes
``benchmarks/results/daemon_load_quick.json`` instead of ``daemon_load.json``.
``--tracemalloc`` takes heap snapshots at the start of the steady state and at the end of the
daemon's phase and prints the allocation sites that grew most (it slows the process: use it to
find what grows, not for the table).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import logging
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# The repository root, so that `python benchmarks/<name>.py` finds the `benchmarks` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, machine_line, rss_bytes, table, write_results

os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
warnings.simplefilter("ignore")

CADENCE_SECONDS = 300.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIB = 2**20


# -- setup -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Fleet:
    """The monitored pipelines and the batch files that feed them."""

    root: Path
    store: Any
    names: list[str]
    batches: dict[str, Path]
    pool: dict[str, Path]
    setup_seconds: dict[str, float]


def build_fleet(root: Path, monitors: int) -> Fleet:
    """One registered model, ``monitors`` monitors (cadence 5m), empty batch folders."""
    from mileage.monitors import create_monitor
    from mileage.platform.store import TraceStore
    from mileage.testing.monitoring import cancer_data, monitored_pipeline, register_model

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    data = cancer_data()
    model = register_model(data, root)
    seconds["register_model"] = time.perf_counter() - started
    template = monitored_pipeline(data, root, model, name="template")
    template_batches = Path(str(template.batches_uri))
    pool_dir = root / "pool"
    pool_dir.mkdir()
    pool = {}
    for kind, source in (("clean", "2026-11-20"), ("unit_change", "2026-11-21")):
        pool[kind] = pool_dir / f"{kind}.parquet"
        (template_batches / f"{source}.parquet").rename(pool[kind])
    store = TraceStore.open(f"sqlite:///{root / 'trace.db'}")
    names, batches = [], {}
    started = time.perf_counter()
    for i in range(monitors):
        name = f"pipeline-{i:03d}"
        folder = root / "batches" / name
        folder.mkdir(parents=True)
        create_monitor(
            store,
            dataclasses.replace(template, name=name, batches_uri=str(folder), cadence="5m"),
        )
        names.append(name)
        batches[name] = folder
    seconds["create_monitors"] = time.perf_counter() - started
    return Fleet(root, store, names, batches, pool, seconds)


def preload_history(fleet: Fleet, days: float, now: float) -> int:
    """``job_runs`` rows for ``days`` of past 5-minute slots of every monitor job."""
    from sqlalchemy import insert

    from mileage.platform.store import schema as t

    slots = int(days * 86400 / CADENCE_SECONDS)
    if slots <= 0:
        return 0
    last = int(now // CADENCE_SECONDS) * CADENCE_SECONDS - CADENCE_SECONDS
    rows = []
    for name in fleet.names:
        for k in range(slots):
            slot = last - k * CADENCE_SECONDS
            began = datetime.fromtimestamp(slot + 2.0, UTC)
            rows.append(
                {
                    "job_id": f"monitor:{name}",
                    "kind": "monitor",
                    "slot_ms": int(slot * 1000),
                    "status": "succeeded",
                    "attempts": 1,
                    "owner": "history:0",
                    "started_at": began,
                    "finished_at": began + timedelta(seconds=0.05),
                    "detail": '{"batches": 0}',
                }
            )
    with fleet.store.begin() as conn:
        for i in range(0, len(rows), 20_000):
            conn.execute(insert(t.job_runs), rows[i : i + 20_000])
    return len(rows)


def measure_run_cost(fleet: Fleet, settings: Any, repeat: int) -> dict[str, float]:
    """Wall seconds of one monitor run with nothing new and with one new batch (warms caches)."""
    from mileage.monitors import monitor_cycle

    name = fleet.names[0]
    idle, busy = [], []
    for i in range(repeat):
        feed(fleet, {name: "clean"}, f"warm{i}")
        started = time.perf_counter()
        monitor_cycle(fleet.store, name, settings=settings)
        busy.append(time.perf_counter() - started)
        started = time.perf_counter()
        monitor_cycle(fleet.store, name, settings=settings)
        idle.append(time.perf_counter() - started)
    return {
        "idle_run_seconds": statistics.median(idle[1:] or idle),
        "new_batch_run_seconds": statistics.median(busy[1:] or busy),
    }


def feed(fleet: Fleet, chosen: dict[str, str], batch_id: str) -> None:
    """A new batch file for each chosen pipeline (a hard link: it appears atomically)."""
    for name, kind in chosen.items():
        os.link(fleet.pool[kind], fleet.batches[name] / f"{batch_id}.parquet")


class Heap:
    """``tracemalloc`` snapshots at the start of the steady state and at the end of a phase:
    which allocation sites grew (``--tracemalloc``; slows the process, so figures taken with
    it are for finding leaks, not for the table)."""

    def __init__(self, frames: int = 8) -> None:
        import tracemalloc

        self.frames = frames
        self.first: Any = None
        self.last: Any = None
        tracemalloc.start(frames)

    def take(self) -> Any:
        import gc
        import tracemalloc

        gc.collect()
        return tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )

    def growth(self, top: int = 15) -> list[dict[str, Any]]:
        """The ``top`` allocation sites (by traceback) that grew most between the snapshots."""
        if self.first is None or self.last is None:
            return []
        stats = self.last.compare_to(self.first, "traceback")
        out = []
        for stat in stats[:top]:
            out.append(
                {
                    "kib": round(stat.size_diff / 1024, 1),
                    "blocks": stat.count_diff,
                    "where": [f"{_site(f.filename)}:{f.lineno}" for f in stat.traceback][
                        -self.frames :
                    ],
                }
            )
        return out


def _site(filename: str) -> str:
    """A source file as results should name it: from ``site-packages/`` or the repository
    root on, not with this machine's folders."""
    if "site-packages/" in filename:
        return "site-packages/" + filename.split("site-packages/", 1)[1]
    root = str(Path(__file__).resolve().parents[1]) + "/"
    return filename[len(root) :] if filename.startswith(root) else filename


class Feeder:
    """Before every slot, new batches for a random share of the pipelines."""

    def __init__(self, fleet: Fleet, share: float, fault_share: float, seed: int) -> None:
        self.fleet, self.share, self.fault_share = fleet, share, fault_share
        self.rng = random.Random(seed)
        self.fed = 0
        self.faulty = 0
        self.heap: Heap | None = None
        self.calls = 0
        self.cycles = 0

    def __call__(self, label: str) -> None:
        self.calls += 1
        if self.heap is not None and self.calls == 2:  # the steady state starts
            self.heap.first = self.heap.take()
        if self.heap is not None and self.calls == self.cycles:
            self.heap.last = self.heap.take()
        count = max(1, round(self.share * len(self.fleet.names)))
        faulty = round(self.fault_share * count)
        picked = self.rng.sample(self.fleet.names, count)
        chosen = {name: "unit_change" if i < faulty else "clean" for i, name in enumerate(picked)}
        feed(self.fleet, chosen, label)
        self.fed += count
        self.faulty += faulty


# -- sampling ----------------------------------------------------------------------------------


class Sampler:
    """Process CPU time, RSS and load average once a second."""

    def __init__(self, period: float = 1.0) -> None:
        self.period = period
        self.samples: list[tuple[float, float, int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), time.process_time(), rss_bytes(), os.getloadavg()[0]))
            self._stop.wait(self.period)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


#: The scraper's own process: Prometheus scrapes from outside the daemon, so the client must
#: not compete with the daemon's threads for its interpreter (in one process, the client's
#: own GIL waits were counted as the daemon's latency).
_SCRAPER = r"""
import json, os, sys, time, urllib.request
urls, period, latest = json.loads(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
while True:
    for name, url in urls.items():
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:
                body = resp.read()
        except OSError as exc:
            print(json.dumps({"name": name, "error": str(exc)}), flush=True)
            continue
        elapsed = time.perf_counter() - started
        series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        if name == "mileage":
            with open(latest + ".tmp", "wb") as out:
                out.write(body)
            os.replace(latest + ".tmp", latest)
        row = {"name": name, "t": time.time(), "seconds": elapsed, "bytes": len(body)}
        print(json.dumps({**row, "series": series}), flush=True)
    time.sleep(period)
"""


class Scraper:
    """GET each URL in turn, once per ``period`` real seconds, from a separate process (as
    Prometheus does); records time, size, series."""

    def __init__(
        self,
        urls: dict[str, str],
        period: float = 1.0,
        on_body: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self.urls = urls
        self.period = period
        self.on_body = on_body
        self.results: dict[str, list[dict[str, Any]]] = {k: [] for k in urls}
        self.errors: list[str] = []
        self._latest = Path(tempfile.mkdtemp(prefix="mileage-scraper-")) / "latest"
        self._proc: subprocess.Popen[str] | None = None
        self._thread = threading.Thread(target=self._read, name="bench-scraper", daemon=True)

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            row = json.loads(line)
            name = row.pop("name")
            if "error" in row:
                self.errors.append(f"{name}: {row['error']}")
                continue
            self.results[name].append(row)
            if self.on_body is not None and name == "mileage" and self._latest.exists():
                self.on_body(name, self._latest.read_bytes())

    def __enter__(self) -> Scraper:
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _SCRAPER,
                json.dumps(self.urls),
                str(self.period),
                str(self._latest),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=30)
        self._thread.join(timeout=30)
        shutil.rmtree(self._latest.parent, ignore_errors=True)


class WarningLog(logging.Handler):
    """Counts warnings and errors logged while a phase runs, keeping a few examples."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()
        self.examples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[f"{record.name}:{record.levelname}"] += 1
        if len(self.examples) < 8:
            exc = record.exc_info[1] if record.exc_info else None
            cause = f" ({type(exc).__name__}: {exc})" if exc else ""
            self.examples.append(f"{record.name}: {record.getMessage()[:300]}{cause[:300]}")

    @contextlib.contextmanager
    def capture(self) -> Iterator[WarningLog]:
        root = logging.getLogger()
        root.addHandler(self)
        try:
            yield self
        finally:
            root.removeHandler(self)


Event = tuple[float, int, float | None]  # when, APScheduler event code, scheduled time


def _events(scheduler: Any, into: list[Event]) -> None:
    """Records every scheduler event (small tuples: the list lives as long as the phase)."""
    from apscheduler.events import EVENT_ALL

    def listener(event: Any) -> None:
        times = getattr(event, "scheduled_run_times", None) or [
            getattr(event, "scheduled_run_time", None)
        ]
        scheduled = times[-1].timestamp() if times[-1] is not None else None
        into.append((time.time(), event.code, scheduled))

    scheduler.add_listener(listener, EVENT_ALL)


class MeteredRegistry:
    """Wraps ``CollectorRegistry.collect`` to add up the CPU time spent producing scrapes."""

    @staticmethod
    def create() -> Any:
        from prometheus_client import CollectorRegistry

        class _Registry(CollectorRegistry):
            cpu_seconds = 0.0
            scrapes = 0

            def collect(self) -> Iterator[Any]:
                started = time.thread_time()
                try:
                    yield from super().collect()
                finally:
                    type(self).cpu_seconds += time.thread_time() - started
                    type(self).scrapes += 1

        return _Registry()


# -- phases ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Phase:
    """What one scheduler did over the measured slots."""

    name: str
    interval: float
    slots: list[float]
    runs: list[dict[str, Any]]  # job, slot, started, finished, status
    events: list[Event]
    samples: list[tuple[float, float, int, float]]
    warnings: WarningLog
    fed: int
    faulty: int
    started: float
    stopped: float
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


def _wait_until(moment: float, stop: threading.Event | None = None) -> None:
    while True:
        left = moment - time.time()
        if left <= 0:
            return
        if stop is not None and stop.wait(min(left, 0.5)):
            return
        if stop is None:
            time.sleep(min(left, 0.5))


def _drive(
    name: str,
    interval: float,
    cycles: int,
    feeder: Feeder,
    ready: Callable[[], bool],
) -> tuple[list[float], float]:
    """Wait for the scheduler, then feed batches half a cadence before each measured slot.

    Returns the measured slots and the time to stop (before the slot after the last).
    """
    deadline = time.time() + 120
    while not ready():
        if time.time() > deadline:
            raise RuntimeError(f"{name}: the scheduler did not start within 120 s")
        time.sleep(0.05)
    first = math.ceil((time.time() + 0.2) / interval) * interval
    slots = [first + k * interval for k in range(cycles)]
    for k, slot in enumerate(slots):
        _wait_until(slot - interval / 2)
        feeder(f"{name.replace(' ', '-')}-{k:03d}")
    return slots, slots[-1] + 0.9 * interval


def run_mileage(
    fleet: Fleet,
    settings: Any,
    *,
    speedup: float,
    cycles: int,
    feeder: Feeder,
    scrape_period: float,
) -> Phase:
    """The daemon's real path (``run_forever``) with the monitor jobs' cadence scaled."""
    from sqlalchemy import select

    import mileage.daemon as daemon_module
    from mileage.platform.store import schema as t

    interval = CADENCE_SECONDS / speedup
    events: list[Event] = []

    class LoadDaemon(daemon_module.Daemon):
        def _build_scheduler(self) -> Any:
            scheduler = super()._build_scheduler()
            _events(scheduler, events)
            return scheduler

    def scaled(provider: daemon_module.JobProvider) -> daemon_module.JobProvider:
        def jobs(d: daemon_module.Daemon) -> list[daemon_module.JobSpec]:
            return [
                dataclasses.replace(s, interval_seconds=s.interval_seconds / speedup)
                for s in provider(d)
            ]

        return jobs

    registry = MeteredRegistry.create()
    daemon = LoadDaemon(
        settings,
        fleet.store,
        registry=registry,
        providers=[scaled(p) for p in daemon_module.PROVIDERS],
    )
    warnings_log = WarningLog()
    bare = BareRegistry()
    try:
        _, port = daemon.serve_http("127.0.0.1", 0)
        exporter_pid = daemon._http.process.pid if daemon._http and daemon._http.process else 0
        exporter_rss = [_rss_of(exporter_pid)]
        urls = {
            "mileage": f"http://127.0.0.1:{port}/metrics",
            "bare registry": f"http://127.0.0.1:{bare.port}/metrics",
        }
        with (
            warnings_log.capture(),
            Sampler() as sampler,
            Scraper(urls, scrape_period, on_body=bare.update) as scraper,
        ):
            thread = threading.Thread(
                target=daemon.run_forever,
                kwargs={"poll_seconds": 1.0, "resync_seconds": 60.0 / speedup},
                name="mileage-daemon",
            )
            started = time.time()
            thread.start()

            def ready() -> bool:
                return registry.get_sample_value("mileage_scheduler_leader") == 1.0

            slots, stop_at = _drive("mileage", interval, cycles, feeder, ready)
            _wait_until(stop_at)
            daemon.stop()
            thread.join()
            stopped = time.time()
        exporter_rss.append(_rss_of(exporter_pid))
        scrape_cpu, scrapes_served = type(registry).cpu_seconds, type(registry).scrapes
        quiet = scrape_breakdown(daemon.registry, fleet.store)
        with fleet.store.connect() as conn:
            rows = conn.execute(
                select(
                    t.job_runs.c.job_id,
                    t.job_runs.c.slot_ms,
                    t.job_runs.c.started_at,
                    t.job_runs.c.finished_at,
                    t.job_runs.c.status,
                ).where(t.job_runs.c.owner == daemon.owner)
            ).all()
        skipped = sum(
            s.value
            for m in registry.collect()
            if m.name == "mileage_job_runs"
            for s in m.samples
            if s.name.endswith("_total") and s.labels.get("status") == "skipped"
        )
    finally:
        daemon.close()
        bare.close()
    runs = [
        {
            "job": r.job_id,
            "slot": r.slot_ms / 1000,
            "started": _epoch(r.started_at),
            "finished": _epoch(r.finished_at) if r.finished_at else None,
            "status": r.status,
        }
        for r in rows
    ]
    return Phase(
        "mileage daemon",
        interval,
        slots,
        runs,
        events,
        sampler.samples,
        warnings_log,
        feeder.fed,
        feeder.faulty,
        started,
        stopped,
        {
            "scrapes": scraper.results,
            "scrape_errors": scraper.errors[:10],
            "scrape_cpu_seconds": scrape_cpu,
            "scrapes_served": scrapes_served,
            "quiet_scrape": quiet,
            "skipped_claims": skipped,
            "exporter_rss_mib": exporter_rss,
        },
    )


def _rss_of(pid: int) -> float:
    """Resident MiB of process ``pid`` (the exporter), NaN when it is gone."""
    with contextlib.suppress(OSError, StopIteration):
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        return int(next(x for x in status if x.startswith("VmRSS:")).split()[1]) / 1024
    return math.nan


def scrape_breakdown(registry: Any, store: Any, repeat: int = 5) -> dict[str, Any]:
    """With the scheduler stopped: one scrape's time, the part spent reading the trace store,
    and the largest metric families."""
    from prometheus_client import generate_latest

    from mileage.daemon._health import JobsSource
    from mileage.daemon._jobs import METRIC_SOURCES
    from mileage.platform.metrics import StoreCollector

    store_only = StoreCollector(
        store, [*((n, f()) for n, f in METRIC_SOURCES), ("jobs", JobsSource())]
    )

    def median_ms(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    body = generate_latest(registry)
    families: Counter[str] = Counter(
        line.split(b"{")[0].split(b" ")[0].decode()
        for line in body.splitlines()
        if line and not line.startswith(b"#")
    )
    return {
        "scrape_ms": median_ms(lambda: generate_latest(registry)),
        "store_queries_ms": median_ms(lambda: list(store_only.collect())),
        "series": sum(families.values()),
        "largest_families": families.most_common(8),
    }


class BareRegistry:
    """A bare prometheus_client registry serving, from memory, the series of our latest scrape
    (parsed outside the scrape), on prometheus_client's own HTTP server."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.registry import Collector

        self.families: list[Any] = []
        outer = self

        class Static(Collector):
            def collect(self) -> Iterator[Any]:
                return iter(outer.families)

        registry = CollectorRegistry()
        registry.register(Static())
        self.server, _ = start_http_server(0, addr="127.0.0.1", registry=registry)
        self.port = int(self.server.server_address[1])

    def update(self, name: str, body: bytes) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        if name == "mileage":
            self.families = list(text_string_to_metric_families(body.decode()))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_plain(
    fleet: Fleet,
    settings: Any,
    *,
    speedup: float,
    cycles: int,
    feeder: Feeder,
    defaults: bool,
) -> Phase:
    """The same jobs on a hand-written APScheduler: in-memory job store, no claims."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    from mileage.monitors import monitor_cycle

    interval = CADENCE_SECONDS / speedup
    runs: list[dict[str, Any]] = []
    lock = threading.Lock()
    current = threading.local()

    def job(name: str) -> None:
        started = time.time()
        status = "failed"
        try:
            monitor_cycle(fleet.store, name, settings=settings)
            status = "succeeded"
        except Exception:  # a user's job logs and carries on
            logging.getLogger("plain").exception("monitor %s failed", name)
        current.run = {
            "job": f"monitor:{name}",
            "started": started,
            "finished": time.time(),
            "status": status,
        }

    def attribute(event: Any) -> None:
        """APScheduler reports the run's scheduled time on the worker thread that ran it."""
        run = getattr(current, "run", None)
        if run is not None and run["job"] == event.job_id:
            current.run = None
            run["slot"] = event.scheduled_run_time.timestamp()
            with lock:
                runs.append(run)

    if defaults:
        scheduler = BackgroundScheduler(timezone="UTC")
    else:
        scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(settings.daemon_workers)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": int(settings.misfire_grace_seconds),
            },
            timezone="UTC",
        )
    events: list[Event] = []
    _events(scheduler, events)
    scheduler.add_listener(attribute, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    label = "APScheduler defaults" if defaults else "plain APScheduler"
    warnings_log = WarningLog()
    with warnings_log.capture(), Sampler() as sampler:
        started = time.time()
        scheduler.start(paused=True)
        for name in fleet.names:
            scheduler.add_job(
                job,
                IntervalTrigger(seconds=interval, start_date=EPOCH),
                args=[name],
                id=f"monitor:{name}",
            )
        scheduler.resume()
        slots, stop_at = _drive(label, interval, cycles, feeder, lambda: True)
        _wait_until(stop_at)
        scheduler.shutdown(wait=True)
        stopped = time.time()
    return Phase(
        label,
        interval,
        slots,
        runs,
        events,
        sampler.samples,
        warnings_log,
        feeder.fed,
        feeder.faulty,
        started,
        stopped,
    )


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


# -- figures -----------------------------------------------------------------------------------


def _q(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summarize(phase: Phase, jobs: list[str], late_fraction: float) -> dict[str, Any]:
    """Missed and late runs, CPU and RSS over the measured slots of one phase."""
    from apscheduler.events import (
        EVENT_JOB_ERROR,
        EVENT_JOB_MAX_INSTANCES,
        EVENT_JOB_MISSED,
        EVENT_JOB_SUBMITTED,
    )

    interval = phase.interval
    slot_ms = {round(s * 1000) for s in phase.slots}
    by_key: dict[tuple[str, int], dict[str, Any]] = {}
    duplicates = 0
    for run in phase.runs:
        key = (run["job"], round(run["slot"] * 1000))
        if key in by_key:
            duplicates += 1
        by_key.setdefault(key, run)
    due = [(job, ms) for job in jobs for ms in sorted(slot_ms)]
    ran = [by_key[k] for k in due if k in by_key]
    missed = len(due) - len(ran)
    statuses = Counter(r["status"] for r in ran)
    delays = [r["started"] - r["slot"] for r in ran]
    durations = [r["finished"] - r["started"] for r in ran if r["finished"] is not None]
    late = sum(1 for d in delays if d > late_fraction * interval)
    drain = []
    for ms in sorted(slot_ms):
        ends = [r["finished"] for (_, k), r in by_key.items() if k == ms and r["finished"]]
        drain.append(max(ends) - ms / 1000 if ends else float("nan"))
    codes = Counter(code for _, code, at in phase.events if _in_window(at, slot_ms))
    handed = [
        when - at
        for when, code, at in phase.events
        if at is not None and code == EVENT_JOB_SUBMITTED and _in_window(at, slot_ms)
    ]
    # steady state: from the end of the first measured cycle to the stop
    steady_from = phase.slots[0] + interval
    steady = [s for s in phase.samples if steady_from <= s[0] <= phase.stopped]
    cycles_measured = len(phase.slots) - 1
    cpu = {}
    if len(steady) >= 2:
        span = steady[-1][0] - steady[0][0]
        used = steady[-1][1] - steady[0][1]
        per_second = [
            (b[1] - a[1]) / (b[0] - a[0]) * 100
            for a, b in itertools.pairwise(steady)
            if b[0] > a[0]
        ]
        cpu = {
            "cpu_seconds_per_cycle": used / span * interval,
            "cpu_percent_mean": used / span * 100,
            "cpu_percent_p95": _q(per_second, 0.95),
            "cpu_percent_max": max(per_second),
        }
    rss = [s[2] / MIB for s in steady]
    memory = {}
    if rss:
        times = [(s[0] - steady_from) / interval for s in steady]
        slope = _slope(times, rss)
        half = len(rss) // 2
        memory = {
            "rss_mib_start": rss[0],
            "rss_mib_middle": rss[len(rss) // 2],
            "rss_mib_end": rss[-1],
            "rss_mib_max": max(rss),
            "rss_slope_mib_per_cycle": slope,
            "rss_slope_second_half_mib_per_cycle": _slope(times[half:], rss[half:]),
        }
    return {
        "phase": phase.name,
        "interval_seconds": interval,
        "slots": len(phase.slots),
        "jobs": len(jobs),
        "due_runs": len(due),
        "ran": len(ran),
        "missed": missed,
        "missed_percent": 100 * missed / len(due) if due else float("nan"),
        "statuses": dict(statuses),
        "failed": statuses.get("failed", 0),
        "duplicates": duplicates,
        "outside_window": sum(1 for k in by_key if k[1] not in slot_ms),
        "late": late,
        "late_percent": 100 * late / len(due) if due else float("nan"),
        "late_threshold_seconds": late_fraction * interval,
        "start_delay_seconds": {
            "p50": _q(delays, 0.5),
            "p95": _q(delays, 0.95),
            "max": max(delays, default=float("nan")),
        },
        "slot_drain_seconds": drain,
        "run_seconds": {"p50": _q(durations, 0.5), "p95": _q(durations, 0.95)},
        "scheduler_handout_seconds": {"p50": _q(handed, 0.5), "max": max(handed, default=0.0)},
        "scheduler_events": {
            "missed (misfire)": codes.get(EVENT_JOB_MISSED, 0),
            "max_instances": codes.get(EVENT_JOB_MAX_INSTANCES, 0),
            "error": codes.get(EVENT_JOB_ERROR, 0),
            "submitted": codes.get(EVENT_JOB_SUBMITTED, 0),
        },
        "batches_fed": phase.fed,
        "faulty_batches_fed": phase.faulty,
        "cycles_in_steady_state": cycles_measured,
        **cpu,
        **memory,
        "load_average": [s[3] for s in phase.samples[:: max(1, len(phase.samples) // 20)]],
        "warnings": dict(phase.warnings.counts),
        "warning_examples": phase.warnings.examples,
        "real_seconds": phase.stopped - phase.started,
    }


def _num(value: float | None, digits: int) -> str:
    """A figure for the table; ``-`` where a phase has none (e.g. no steady state)."""
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def _in_window(at: float | None, slot_ms: set[int]) -> bool:
    return at is not None and round(at * 1000) in slot_ms


def _slope(xs: list[float], ys: list[float]) -> float:
    if len(xs) < 2:
        return float("nan")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float("nan")


def scrape_summary(scrapes: list[dict[str, Any]], since: float) -> dict[str, Any]:
    kept = [s for s in scrapes if s["t"] >= since]
    ms = [s["seconds"] * 1000 for s in kept]
    return {
        "scrapes": len(kept),
        "p50_ms": _q(ms, 0.5),
        "p95_ms": _q(ms, 0.95),
        "max_ms": max(ms, default=float("nan")),
        "bytes": kept[-1]["bytes"] if kept else 0,
        "series": kept[-1]["series"] if kept else 0,
    }


# -- main --------------------------------------------------------------------------------------


def main() -> int:  # noqa: PLR0915 - argument parsing and the report table
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 monitors, short phases")
    parser.add_argument("--monitors", type=int, default=None)
    parser.add_argument("--cycles", type=int, default=None, help="measured slots of the daemon")
    parser.add_argument("--baseline-cycles", type=int, default=None)
    parser.add_argument(
        "--defaults-cycles", type=int, default=1, help="measured slots of the defaults baseline"
    )
    parser.add_argument("--speedup", type=float, default=None, help="simulated / real seconds")
    parser.add_argument("--new-share", type=float, default=None, help="pipelines fed per slot")
    parser.add_argument("--fault-share", type=float, default=0.1)
    parser.add_argument("--late-fraction", type=float, default=0.5)
    parser.add_argument("--history-days", type=float, default=None)
    parser.add_argument("--scrape-period", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="report the allocation sites that grew over the daemon's steady state",
    )
    parser.add_argument(
        "--out", default=None, help="results name (default daemon_load, daemon_load_quick)"
    )
    parser.add_argument(
        "--baselines",
        default=None,
        help="comma-separated: plain, defaults, or none (default: both; --quick: plain)",
    )
    parser.add_argument(
        "--dask-workers",
        type=int,
        default=0,
        help="run the daemon's tasks on a LocalCluster of this many worker processes (one "
        "thread each; MILEAGE_DASK_SCHEDULER set to its address); 0: local worker processes",
    )
    parser.add_argument(
        "--daemon-workers", type=int, default=None, help="jobs run at once (MILEAGE_DAEMON_WORKERS)"
    )
    args = parser.parse_args()
    quick = args.quick
    monitors = args.monitors or (40 if quick else 500)
    cycles = args.cycles or (2 if quick else 10)
    baseline_cycles = args.baseline_cycles or (2 if quick else 3)
    speedup = args.speedup or (50.0 if quick else 10.0)
    share = args.new_share if args.new_share is not None else (0.05 if quick else 0.02)
    history = args.history_days if args.history_days is not None else (0.0 if quick else 1.0)
    for name in ("mlflow", "alembic", "great_expectations", "evidently", "apscheduler"):
        logging.getLogger(name).setLevel(logging.ERROR)

    from mileage.platform.settings import Settings

    info = machine()
    root = Path(tempfile.mkdtemp(prefix="mileage-daemon-load-"))
    started = time.perf_counter()
    fleet = build_fleet(root, monitors)
    cluster = None
    extra: dict[str, Any] = {}
    if args.dask_workers:
        from mileage.platform.cluster import start_local_cluster

        cluster = start_local_cluster(args.dask_workers, processes=True)
        extra["dask_scheduler"] = cluster.scheduler_address
    if args.daemon_workers:
        extra["daemon_workers"] = args.daemon_workers
    settings = Settings.load(
        **extra,
        home=root / "home",
        routers=[],
        misfire_grace_seconds=3600.0 / speedup,
        job_backoff_seconds=5.0 / speedup,
    )
    costs = measure_run_cost(fleet, settings, 4 if quick else 6)
    history_rows = preload_history(fleet, history, time.time())
    setup_seconds = time.perf_counter() - started
    print(
        f"setup: {monitors} monitors in {setup_seconds:.1f} s; a run costs "
        f"{costs['idle_run_seconds'] * 1000:.1f} ms with nothing new, "
        f"{costs['new_batch_run_seconds'] * 1000:.0f} ms with a new batch; "
        f"{history_rows} past job runs loaded",
        flush=True,
    )
    jobs = [f"monitor:{n}" for n in fleet.names]
    phases: list[Phase] = []
    feeder = Feeder(fleet, share, args.fault_share, args.seed)
    if args.tracemalloc:
        feeder.heap, feeder.cycles = Heap(), cycles
    phases.append(
        run_mileage(
            fleet,
            settings,
            speedup=speedup,
            cycles=cycles,
            feeder=feeder,
            scrape_period=args.scrape_period,
        )
    )
    heap_growth: list[dict[str, Any]] = []
    if feeder.heap is not None:
        import tracemalloc

        heap_growth = feeder.heap.growth()
        tracemalloc.stop()
        for g in heap_growth:
            print(
                f"heap {g['kib']:+9.1f} KiB {g['blocks']:+7d} blocks  {' < '.join(g['where'][::-1][:4])}"
            )
    print(f"{phases[-1].name}: done", flush=True)
    baselines = (args.baselines or ("plain" if quick else "plain,defaults")).split(",")
    baselines = [] if baselines == ["none"] else baselines
    for n, kind in enumerate(baselines, start=1):
        phases.append(
            run_plain(
                fleet,
                settings,
                speedup=speedup,
                cycles=args.defaults_cycles if kind.strip() == "defaults" else baseline_cycles,
                feeder=Feeder(fleet, share, args.fault_share, args.seed + n),
                defaults=kind.strip() == "defaults",
            )
        )
        print(f"{phases[-1].name}: done", flush=True)
    summaries = [summarize(p, jobs, args.late_fraction) for p in phases]
    ours = phases[0]
    since = ours.slots[0] + ours.interval  # after the first measured cycle
    scrapes = {
        name: scrape_summary(values, since) for name, values in ours.extra["scrapes"].items()
    }
    scrape_cpu = ours.extra["scrape_cpu_seconds"] / max(1, ours.extra["scrapes_served"])
    quiet = ours.extra["quiet_scrape"]
    mine = summaries[0]
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    fleet.store.close()
    shutil.rmtree(root, ignore_errors=True)

    rows = []
    for s in summaries:
        rows.append(
            [
                s["phase"],
                s["due_runs"],
                f"{s['missed']} ({s['missed_percent']:.2f}%)",
                s["failed"],
                f"{s['late']} ({s['late_percent']:.1f}%)",
                f"{s['start_delay_seconds']['p50']:.2f} / {s['start_delay_seconds']['p95']:.2f} "
                f"/ {s['start_delay_seconds']['max']:.2f}",
                _num(s.get("cpu_seconds_per_cycle"), 1),
                _num(s.get("cpu_percent_mean"), 0),
                f"{_num(s.get('rss_mib_start'), 0)} / {_num(s.get('rss_mib_end'), 0)}",
            ]
        )
    text = table(
        [
            "scheduler",
            "due runs",
            "missed",
            "failed",
            f"late (> {args.late_fraction:.0%} of cadence)",
            "start delay s p50 / p95 / max",
            "CPU s per slot",
            "CPU % (1 core = 100)",
            "RSS MiB start / end",
        ],
        rows,
    )
    scrape_rows = [
        [
            name,
            v["scrapes"],
            f"{v['p50_ms']:.1f}",
            f"{v['p95_ms']:.1f}",
            f"{v['max_ms']:.1f}",
            f"{v['bytes'] / 1024:.0f}",
            v["series"],
        ]
        for name, v in scrapes.items()
    ]
    scrape_text = table(
        ["/metrics", "scrapes", "p50 ms", "p95 ms", "max ms", "size KiB", "series"], scrape_rows
    )
    plain = summaries[1] if len(summaries) > 1 else {}
    ratio_cpu = mine.get("cpu_seconds_per_cycle", math.nan) / plain.get(
        "cpu_seconds_per_cycle", math.nan
    )
    scrape_share = (
        ours.extra["scrape_cpu_seconds"] / (mine["cpu_seconds_per_cycle"] * len(ours.slots))
        if mine.get("cpu_seconds_per_cycle")
        else math.nan
    )
    bare = scrapes.get("bare registry", {})
    lines = [
        f"settings: {monitors} monitors, cadence 5 min, clock x{speedup:g} (a slot every "
        f"{ours.interval:g} real s), {cycles} measured slots ({baseline_cycles} per baseline), "
        f"{share:.0%} of pipelines get a new batch before each slot ({args.fault_share:.0%} of "
        f"them faulty), {history_rows} past job runs in job_runs",
        f"run cost: {costs['idle_run_seconds'] * 1000:.1f} ms with nothing new, "
        f"{costs['new_batch_run_seconds'] * 1000:.0f} ms with a new batch",
        f"missed: {mine['missed_percent']:.2f}% (target < 1%)",
        f"memory: RSS {mine.get('rss_mib_start', math.nan):.0f} -> "
        f"{mine.get('rss_mib_middle', math.nan):.0f} -> {mine.get('rss_mib_end', math.nan):.0f} "
        f"MiB, slope {mine.get('rss_slope_mib_per_cycle', math.nan):+.2f} MiB/cycle "
        f"({mine.get('rss_slope_second_half_mib_per_cycle', math.nan):+.2f} over the second half); "
        "exporter process RSS {:.0f} -> {:.0f} MiB".format(*ours.extra["exporter_rss_mib"]),
        f"/metrics: p50 {scrapes['mileage']['p50_ms']:.0f} ms, p95 "
        f"{scrapes['mileage']['p95_ms']:.0f} ms, max {scrapes['mileage']['max_ms']:.0f} ms "
        f"(target < 100 ms); bare registry p50 {bare.get('p50_ms', math.nan):.1f} ms; "
        f"CPU per scrape {scrape_cpu * 1000:.0f} ms, {scrape_share:.0%} of the daemon's CPU",
        f"/metrics with the scheduler stopped: {quiet['scrape_ms']:.0f} ms, of which "
        f"{quiet['store_queries_ms']:.0f} ms reading the trace store; {quiet['series']} series, "
        "largest: " + ", ".join(f"{name} {n}" for name, n in quiet["largest_families"][:3]),
    ]
    if plain:
        lines.append(
            f"daemon / plain APScheduler: CPU per cycle {ratio_cpu:.2f}x, start delay p95 "
            f"{mine['start_delay_seconds']['p95'] / plain['start_delay_seconds']['p95']:.2f}x"
        )
    if cluster is not None:
        lines.append(
            f"tasks ran on a Dask LocalCluster of {args.dask_workers} worker processes "
            f"({cluster.scheduler_address})"
        )
        cluster.close()
    print(machine_line(info))
    print(text)
    print()
    print(scrape_text)
    print()
    for line in lines:
        print(f"* {line}")
    payload = {
        "benchmark": "daemon_load",
        "data": "breast cancer (scikit-learn), held-out rows as batches; one registered "
        "scikit-learn model in an MLflow SQLite store",
        "machine": info,
        "settings": {
            "monitors": monitors,
            "cadence_seconds": CADENCE_SECONDS,
            "speedup": speedup,
            "interval_real_seconds": ours.interval,
            "cycles": cycles,
            "baseline_cycles": baseline_cycles,
            "new_share": share,
            "fault_share": args.fault_share,
            "late_fraction": args.late_fraction,
            "history_days": history,
            "history_rows": history_rows,
            "scrape_period_seconds": args.scrape_period,
            "daemon_workers": settings.daemon_workers,
            "dask_workers": args.dask_workers,
            "misfire_grace_seconds": settings.misfire_grace_seconds,
            "routers": [],
            "quick": quick,
        },
        "setup_seconds": setup_seconds,
        "setup": fleet.setup_seconds,
        "run_cost": costs,
        "phases": summaries,
        "scrapes": scrapes,
        "scrape_cpu_ms": scrape_cpu * 1000,
        "quiet_scrape": quiet,
        "scrape_errors": ours.extra["scrape_errors"],
        "heap_growth": heap_growth,
        "skipped_claims": ours.extra["skipped_claims"],
        "exporter_rss_mib_start_end": ours.extra["exporter_rss_mib"],
        "ratios": {"cpu_per_cycle_daemon_over_plain": ratio_cpu},
        "series": {
            "mileage": [(s[0] - ours.started, s[1], s[2] / MIB, s[3]) for s in ours.samples]
        },
        "table": text,
        "scrape_table": scrape_text,
        "summary": lines,
        "wall_seconds": time.perf_counter() - started,
    }
    path = write_results(args.out or ("daemon_load_quick" if quick else "daemon_load"), payload)
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
