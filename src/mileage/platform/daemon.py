"""``mileage daemon``: scheduled jobs (collect, retrain, monitor), /metrics and /healthz.

One active scheduler per deployment (see :mod:`mileage.platform._leader`); standbys serve
metrics and take over when the leader dies. Jobs are persisted in the trace store's database
(APScheduler's ``SQLAlchemyJobStore``), coalesce runs missed during downtime into one
catch-up run, never run twice at once (``max_instances=1``), and claim each scheduled slot in
``job_runs`` so that two replicas that both believe they lead still run a slot once. A failing
job is retried with exponential backoff, counted, and never stops the scheduler. The first
SIGTERM lets the running job finish; a second abandons it (its work commits in transactions,
so nothing half-written remains).

This module and :mod:`mileage.platform.cli` are the only ones that wire subpackages
together; nothing imports them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import Connection, Select, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mileage.platform._leader import LeaderLock
from mileage.platform.errors import ConfigError
from mileage.platform.metrics import (
    CollectorsSource,
    MileageMetrics,
    StoreCollector,
    StoreMetricSource,
)
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore, epoch_seconds, utcnow
from mileage.platform.store import schema as t

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job.

    Attributes:
        id: Stable id, also the metrics label (``collect:mlflow:3``, ``monitor:churn``).
        kind: What runs it (a key of the daemon's runners).
        interval_seconds: Cadence.
        params: JSON-ready arguments for the runner.
    """

    id: str
    kind: str
    interval_seconds: float
    params: Mapping[str, Any] = field(default_factory=dict)


JobRunner = Callable[["Daemon", JobSpec], Mapping[str, Any]]
JobProvider = Callable[["Daemon"], Iterable[JobSpec]]


# -- built-in jobs ---------------------------------------------------------------------------


def collect_jobs(daemon: Daemon) -> list[JobSpec]:
    """One collection job per MLflow source the trace store knows."""
    with daemon.store.connect() as conn:
        rows = conn.execute(
            select(t.sources.c.id, t.sources.c.kind, t.sources.c.uri).order_by(t.sources.c.id)
        ).all()
    return [
        JobSpec(
            f"collect:{r.kind}:{r.id}",
            "collect",
            daemon.settings.collect_interval_seconds,
            {"source_id": r.id},
        )
        for r in rows
        if r.kind in COLLECTOR_KINDS
    ]


def run_collect(daemon: Daemon, spec: JobSpec) -> Mapping[str, Any]:
    """Run one collection pass of a source."""
    with daemon.store.connect() as conn:
        src = conn.execute(
            select(t.sources).where(t.sources.c.id == spec.params["source_id"])
        ).one_or_none()
    if src is None:
        raise ConfigError(
            f"job {spec.id}: source {spec.params['source_id']} is no longer in the trace store"
        )
    collector = COLLECTOR_KINDS[src.kind](src.uri, daemon.settings)
    report = collector.collect(daemon.store)
    daemon.metrics.rows_ingested.labels(src.kind).inc(report.runs_written)
    return {
        "runs_written": report.runs_written,
        "runs_seen": report.runs_seen,
        "warnings": len(report.warnings),
    }


def monitor_jobs(daemon: Daemon) -> list[JobSpec]:
    """One job per registered monitor with a batch source, at the monitor's cadence."""
    from mileage.monitors._check import cadence_seconds

    with daemon.store.connect() as conn:
        rows = conn.execute(
            select(t.monitors.c.name, t.monitors.c.cadence, t.monitors.c.batches_uri).order_by(
                t.monitors.c.name
            )
        ).all()
    jobs = []
    for r in rows:
        if not r.batches_uri:
            continue
        try:
            interval = cadence_seconds(r.cadence) or daemon.settings.monitor_interval_seconds
        except ConfigError as exc:
            log.warning(
                "monitor %s: %s; using %ss", r.name, exc, daemon.settings.monitor_interval_seconds
            )
            interval = daemon.settings.monitor_interval_seconds
        jobs.append(JobSpec(f"monitor:{r.name}", "monitor", interval, {"name": r.name}))
    return jobs


