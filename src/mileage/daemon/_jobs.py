"""The daemon's jobs: what each kind (collect, metalearner, monitor) schedules and runs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy import select

from mileage.platform.errors import ConfigError
from mileage.platform.metrics import (
    CollectorsSource,
    StoreMetricSource,
)
from mileage.platform.settings import Settings
from mileage.platform.store import schema as t

if TYPE_CHECKING:
    from mileage.daemon._scheduler import Daemon

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


JobRunner: TypeAlias = "Callable[[Daemon, JobSpec], Mapping[str, Any]]"
JobProvider: TypeAlias = "Callable[[Daemon], Iterable[JobSpec]]"


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
    from mileage.collectors.mlflow import collect_on

    collector = COLLECTOR_KINDS[src.kind](src.uri, daemon.settings)
    # read on a worker (processes here, or the cluster), written here: one writer per store
    report = collect_on(daemon.store, collector, daemon.pool)
    daemon.metrics.rows_ingested.labels(src.kind).inc(report.runs_written)
    return {
        "runs_written": report.runs_written,
        "runs_seen": report.runs_seen,
        "warnings": len(report.warnings),
    }


def monitor_jobs(daemon: Daemon) -> list[JobSpec]:
    """One job per registered monitor with a batch source, at the monitor's cadence."""
    from mileage.monitors import cadence_seconds

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

    pool = daemon.pool
    reports, response = monitor_cycle(
        daemon.store,
        spec.params["name"],
        settings=daemon.settings,
        sleep=daemon._sleep,
        pool=pool,
        client=getattr(pool, "client", None),
    )
    out = {
        "batches": len(reports),
        "blocking": sum(1 for r in reports if r.blocking),
        **response.to_dict(),
    }
    if daemon.settings.alertmanager_url and response.alerts.runs:
        # page in the run that found the fault, not one push interval later; best effort:
        # the pager job pushes again anyway
        try:
            out["pushed"] = push_to_alertmanager(daemon, spec.params["name"])
        except Exception as exc:  # a pager outage must not fail the monitor's checks
            log.warning("monitor %s: push to Alertmanager failed: %s", spec.params["name"], exc)
    return out


def pager_jobs(daemon: Daemon) -> list[JobSpec]:
    """The Alertmanager push, when ``MILEAGE_ALERTMANAGER_URL`` is set."""
    if not daemon.settings.alertmanager_url:
        return []
    return [
        JobSpec("pager:alertmanager", "pager", daemon.settings.alertmanager_push_interval_seconds)
    ]


def push_to_alertmanager(daemon: Daemon, pipeline: str | None = None) -> dict[str, Any]:
    """Push the open alerts (and recently closed ones, resolved) and record the outcome for
    /healthz; an unreachable Alertmanager is logged and re-raised for the job's status."""
    from mileage.monitors.alerts import PagerError, push_alerts
    from mileage.platform.store import utcnow

    state = daemon.pager
    state["url"] = daemon.settings.alertmanager_url
    try:
        report = push_alerts(daemon.store, daemon.settings, pipeline=pipeline)
    except PagerError as exc:
        state.update(status="unreachable", error=str(exc), failed_at=utcnow().isoformat())
        log.warning("%s", exc)
        raise
    state.update(status="ok", error=None, pushed_at=utcnow().isoformat())
    return report.to_dict()


def run_pager(daemon: Daemon, spec: JobSpec) -> Mapping[str, Any]:
    """Push Mileage's alerts to Alertmanager (each push keeps them firing a while longer)."""
    return push_to_alertmanager(daemon)


def _monitors_source() -> StoreMetricSource:
    from mileage.monitors import MonitorsSource

    return MonitorsSource()


def _alerts_source() -> StoreMetricSource:
    from mileage.monitors import AlertsSource

    return AlertsSource()


def _mlflow_collector(uri: str, settings: Settings) -> Any:
    from mileage.collectors.mlflow import MlflowCollector

    return MlflowCollector(uri, settings=settings)


def metalearner_jobs(daemon: Daemon) -> list[JobSpec]:
    """The warm-start retraining job, once the trace store holds something to learn from."""
    from mileage.metalearner.warmstart import has_training_data

    if not has_training_data(daemon.store):
        return []
    return [
        JobSpec(
            "metalearner:warmstart", "metalearner", daemon.settings.metalearner_interval_seconds
        )
    ]


def run_metalearner(daemon: Daemon, spec: JobSpec) -> Mapping[str, Any]:
    """Retrain the warm-start ranker when runs arrived since the newest model was trained."""
    from mileage.metalearner.warmstart import latest_signature, train_warmstart, training_signature

    current = training_signature(daemon.store)
    if latest_signature(daemon.store) == current:
        return {"retrained": False, "reason": "no new runs since the last model"}
    client = getattr(daemon.pool, "client", None) if daemon.settings.dask_scheduler else None
    report = train_warmstart(
        daemon.store,
        client=client,
        table_folder=None if client is None else daemon.settings.home / "warmstart-table",
    )
    return {
        "retrained": True,
        "model_id": report.model_id,
        "tasks": report.tasks,
        "configurations": report.configurations,
        "seconds": report.seconds,
    }


def _metalearner_source() -> StoreMetricSource:
    from mileage.metalearner.warmstart import MetalearnerSource

    return MetalearnerSource()


#: Source kind -> factory(uri, settings) of a collector that can re-collect it.
COLLECTOR_KINDS: dict[str, Callable[[str, Settings], Any]] = {"mlflow": _mlflow_collector}
RUNNERS: dict[str, JobRunner] = {
    "collect": run_collect,
    "metalearner": run_metalearner,
    "monitor": run_monitor,
    "pager": run_pager,
}
PROVIDERS: list[JobProvider] = [collect_jobs, metalearner_jobs, monitor_jobs, pager_jobs]
METRIC_SOURCES: list[tuple[str, Callable[[], StoreMetricSource]]] = [
    ("collectors", CollectorsSource),
    ("metalearner", _metalearner_source),
    ("monitors", _monitors_source),
    ("alerts", _alerts_source),
]
