"""Prometheus metrics: what the daemon counts as it works, and what the trace store says at
scrape time.

Names follow Prometheus conventions: prefix ``mileage_``, base units (``_seconds``,
``_ratio``), ``_total`` for counters. Labels stay low-cardinality: job kinds, pipelines,
sources, check kinds, never run or row ids; per-feature labels are capped to the top k.
A scheduled job is labelled ``mileage_job``, never ``job``: Prometheus sets ``job`` to the
scrape target's name, and a clash would rename ours to ``exported_job`` and break every rule
that matches on it.

Every registry is explicit (tests build a fresh one); nothing registers on import.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from mileage.platform.store import TraceStore

log = logging.getLogger(__name__)

#: The label naming a scheduled job (``monitor:churn``); ``job`` belongs to Prometheus.
JOB_LABEL = "mileage_job"

DURATION_BUCKETS = (0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600)


class StoreMetricSource(Protocol):
    """Something that turns trace-store rows into metric families at scrape time."""

    def collect(self, conn: Connection, now: float) -> Iterable[Metric]:
        """Yield metric families read through ``conn``."""
        ...


class MileageMetrics:
    """The metrics the daemon updates while it runs jobs.

    Args:
        registry: Where to register; a fresh ``CollectorRegistry()`` per daemon or test.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.job_runs = Counter(
            "mileage_job_runs",
            "Scheduled job runs by outcome.",
            [JOB_LABEL, "status"],
            registry=registry,
        )
        self.job_retries = Counter(
            "mileage_job_retries", "Retries of failed job attempts.", [JOB_LABEL], registry=registry
        )
        # by job kind, not per job: ten buckets per job would be most of a scrape at 500 monitors
        self.job_duration = Histogram(
            "mileage_job_duration_seconds",
            "Wall time of job runs, by job kind (collect, metalearner, monitor).",
            ["kind"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.job_last_duration = Gauge(
            "mileage_job_last_duration_seconds",
            "Wall time of each job's latest run.",
            [JOB_LABEL],
            registry=registry,
        )
        self.job_interval = Gauge(
            "mileage_job_interval_seconds",
            "Configured cadence of each scheduled job (for dead-man's-switch alerts).",
            [JOB_LABEL],
            registry=registry,
        )
        self.job_running = Gauge(
            "mileage_job_running", "Jobs running now.", [JOB_LABEL], registry=registry
        )
        self.rows_ingested = Counter(
            "mileage_collector_runs_ingested",
            "Runs written by collectors (new or changed).",
            ["kind"],
            registry=registry,
        )
        self.scheduler_leader = Gauge(
            "mileage_scheduler_leader",
            "1 when this replica holds the scheduler lease, 0 on a standby.",
            registry=registry,
        )
        self.scheduler_up = Gauge(
            "mileage_scheduler_up", "1 while the scheduler is running.", registry=registry
        )
        self.build = Info("mileage_build", "Mileage version.", registry=registry)
        from mileage import __version__

        self.build.info({"version": __version__})


class StoreCollector(Collector):
    """Reads the trace store at scrape time and yields the families of every source.

    A failing source is logged and skipped, and ``mileage_metrics_source_up`` says which one,
    so one broken query never empties the whole scrape.
    """

    def __init__(
        self,
        store: TraceStore,
        sources: Iterable[tuple[str, StoreMetricSource]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.sources = list(sources)
        self.clock = clock

    def describe(self) -> list[Metric]:
        return []  # no collect() at registration time

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        up = GaugeMetricFamily(
            "mileage_metrics_source_up",
            "1 when a store metrics source answered.",
            labels=["source"],
        )
        try:
            with self.store.connect() as conn:
                for name, source in self.sources:
                    try:
                        families = list(source.collect(conn, now))
                    except Exception:  # a broken source must not break the scrape
                        log.exception("metrics source %s failed", name)
                        up.add_metric([name], 0)
                        conn.rollback()
                        continue
                    up.add_metric([name], 1)
                    yield from families
        except Exception:
            log.exception("trace store unreachable during scrape")
            for name, _ in self.sources:
                up.add_metric([name], 0)
        yield up


class CollectorsSource:
    """Collector health: per source, runs stored, last pass outcome and lag."""

    def collect(self, conn: Connection, now: float) -> Iterable[Metric]:
        from sqlalchemy import func, select

        from mileage.platform.store import epoch_seconds
        from mileage.platform.store import schema as t

        runs = GaugeMetricFamily(
            "mileage_collector_runs",
            "Runs in the trace store per source.",
            labels=["kind", "source"],
        )
        last_ok = GaugeMetricFamily(
            "mileage_collector_last_success_timestamp_seconds",
            "Unix time the last successful collection pass finished.",
            labels=["kind", "source"],
        )
        lag = GaugeMetricFamily(
            "mileage_collector_lag_seconds",
            "Seconds since the last successful collection pass finished.",
            labels=["kind", "source"],
        )
        failed = GaugeMetricFamily(
            "mileage_collector_last_pass_failed",
            "1 when the most recent collection pass of a source failed.",
            labels=["kind", "source"],
        )
        held = GaugeMetricFamily(
            "mileage_quarantined_records",
            "Records a collector set aside instead of ingesting (see 'mileage status').",
            labels=["kind", "source", "record_kind"],
        )
        counts: dict[int, int] = dict(
            conn.execute(
                select(t.runs.c.source_id, func.count()).group_by(t.runs.c.source_id)
            ).all()
        )
        quarantined: dict[int, dict[str, int]] = {}
        for source_id, record_kind, n in conn.execute(
            select(t.quarantine.c.source_id, t.quarantine.c.kind, func.count()).group_by(
                t.quarantine.c.source_id, t.quarantine.c.kind
            )
        ):
            quarantined.setdefault(source_id, {})[record_kind] = int(n)
        ok = dict(
            conn.execute(
                select(t.collector_passes.c.source_id, func.max(t.collector_passes.c.finished_at))
                .where(t.collector_passes.c.status == "succeeded")
                .group_by(t.collector_passes.c.source_id)
            ).all()
        )
        latest_ids = select(func.max(t.collector_passes.c.id)).group_by(
            t.collector_passes.c.source_id
        )
        latest = dict(
            conn.execute(
                select(t.collector_passes.c.source_id, t.collector_passes.c.status).where(
                    t.collector_passes.c.id.in_(latest_ids)
                )
            ).all()
        )
        for src in conn.execute(select(t.sources.c.id, t.sources.c.kind, t.sources.c.display_name)):
            labels = [src.kind, source_label(src.display_name)]
            runs.add_metric(labels, float(counts.get(src.id, 0)))
            finished = ok.get(src.id)
            if finished is not None:
                stamp = epoch_seconds(finished)
                last_ok.add_metric(labels, stamp)
                lag.add_metric(labels, max(0.0, now - stamp))
            failed.add_metric(labels, 1.0 if latest.get(src.id) == "failed" else 0.0)
            for record_kind, n in sorted(quarantined.get(src.id, {}).items()):
                held.add_metric([*labels, record_kind], float(n))
        return [runs, last_ok, lag, failed, held]


def source_label(display_name: str) -> str:
    """A short, credential-free label for a source: its URI's host and last two path parts."""
    from mileage.platform.store import redact_url

    text = redact_url(display_name)
    if "://" in text:
        scheme, rest = text.split("://", 1)
        host, _, tail = rest.partition("/")  # no host for file paths ("sqlite:////abs/path")
        host = host.rpartition("@")[2]  # no user names in labels
        parts = [p for p in tail.split("/") if p]
        path = "/".join(parts[-2:]) if len(parts) <= 2 else ".../" + "/".join(parts[-2:])
        text = f"{scheme}://{host}" + (f"/{path}" if path else "")
    return text[:120]


__all__ = [
    "JOB_LABEL",
    "CollectorRegistry",
    "CollectorsSource",
    "MileageMetrics",
    "StoreCollector",
    "StoreMetricSource",
    "source_label",
]
