"""Job health read from ``job_runs`` at scrape time (the dead-man's switch)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import Connection, Select, func, select

from mileage.platform.metrics import JOB_LABEL
from mileage.platform.store import epoch_seconds
from mileage.platform.store import schema as t

log = logging.getLogger(__name__)


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
            labels=[JOB_LABEL],
        )
        failed = GaugeMetricFamily(
            "mileage_job_last_run_failed",
            "1 when the most recent finished run of a job failed.",
            labels=[JOB_LABEL],
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
