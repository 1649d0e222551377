"""The scheduler: leader election, persisted jobs, slot claims, retries, shutdown."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, disable_created_metrics
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from mileage.daemon._health import JobsSource
from mileage.daemon._http import ExporterProcess, MetricsSnapshot, limit_arenas, stale_bound
from mileage.daemon._jobs import (
    METRIC_SOURCES,
    PROVIDERS,
    RUNNERS,
    JobProvider,
    JobRunner,
    JobSpec,
)
from mileage.daemon._leader import LeaderLock
from mileage.daemon._runbooks import runbooks_page
from mileage.platform.cluster import TaskPool, open_task_pool
from mileage.platform.errors import ConfigError, MileageError
from mileage.platform.logs import iso_utc
from mileage.platform.metrics import (
    MileageMetrics,
    StoreCollector,
    StoreMetricSource,
)
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore, utcnow
from mileage.platform.store import schema as t

log = logging.getLogger(__name__)

_ACTIVE: Daemon | None = None
#: The scheduled time of the run on this worker thread (set by the daemon's executor).
_SCHEDULED = threading.local()
#: What APScheduler calls, by textual reference, so that jobs can be persisted.
JOB_FUNC = "mileage.daemon:scheduled_run"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


#: States of a ``distributed.Client`` that will not run anything again.
_CLIENT_GONE = frozenset({"closing", "closed", "failed"})

#: The default deadline of a job is its interval, but never less than this: a job on a
#: seconds-long cadence is not cut off while it does ordinary work.
MIN_DEFAULT_DEADLINE_SECONDS = 60.0


class DaemonBusyError(MileageError, RuntimeError):
    """Another daemon holds the leader lock of this trace store."""


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
        providers: What to schedule: callables returning job specs (default: collect,
            metalearner and monitor jobs, from the store's sources and monitors).
        runners: Job kind -> callable running one job of that kind (default: the three
            kinds above). Extra kinds are added by passing both.
        pool: Where monitor checks and source reads run (see :attr:`pool`); None: made from
            the settings on first use and closed by :meth:`close`.

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
        providers: Sequence[JobProvider] | None = None,
        runners: Mapping[str, JobRunner] | None = None,
        pool: TaskPool | None = None,
    ) -> None:
        self.settings = settings
        self._pool = pool
        self._owns_pool = pool is None
        self._pool_lock = threading.Lock()
        self.providers: list[JobProvider] = list(PROVIDERS if providers is None else providers)
        self.runners: dict[str, JobRunner] = dict(RUNNERS if runners is None else runners)
        self.store = store
        self.registry = registry or CollectorRegistry()
        self.metrics = MileageMetrics(self.registry)
        sources: list[tuple[str, StoreMetricSource]] = [(n, f()) for n, f in METRIC_SOURCES]
        sources.append(("jobs", JobsSource()))
        self.registry.register(StoreCollector(store, sources))
        self.snapshot = MetricsSnapshot(self.registry, settings.metrics_refresh_seconds)
        self.lock = LeaderLock(store.engine)
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._sleep = sleep
        self._stop = threading.Event()
        self._scheduler: Any = None
        self._specs: dict[str, JobSpec] = {}
        self._http: ExporterProcess | None = None
        #: The last Alertmanager push (status, error, times), for /healthz.
        self.pager: dict[str, Any] = {}

    # -- jobs ----------------------------------------------------------------------------

    @property
    def pool(self) -> TaskPool:
        """Where jobs read and check: the Dask cluster of ``MILEAGE_DASK_SCHEDULER`` when
        set, else local worker processes (``MILEAGE_DAEMON_PROCESSES``, one per core by
        default). Jobs of many pipelines and sources run there at once; their results come
        back here and the daemon alone writes them to the trace store."""
        with self._pool_lock:
            client = getattr(self._pool, "client", None)
            if self._owns_pool and client is not None and client.status in _CLIENT_GONE:
                # the scheduler went away long enough for the client to give up: a closed
                # client never reconnects, so the next run connects afresh
                log.warning(
                    "lost the Dask scheduler (%s, client %s); connecting again",
                    self._pool.where if self._pool else "?",
                    client.status,
                )
                with contextlib.suppress(Exception):
                    assert self._pool is not None
                    self._pool.close()
                self._pool = None
            if self._pool is None:
                self._pool = open_task_pool(
                    self.settings.dask_scheduler,
                    processes=self.settings.daemon_processes,
                    what="the daemon's jobs on Dask",
                )
                log.info("jobs run on %s", self._pool.where)
            return self._pool

    def close_pool(self) -> None:
        """Stop the worker processes (or the cluster client) the daemon made, if any."""
        with self._pool_lock:
            if self._owns_pool and self._pool is not None:
                self._pool.close()
                self._pool = None

    def specs(self) -> list[JobSpec]:
        """Every job the daemon should run now."""
        out: dict[str, JobSpec] = {}
        for provider in self.providers:
            for spec in provider(self):
                out[spec.id] = spec
                self.metrics.job_interval.labels(spec.id).set(spec.interval_seconds)
                # every outcome exists from the start at 0, so "no failure yet" is a value and
                # increase() sees the first failure (a series born at 1 has no increase)
                for status in ("succeeded", "failed", "skipped"):
                    self.metrics.job_runs.labels(spec.id, status)
                self.metrics.job_retries.labels(spec.id)
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
            _log_run(spec, slot_ms, "skipped", 0, 0.0, "slot already claimed")
            return {"job": spec.id, "status": "skipped", "detail": "slot already claimed"}
        started = time.perf_counter()
        self.metrics.job_running.labels(spec.id).inc()
        status, detail, attempts = "failed", "", 0
        deadline = self.settings.job_deadline_seconds or max(
            spec.interval_seconds, MIN_DEFAULT_DEADLINE_SECONDS
        )
        outcome: list[tuple[str, str, int]] = []
        try:
            # The job runs in its own thread and is awaited until its deadline (its slot by
            # default). A Python thread cannot be killed: an overrunning job is recorded as
            # 'overran' and abandoned (collectors are idempotent, so its late writes are
            # harmless), and the scheduler moves on, so later slots still run.
            worker = threading.Thread(
                target=lambda: outcome.append(self._attempts(spec)),
                name=f"mileage-job-{spec.id}",
                daemon=True,
            )
            worker.start()
            worker.join(min(deadline, threading.TIMEOUT_MAX))
            while worker.is_alive() and self._stop.is_set():  # shutting down: let it finish
                worker.join(1.0)
            if outcome:
                status, detail, attempts = outcome[0]
            else:
                status, attempts = "overran", 1
                detail = (
                    f"still running after its deadline of {deadline:g} s; abandoned (its "
                    "thread finishes in the background) so the next slot runs on time. Raise "
                    "MILEAGE_JOB_DEADLINE_SECONDS or the job's interval if it needs longer."
                )
                log.warning("job %s %s", spec.id, detail)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.job_running.labels(spec.id).dec()
            self.metrics.job_duration.labels(spec.kind).observe(elapsed)
            self.metrics.job_last_duration.labels(spec.id).set(elapsed)
            self.metrics.job_runs.labels(spec.id, status).inc()
            self._finish(run_id, status, attempts, detail)
            self.snapshot.touch()
            _log_run(spec, slot_ms, status, attempts, elapsed, detail)
        return {
            "job": spec.id,
            "status": status,
            "attempts": attempts,
            "seconds": round(elapsed, 3),
            "detail": detail,
        }

    def _attempts(self, spec: JobSpec) -> tuple[str, str, int]:
        """Run a job with retries; returns ``(status, detail, attempts)``. Never raises."""
        runner = self.runners.get(spec.kind)
        status, detail, attempts = "failed", "", 0
        for attempts in range(1, self.settings.job_retries + 1):
            try:
                if runner is None:
                    raise ConfigError(
                        f"job {spec.id}: no runner for kind {spec.kind!r}; known: {sorted(self.runners)}"
                    )
                result = runner(self, spec)
                return "succeeded", json.dumps(dict(result), default=str), attempts
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
        return status, detail, attempts

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
        """Run every job once, in order (``mileage daemon --once``).

        Takes the leader lock first, so it never runs a job beside a live daemon and never
        marks that daemon's running jobs abandoned.

        Raises:
            DaemonBusyError: Another daemon leads this trace store.
        """
        held = self.lock.held
        if not self.lock.acquire():
            raise DaemonBusyError(
                "another mileage daemon leads this trace store and runs its jobs; "
                "'daemon --once' ran nothing. Stop that daemon first, or let it run them."
            )
        try:
            self.abandon_stale_runs()  # safe: whoever wrote a 'running' row lost the lock
            now_ms = int(time.time() * 1000)
            results = [self.run_job(spec.id, slot_ms=now_ms) for spec in self.specs()]
            if self.snapshot.running:  # scrapes after this call see these runs
                self.snapshot.refresh()
            if self._http is not None:  # and /healthz their outcome (pager, jobs)
                self._http.write_health()
            return results
        finally:
            if not held:
                self.lock.release()

    def overview(self, now: float | None = None) -> dict[str, Any]:
        """What ``mileage jobs`` shows, read-only: every job with its cadence, latest run and
        next slot, and which replica ran a job last (the leader, as far as the store tells).

        Args:
            now: Unix time to compute the next slots from (the current time by default).

        Returns:
            ``{"jobs": [...], "leader": {...} | None, "now": ...}``; each job has ``job``,
            ``kind``, ``interval_seconds``, ``last_run`` (``started``, ``finished``,
            ``status``, ``seconds``, ``attempts``, ``owner``, ``slot``; None before the first)
            and ``next_slot``, times as Unix seconds.
        """
        from sqlalchemy import func

        from mileage.platform.store import epoch_seconds

        now = time.time() if now is None else now
        runs = t.job_runs
        jobs = []
        with self.store.connect() as conn:
            for spec in sorted(self.specs(), key=lambda s: s.id):
                row = conn.execute(
                    select(
                        runs.c.slot_ms,
                        runs.c.status,
                        runs.c.attempts,
                        runs.c.owner,
                        runs.c.started_at,
                        runs.c.finished_at,
                    )
                    .where(runs.c.job_id == spec.id)
                    .order_by(runs.c.started_at.desc())
                    .limit(1)
                ).first()
                last = None
                if row is not None:
                    started = epoch_seconds(row.started_at)
                    finished = epoch_seconds(row.finished_at) if row.finished_at else None
                    last = {
                        "slot": row.slot_ms / 1000,
                        "status": row.status,
                        "attempts": row.attempts,
                        "owner": row.owner,
                        "started": started,
                        "finished": finished,
                        "seconds": None if finished is None else round(finished - started, 3),
                    }
                interval = spec.interval_seconds
                jobs.append(
                    {
                        "job": spec.id,
                        "kind": spec.kind,
                        "interval_seconds": interval,
                        "last_run": last,
                        # Slots are aligned to the epoch (see sync_jobs).
                        "next_slot": (now // interval + 1) * interval,
                    }
                )
            latest = conn.execute(
                select(runs.c.owner, runs.c.started_at)
                .where(runs.c.started_at == select(func.max(runs.c.started_at)).scalar_subquery())
                .limit(1)
            ).first()
        leader = None
        if latest is not None:
            leader = {"owner": latest.owner, "last_run_started": epoch_seconds(latest.started_at)}
        return {"now": now, "jobs": jobs, "leader": leader}

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
        limit_arenas()  # a long-lived process that runs jobs on many threads
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
        # neighbours are reported, not judged: the daemon keeps checking and storing alerts
        # while Alertmanager or Prometheus are away, and catches up when they are back
        if self.settings.alertmanager_url:
            body["alertmanager"] = dict(self.pager) or {
                "url": self.settings.alertmanager_url,
                "status": "not pushed yet",
            }
        else:
            body["alertmanager"] = {"status": "not configured (MILEAGE_ALERTMANAGER_URL)"}
        return (200 if healthy else 503), {**body, "status": "ok" if healthy else "unhealthy"}

    def serve_http(self, host: str | None = None, port: int | None = None) -> tuple[str, int]:
        """Serve /metrics, /healthz and /runbooks in the background; returns the bound address.

        They are served by an exporter process of their own (see
        :class:`~mileage.daemon._http.ExporterProcess`), so no work in this interpreter can
        delay a scrape. /metrics serves :attr:`snapshot`, which is rendered now and then kept
        fresh by its own thread; /healthz serves :meth:`health`, handed over every second,
        with how long ago Prometheus scraped and how old the snapshot is. Past
        :func:`~mileage.daemon._http.stale_bound` without a fresh snapshot or health, both
        answer 503 (a hung daemon looks down, so the dead-man's alert fires).

        Raises:
            ConfigError: The exporter could not bind ``host:port``.
        """
        # no '<counter>_created' series (process-wide: this process exports the daemon's
        # metrics): 1,500 of 9,700 series at 500 pipelines, which Prometheus does not use
        disable_created_metrics()
        exporter = ExporterProcess(
            self.settings.home,
            self.health,
            self.snapshot.exporter_restarts,
            threads=self.settings.daemon_http_threads,
            timeout=self.settings.daemon_http_timeout_seconds,
            stale_seconds=stale_bound(self.settings.metrics_refresh_seconds),
        )
        self.snapshot.sink = exporter.publish
        self._http = exporter
        try:
            exporter.prepare()
            self.snapshot.start()
            return exporter.start(
                host or self.settings.daemon_host,
                self.settings.daemon_port if port is None else port,
                runbooks_page(),
            )
        except Exception:
            self.snapshot.stop()
            exporter.stop()
            self.snapshot.sink = None
            self._http = None
            raise

    def close(self) -> None:
        """Stop the HTTP server and release the lock."""
        global _ACTIVE
        self.snapshot.stop()
        if self._http is not None:
            self._http.stop()
            self._http = None
            self.snapshot.sink = None
        self.step_down(wait=False)
        self.close_pool()
        if _ACTIVE is self:
            _ACTIVE = None


def _log_run(
    spec: JobSpec, slot_ms: int, status: str, attempts: int, seconds: float, detail: str
) -> None:
    """One INFO line per job run; with ``MILEAGE_LOG_FORMAT=json`` the fields are keys."""
    slot = iso_utc(slot_ms / 1000)
    level = logging.WARNING if status == "failed" else logging.INFO
    log.log(
        level,
        "job %s slot %s %s in %.3f s (%d attempt%s)%s",
        spec.id,
        slot,
        status,
        seconds,
        attempts,
        "" if attempts == 1 else "s",
        f": {detail[:300]}" if status == "failed" else "",
        extra={
            "job": spec.id,
            "kind": spec.kind,
            "slot": slot,
            "status": status,
            "attempts": attempts,
            "duration_seconds": round(seconds, 3),
        },
    )


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
