"""Typed read models of monitors, their runs and their stored findings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mileage.platform.records import Record


@dataclass(frozen=True)
class MonitorSummary(Record):
    """One monitor with its last run (a row of :func:`list_monitors`).

    Attributes:
        name: Monitor name.
        model: The model URI it watches.
        cadence: How often it runs.
        owner: Who receives its alerts.
        runs: Runs so far.
        last_batch: Batch of the last run.
        last_status: Status of the last run.
        last_run_at: When the last run finished.
    """

    name: str
    model: str | None
    cadence: str | None
    owner: str | None
    runs: int
    last_batch: str | None
    last_status: str | None
    last_run_at: datetime | None


@dataclass(frozen=True)
class MonitorRunSummary(Record):
    """One run of a monitor (a row of :func:`recent_runs`)."""

    id: int
    batch_id: str
    kind: str
    model_version: str | None
    status: str
    n_rows: int | None
    n_findings: int
    n_blocking: int
    finished_at: datetime | None


@dataclass(frozen=True)
class SuiteVersion(Record):
    """One version of a monitor's validation suite (a row of :func:`list_suites`).

    Attributes:
        version: Version number, from 1.
        origin: How it was made (``inferred``, ``edited``...).
        note: Why, as given when it was saved.
        created_at: When it was saved.
    """

    version: int
    origin: str
    note: str | None
    created_at: datetime


@dataclass(frozen=True)
class StoredFinding(Record):
    """A finding as stored (a row of ``monitor_findings``; see :class:`Finding`).

    Attributes:
        id: Finding id.
        run_id: The monitor run that found it.
        monitor_id: The monitor.
        pipeline: The monitor's name.
        batch_id: The batch checked.
        model_version: The model version served.
        check_kind: ``input``, ``validation``, ``drift`` or ``performance``.
        check: What ran.
        column: The column concerned (None for table-level findings).
        slice: The data slice concerned, None for the whole batch.
        statistic: Name of the measured quantity.
        value: The measured value.
        threshold: The limit it was held to.
        severity: ``info``, ``warning`` or ``blocking``.
        message: What is wrong and what to do.
        evidence: The numbers behind it.
        created_at: When it was stored.
    """

    id: int
    run_id: int
    monitor_id: int
    pipeline: str
    batch_id: str
    model_version: str | None
    check_kind: str
    check: str
    column: str | None
    slice: str | None
    statistic: str
    value: float | None
    threshold: float | None
    severity: str
    message: str
    evidence: dict[str, Any]
    created_at: datetime


__all__ = ["MonitorRunSummary", "MonitorSummary", "StoredFinding", "SuiteVersion"]
