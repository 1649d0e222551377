"""``mileage daemon``: scheduled jobs (collect, retrain, monitor), /metrics and /healthz.

One active scheduler per deployment (see :mod:`mileage.daemon._leader`); standbys serve
metrics and take over when the leader dies. Jobs are persisted in the trace store's database
(APScheduler's ``SQLAlchemyJobStore``), coalesce runs missed during downtime into one
catch-up run, never run twice at once (``max_instances=1``), and claim each scheduled slot in
``job_runs`` so that two replicas that both believe they lead still run a slot once. A failing
job is retried with exponential backoff, counted, and never stops the scheduler. The first
SIGTERM lets the running job finish; a second abandons it (its work commits in transactions,
so nothing half-written remains).

This package and :mod:`mileage.cli` are the only ones that wire subpackages together;
nothing imports them.
"""

from __future__ import annotations

from mileage.daemon._jobs import PROVIDERS, RUNNERS, JobProvider, JobRunner, JobSpec
from mileage.daemon._leader import LeaderLock
from mileage.daemon._scheduler import Daemon, DaemonBusyError, scheduled_run

__all__ = [
    "PROVIDERS",
    "RUNNERS",
    "Daemon",
    "DaemonBusyError",
    "JobProvider",
    "JobRunner",
    "JobSpec",
    "LeaderLock",
    "scheduled_run",
]