def run_monitor(daemon: Daemon, spec: JobSpec) -> Mapping[str, Any]:
    """Check a monitor's new batches, then turn findings into alerts, suggestions and
    deliveries to its owner, all in this run (a fault reaches its owner in the same cycle)."""
    from mileage.monitors import monitor_cycle

    reports, response = monitor_cycle(
        daemon.store, spec.params["name"], settings=daemon.settings, sleep=daemon._sleep
    )
    return {
        "batches": len(reports),
        "blocking": sum(1 for r in reports if r.blocking),
        **response.to_dict(),
    }


def _monitors_source() -> StoreMetricSource:
    from mileage.monitors._metrics import MonitorsSource

    return MonitorsSource()


def _alerts_source() -> StoreMetricSource:
    from mileage.monitors._metrics import AlertsSource

    return AlertsSource()


def _mlflow_collector(uri: str, settings: Settings) -> Any:
    from mileage.collectors.mlflow import MlflowCollector

    return MlflowCollector(uri, settings=settings)


def metalearner_jobs(daemon: Daemon) -> list[JobSpec]:
    """The warm-start retraining job, once the trace store holds something to learn from."""
    from mileage.metalearner.traces import has_training_data

    if not has_training_data(daemon.store):
        return []
    return [
        JobSpec(
            "metalearner:warmstart", "metalearner", daemon.settings.metalearner_interval_seconds
        )
    ]


def run_metalearner(daemon: Daemon, spec: JobSpec) -> Mapping[str, Any]:
    """Retrain the warm-start ranker when runs arrived since the newest model was trained."""
    from mileage.metalearner.service import latest_signature, train_warmstart
    from mileage.metalearner.traces import training_signature

    current = training_signature(daemon.store)
    if latest_signature(daemon.store) == current:
        return {"retrained": False, "reason": "no new runs since the last model"}
    report = train_warmstart(daemon.store)
    return {
        "retrained": True,
        "model_id": report.model_id,
        "tasks": report.tasks,
        "configurations": report.configurations,
        "seconds": report.seconds,
    }


def _metalearner_source() -> StoreMetricSource:
    from mileage.metalearner.metrics import MetalearnerSource

    return MetalearnerSource()


#: Source kind -> factory(uri, settings) of a collector that can re-collect it.
COLLECTOR_KINDS: dict[str, Callable[[str, Settings], Any]] = {"mlflow": _mlflow_collector}
RUNNERS: dict[str, JobRunner] = {
    "collect": run_collect,
    "metalearner": run_metalearner,
    "monitor": run_monitor,
}
PROVIDERS: list[JobProvider] = [collect_jobs, metalearner_jobs, monitor_jobs]
METRIC_SOURCES: list[tuple[str, Callable[[], StoreMetricSource]]] = [
    ("collectors", CollectorsSource),
    ("metalearner", _metalearner_source),
    ("monitors", _monitors_source),
    ("alerts", _alerts_source),
]


class JobsSource:
    """Job health from ``job_runs``: survives restarts and is the same on every replica.

    ``job_runs`` gains a row per job and slot (144,000 a day for 500 jobs every 5 minutes), so
    a scrape must not read it all: the jobs are enumerated by skipping along the
    ``(job_id, slot_ms)`` index, and each job's latest runs are read backwards along
    ``(job_id, started_at)``, a few index seeks per job whatever the history.
    """

    def collect(self, conn: Connection, now: float) -> Iterable[Metric]:
        last_ok = GaugeMetricFamily(
            "mileage_job_last_success_timestamp_seconds",
            "Unix time the last successful run of each job finished (dead-man's switch).",
            labels=["job"],
        )
        failed = GaugeMetricFamily(
            "mileage_job_last_run_failed",
            "1 when the most recent finished run of a job failed.",
            labels=["job"],
        )
        for job_id, finished, status in conn.execute(latest_runs_query()):
            if finished is not None:
                last_ok.add_metric([job_id], epoch_seconds(finished))
            if status is not None:
                failed.add_metric([job_id], 1.0 if status == "failed" else 0.0)
        return [last_ok, failed]


def latest_runs_query() -> Select[Any]:
    """Per job in ``job_runs``: when its latest successful run finished, and the status of its
    latest finished run (``succeeded`` or ``failed``)."""
    runs = t.job_runs
    step = runs.alias("step")
    jobs = select(func.min(runs.c.job_id).label("job_id")).cte("jobs", recursive=True)
    jobs = jobs.union_all(
        select(
            select(func.min(step.c.job_id)).where(step.c.job_id > jobs.c.job_id).scalar_subquery()
        ).where(jobs.c.job_id.is_not(None))
    )
    ok, done = runs.alias("ok"), runs.alias("done")
    last_ok = (
        select(ok.c.finished_at)
        .where(ok.c.job_id == jobs.c.job_id, ok.c.status == "succeeded")
        .order_by(ok.c.started_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    last_status = (
        select(done.c.status)
        .where(done.c.job_id == jobs.c.job_id, done.c.status.in_(("succeeded", "failed")))
        .order_by(done.c.started_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(jobs.c.job_id, last_ok.label("finished_at"), last_status.label("status"))
        .where(jobs.c.job_id.is_not(None))
        .order_by(jobs.c.job_id)
    )


# -- the daemon ------------------------------------------------------------------------------


_ACTIVE: Daemon | None = None
#: The scheduled time of the run on this worker thread (set by the daemon's executor).
_SCHEDULED = threading.local()
#: What APScheduler calls, by textual reference, so that jobs can be persisted.
JOB_FUNC = "mileage.platform.daemon:scheduled_run"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _same_schedule(job: Any, spec: JobSpec) -> bool:
    """Whether a scheduled job already runs ``spec`` at its cadence, on epoch-aligned slots."""
    from apscheduler.triggers.interval import IntervalTrigger

    trigger = job.trigger
    return (
        isinstance(trigger, IntervalTrigger)
        and abs(trigger.interval.total_seconds() - spec.interval_seconds) < 1e-6
        and trigger.start_date == _EPOCH
        and job.func_ref == JOB_FUNC
        and list(job.args) == [spec.id]
        and not job.kwargs
    )


def scheduled_run(job_id: str) -> None:
    """Entry point APScheduler calls (by textual reference, so jobs can be persisted).

    The run claims the slot it was scheduled for, which the daemon's executor passes along:
    a run that waited for a worker past the start of its next slot must not take that slot's
    claim, or the next run would be skipped as already done.
    """
    daemon = _ACTIVE
    if daemon is None:  # a persisted job fired in a process that is not a daemon
        log.warning("job %s fired with no active daemon; ignored", job_id)
        return
    scheduled = getattr(_SCHEDULED, "at", None)
    daemon.run_job(job_id, slot_ms=round(scheduled.timestamp() * 1000) if scheduled else None)


class Daemon:
    """Runs Mileage's jobs on a schedule and exposes their health.

    Args:
        settings: Settings (intervals, retries, bind address).
        store: The trace store; jobs and their history live in its database.
        registry: Prometheus registry to fill (a fresh one by default).
        sleep: Injectable pause used between retries (tests pass a no-op).

    Example:
        >>> daemon = Daemon(Settings.load(), TraceStore.open("sqlite:///x.db"))  # doctest: +SKIP
        >>> daemon.run_once()  # every job once, as ``mileage daemon --once`` does  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings,
        store: TraceStore,
        *,
        registry: CollectorRegistry | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry or CollectorRegistry()
        self.metrics = MileageMetrics(self.registry)
        sources: list[tuple[str, StoreMetricSource]] = [(n, f()) for n, f in METRIC_SOURCES]
        sources.append(("jobs", JobsSource()))
        self.registry.register(StoreCollector(store, sources))
        self.lock = LeaderLock(store.engine)
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._sleep = sleep
        self._stop = threading.Event()
        self._scheduler: Any = None
        self._specs: dict[str, JobSpec] = {}
        self._http: WSGIServer | None = None

    # -- jobs ----------------------------------------------------------------------------

    def specs(self) -> list[JobSpec]:
        """Every job the daemon should run now."""
        out: dict[str, JobSpec] = {}
        for provider in PROVIDERS:
            for spec in provider(self):
                out[spec.id] = spec
                self.metrics.job_interval.labels(spec.id).set(spec.interval_seconds)
        self._specs = out
        return list(out.values())

    def run_job(self, job_id: str, slot_ms: int | None = None) -> dict[str, Any]:
        """Claim the slot, run the job with retries, record the outcome. Never raises."""
        spec = self._specs.get(job_id) or {s.id: s for s in self.specs()}.get(job_id)
        if spec is None:
            log.warning("job %s is no longer defined; skipped", job_id)
            return {"job": job_id, "status": "skipped", "detail": "no longer defined"}
        if slot_ms is None:
            interval_ms = int(spec.interval_seconds * 1000)
            slot_ms = int(time.time() * 1000) // interval_ms * interval_ms
        run_id = self._claim(spec, slot_ms)
        if run_id is None:
            self.metrics.job_runs.labels(spec.id, "skipped").inc()
            return {"job": spec.id, "status": "skipped", "detail": "slot already claimed"}
        runner = RUNNERS.get(spec.kind)
        started = time.perf_counter()
        self.metrics.job_running.labels(spec.id).inc()
        status, detail, attempts = "failed", "", 0
        try:
            for attempts in range(1, self.settings.job_retries + 1):
                try:
                    if runner is None:
                        raise ConfigError(
                            f"job {spec.id}: no runner for kind {spec.kind!r}; known: {sorted(RUNNERS)}"
                        )
                    result = runner(self, spec)
                    status, detail = "succeeded", json.dumps(dict(result), default=str)
                    break
                except Exception as exc:  # a job failure must never stop the scheduler
                    detail = f"{type(exc).__name__}: {exc}"
                    log.warning(
                        "job %s attempt %d/%d failed: %s",
                        spec.id,
                        attempts,
                        self.settings.job_retries,
                        detail,
                    )
                    if attempts < self.settings.job_retries and not self._stop.is_set():
                        self.metrics.job_retries.labels(spec.id).inc()
                        self._sleep(self.settings.job_backoff_seconds * 2 ** (attempts - 1))
                    elif self._stop.is_set():
                        break
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.job_running.labels(spec.id).dec()
            self.metrics.job_duration.labels(spec.kind).observe(elapsed)
            self.metrics.job_last_duration.labels(spec.id).set(elapsed)
            self.metrics.job_runs.labels(spec.id, status).inc()
            self._finish(run_id, status, attempts, detail)
        return {
            "job": spec.id,
            "status": status,
            "attempts": attempts,
            "seconds": round(elapsed, 3),
            "detail": detail,
        }

    def _claim(self, spec: JobSpec, slot_ms: int) -> int | None:
        try:
            with self.store.begin() as conn:
                return int(
                    conn.execute(
                        insert(t.job_runs)
                        .values(
                            job_id=spec.id,
                            kind=spec.kind,
                            slot_ms=slot_ms,
                            status="running",
                            attempts=0,
                            owner=self.owner,
                            started_at=utcnow(),
                        )
                        .returning(t.job_runs.c.id)
                    ).scalar_one()
                )
        except IntegrityError:
            return None

    def _finish(self, run_id: int, status: str, attempts: int, detail: str) -> None:
        with self.store.begin() as conn:
            conn.execute(
                update(t.job_runs)
                .where(t.job_runs.c.id == run_id)
                .values(
                    status=status, attempts=attempts, finished_at=utcnow(), detail=detail[:4000]
                )
            )

    def abandon_stale_runs(self) -> int:
        """Mark runs left 'running' by a dead process as 'abandoned'."""
        with self.store.begin() as conn:
            result = conn.execute(
                update(t.job_runs)
                .where(t.job_runs.c.status == "running", t.job_runs.c.owner != self.owner)
                .values(status="abandoned", finished_at=utcnow())
            )
            return int(result.rowcount or 0)

    def run_once(self) -> list[dict[str, Any]]:
        """Run every job once, in order (``mileage daemon --once``)."""
        self.abandon_stale_runs()
        now_ms = int(time.time() * 1000)
        return [self.run_job(spec.id, slot_ms=now_ms) for spec in self.specs()]

    # -- scheduling ------------------------------------------------------------------------

    def _build_scheduler(self) -> Any:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        database = self.store.engine.url.database
        persistent = not (
            self.store.engine.dialect.name == "sqlite" and database in (None, "", ":memory:")
        )
        jobstore = SQLAlchemyJobStore(engine=self.store.engine) if persistent else MemoryJobStore()
        return _scheduler_class(BackgroundScheduler)(
            jobstores={"default": jobstore},
            executors={
                "default": _executor_class(ThreadPoolExecutor)(self.settings.daemon_workers)
            },
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": int(self.settings.misfire_grace_seconds),
            },
            timezone="UTC",
        )

    def sync_jobs(self) -> list[str]:
        """Make the scheduler's jobs match :meth:`specs`: add new jobs, reschedule those whose
        cadence changed, remove those no longer defined.

        A job whose schedule is unchanged is left alone: replacing it would move its next run
        time to the next slot from now, dropping a run that is due but not yet handed out (and,
        on the resync after a restart, the catch-up run of slots missed during downtime).
        """
        from apscheduler.triggers.interval import IntervalTrigger

        wanted = {s.id: s for s in self.specs()}
        defaults = {
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(self.settings.misfire_grace_seconds),
        }
        for job in self._scheduler.get_jobs():
            spec = wanted.get(job.id)
            if spec is None:
                job.remove()
            elif _same_schedule(job, spec):
                wanted.pop(job.id)
                if any(getattr(job, k) != v for k, v in defaults.items()):
                    job.modify(**defaults)  # keeps the next run time
        for spec in wanted.values():
            # Aligned to the epoch, so every replica computes the same slots.
            trigger = IntervalTrigger(seconds=spec.interval_seconds, start_date=_EPOCH)
            self._scheduler.add_job(
                JOB_FUNC,
                trigger=trigger,
                args=[spec.id],
                id=spec.id,
                name=spec.id,
                replace_existing=True,
            )
        return sorted(self._specs)

    def lead(self) -> None:
        """Start scheduling (call after taking the lock)."""
        global _ACTIVE
        _ACTIVE = self
        self.abandon_stale_runs()
        self._scheduler = self._build_scheduler()
        self._scheduler.start(paused=True)
        self.sync_jobs()
        self._scheduler.resume()
        self.metrics.scheduler_leader.set(1)
        self.metrics.scheduler_up.set(1)
        log.info("leading: %d jobs scheduled", len(self._specs))

    def step_down(self, *, wait: bool = True) -> None:
        """Stop scheduling; running jobs finish when ``wait``."""
        if self._scheduler is not None:
            with contextlib.suppress(Exception):
                self._scheduler.shutdown(wait=wait)
            self._scheduler = None
        self.metrics.scheduler_leader.set(0)
        self.metrics.scheduler_up.set(0)
        self.lock.release()

    def run_forever(self, *, poll_seconds: float = 1.0, resync_seconds: float = 60.0) -> None:
        """Lead when the lock is free, stand by otherwise, until :meth:`stop`."""
        last_sync = 0.0
        while not self._stop.is_set():
            if self._scheduler is None:
                if self.lock.acquire():
                    self.lead()
                    last_sync = time.monotonic()
            elif not self.lock.alive():
                log.warning("lost the scheduler lock; standing by")
                self.step_down(wait=False)
            elif time.monotonic() - last_sync > resync_seconds:
                self.sync_jobs()  # new sources or monitors since the last sync
                last_sync = time.monotonic()
            self._stop.wait(poll_seconds)
        self.step_down(wait=True)

    def stop(self) -> None:
        """Ask :meth:`run_forever` to return after the running jobs finish."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        """First SIGTERM/SIGINT: finish the running job and exit; second: abandon it now."""

        def handler(signum: int, _frame: Any) -> None:
            if self._stop.is_set():
                log.warning("second signal: abandoning running jobs")
                with contextlib.suppress(Exception), self.store.begin() as conn:
                    conn.execute(
                        update(t.job_runs)
                        .where(t.job_runs.c.status == "running", t.job_runs.c.owner == self.owner)
                        .values(status="abandoned", finished_at=utcnow())
                    )
                os._exit(128 + signum)
            log.warning("signal %d: finishing running jobs, then exiting", signum)
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    # -- HTTP ----------------------------------------------------------------------------

    def health(self) -> tuple[int, dict[str, Any]]:
        """``(HTTP status, body)`` of /healthz."""
        body: dict[str, Any] = {"leader": self._scheduler is not None, "owner": self.owner}
        try:
            with self.store.connect() as conn:
                conn.execute(select(1))
            body["store"] = "ok"
        except Exception as exc:
            body["store"] = f"unreachable: {type(exc).__name__}"
            return 503, {**body, "status": "unhealthy"}
        running = self._scheduler is not None and bool(self._scheduler.running)
        body["scheduler"] = (
            "running" if running else ("standby" if self._scheduler is None else "stopped")
        )
        healthy = running or self._scheduler is None
        return (200 if healthy else 503), {**body, "status": "ok" if healthy else "unhealthy"}

    def serve_http(self, host: str | None = None, port: int | None = None) -> tuple[str, int]:
        """Serve /metrics and /healthz in a background thread; returns the bound address."""
        metrics_app = make_wsgi_app(self.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == "/healthz":
                code, body = self.health()
                start_response(
                    f"{code} {'OK' if code == 200 else 'Service Unavailable'}",
                    [("Content-Type", "application/json")],
                )
                return [json.dumps(body).encode()]
            return metrics_app(environ, start_response)

        server = make_server(
            host or self.settings.daemon_host,
            self.settings.daemon_port if port is None else port,
            app,
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        threading.Thread(target=server.serve_forever, name="mileage-http", daemon=True).start()
        self._http = server
        return str(server.server_address[0]), int(server.server_address[1])

    def close(self) -> None:
        """Stop the HTTP server and release the lock."""
        global _ACTIVE
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        self.step_down(wait=False)
        if _ACTIVE is self:
            _ACTIVE = None


def _scheduler_class(base: type) -> type:
    """APScheduler's scheduler, minus the pass over due jobs that 3.x makes after shutdown.

    ``shutdown()`` stops the executors, then wakes the scheduler thread, which processes due
    jobs once more: each is handed to a stopped executor (an error per job) and its next run
    time moves on, so a slot that fell due while the daemon was stopping was lost instead of
    running as the catch-up run after the restart. Checking the state under the job stores'
    lock, which ``shutdown()`` holds while it stops the executors, closes that window.
    """
    from apscheduler.schedulers.base import STATE_STOPPED

    class Scheduler(base):
        def _process_jobs(self) -> float | None:
            with self._jobstores_lock:
                if self.state == STATE_STOPPED:
                    return None
                return super()._process_jobs()

    return Scheduler


def _executor_class(base: type) -> type:
    """APScheduler's thread pool executor, telling each run when it was scheduled.

    Jobs are called with their stored arguments only; the scheduled time travels in a
    thread-local set around APScheduler's own ``run_job`` (misfire checks, events unchanged).
    """
    from apscheduler.executors.base import run_job

    def run_scheduled(job: Any, alias: str, run_times: list[datetime], logger: str) -> Any:
        _SCHEDULED.at = run_times[-1] if run_times else None
        try:
            return run_job(job, alias, run_times, logger)
        finally:
            _SCHEDULED.at = None

    class Executor(base):
        def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
            def done(future: Any) -> None:
                exc = future.exception()
                if exc is not None:
                    self._run_job_error(job.id, exc, exc.__traceback__)
                else:
                    self._run_job_success(job.id, future.result())

            self._pool.submit(
                run_scheduled, job, job._jobstore_alias, run_times, self._logger.name
            ).add_done_callback(done)

    return Executor


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None
