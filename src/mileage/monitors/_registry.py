"""The registry of monitored pipelines in the trace store: monitors, suite versions, runs,
findings and statistics (SQLAlchemy Core, parameterised, on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mileage.monitors._records import (
    MonitorRunSummary,
    MonitorSummary,
    StoredFinding,
    SuiteVersion,
)
from mileage.monitors.checks._check import MonitorConfig
from mileage.monitors.checks._findings import BatchReport, Severity
from mileage.monitors.checks._sources import refuse_stored_password, webhook_variable
from mileage.monitors.checks._suite import check_suite
from mileage.platform.errors import ConfigError, MileageError
from mileage.platform.store import TraceStore, as_utc, utcnow
from mileage.platform.store import schema as t

NAME_RULE = "letters, digits, '.', '_' and '-' (at most 128 characters)"


class MonitorNotFoundError(MileageError, LookupError):
    """No monitored pipeline has that name."""


@dataclass(frozen=True)
class MonitorRecord:
    """A monitored pipeline as stored."""

    id: int
    config: MonitorConfig
    suite_version: int | None
    created_at: datetime
    updated_at: datetime


def _check_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", name):
        raise ConfigError(f"monitor name {name!r} must use {NAME_RULE}.")


def _row_values(config: MonitorConfig) -> dict[str, Any]:
    return {
        "name": config.name,
        "model_uri": config.model_uri,
        "tracking_uri": config.tracking_uri,
        "reference_uri": config.reference_uri,
        "batches_uri": config.batches_uri,
        "labels_uri": config.labels_uri,
        "id_column": config.id_column,
        "cadence": config.cadence,
        "owner": config.owner,
        "config": config.to_dict(),
    }


def refuse_passwords(config: MonitorConfig) -> None:
    """Secrets are never stored: SQL sources with a password must be ``env:`` references, and
    a webhook is named by the environment variable holding its URL, never by the URL."""
    for uri, option in (
        (config.reference_uri, "--reference"),
        (config.batches_uri, "--batches"),
        (config.labels_uri, "--labels"),
    ):
        refuse_stored_password(uri, option)
    webhook_variable(config.webhook_env)


def add_monitor(
    store: TraceStore, config: MonitorConfig, suite: dict[str, Any], *, note: str | None = None
) -> int:
    """Register a monitor with its first suite version.

    Raises:
        ConfigError: The name is invalid or taken.
    """
    _check_name(config.name)
    refuse_passwords(config)
    check_suite(suite)
    now = utcnow()
    with store.begin() as conn:
        exists = conn.execute(
            select(t.monitors.c.id).where(t.monitors.c.name == config.name)
        ).first()
        if exists:
            raise ConfigError(
                f"monitor {config.name!r} already exists; change it with 'mileage monitor edit "
                f"{config.name}' or pick another name."
            )
        monitor_id = int(
            conn.execute(
                insert(t.monitors)
                .values(**_row_values(config), created_at=now, updated_at=now)
                .returning(t.monitors.c.id)
            ).scalar_one()
        )
        _insert_suite(conn, monitor_id, suite, "inferred", note)
    return monitor_id


def _insert_suite(
    conn: Connection, monitor_id: int, spec: dict[str, Any], origin: str, note: str | None
) -> int:
    current = conn.execute(
        select(func.max(t.monitor_suites.c.version)).where(
            t.monitor_suites.c.monitor_id == monitor_id
        )
    ).scalar_one()
    version = int(current or 0) + 1
    conn.execute(
        insert(t.monitor_suites).values(
            monitor_id=monitor_id,
            version=version,
            origin=origin,
            reference_digest=(spec.get("reference") or {}).get("digest"),
            spec=spec,
            note=note,
            created_at=utcnow(),
        )
    )
    return version


def get_monitor(store: TraceStore, name: str) -> MonitorRecord:
    """The monitor called ``name``.

    Raises:
        MonitorNotFoundError: None has that name; the message lists the known ones.
    """
    with store.connect() as conn:
        row = conn.execute(select(t.monitors).where(t.monitors.c.name == name)).first()
        if row is None:
            known = conn.execute(select(t.monitors.c.name).order_by(t.monitors.c.name)).scalars()
            names = ", ".join(list(known)[:20]) or "none yet"
            raise MonitorNotFoundError(
                f"no monitor is called {name!r} (known: {names}); add one with 'mileage "
                "monitor add NAME --reference REF ...'."
            )
        version = conn.execute(
            select(func.max(t.monitor_suites.c.version)).where(
                t.monitor_suites.c.monitor_id == row.id
            )
        ).scalar_one()
    return MonitorRecord(
        int(row.id),
        MonitorConfig.from_dict(dict(row.config)),
        int(version) if version is not None else None,
        row.created_at,
        row.updated_at,
    )


def list_monitors(store: TraceStore) -> list[MonitorSummary]:
    """Every monitor with its last run."""
    last = (
        select(
            t.monitor_runs.c.monitor_id,
            func.max(t.monitor_runs.c.id).label("run_id"),
            func.count().label("runs"),
        )
        .group_by(t.monitor_runs.c.monitor_id)
        .subquery()
    )
    with store.connect() as conn:
        rows = conn.execute(
            select(
                t.monitors.c.name,
                t.monitors.c.model_uri,
                t.monitors.c.cadence,
                t.monitors.c.owner,
                last.c.runs,
                t.monitor_runs.c.batch_id,
                t.monitor_runs.c.status,
                t.monitor_runs.c.finished_at,
            )
            .outerjoin(last, last.c.monitor_id == t.monitors.c.id)
            .outerjoin(t.monitor_runs, t.monitor_runs.c.id == last.c.run_id)
            .order_by(t.monitors.c.name)
        ).all()
    return [
        MonitorSummary(
            name=r.name,
            model=r.model_uri,
            cadence=r.cadence,
            owner=r.owner,
            runs=int(r.runs or 0),
            last_batch=r.batch_id,
            last_status=r.status,
            last_run_at=r.finished_at,
        )
        for r in rows
    ]


def update_monitor(
    store: TraceStore,
    name: str,
    config: MonitorConfig,
    *,
    suite: dict[str, Any] | None = None,
    origin: str = "edited",
    note: str | None = None,
) -> MonitorRecord:
    """Store a changed configuration, and a new suite version when ``suite`` is given."""
    record = get_monitor(store, name)
    refuse_passwords(config)
    if suite is not None:
        check_suite(suite)
    with store.begin() as conn:
        conn.execute(
            update(t.monitors)
            .where(t.monitors.c.id == record.id)
            .values(**_row_values(config), updated_at=utcnow())
        )
        if suite is not None:
            _insert_suite(conn, record.id, suite, origin, note)
    return get_monitor(store, config.name)


def remove_monitor(store: TraceStore, name: str) -> dict[str, int]:
    """Delete a monitor with its suites, runs and findings; returns what was deleted."""
    record = get_monitor(store, name)
    with store.begin() as conn:
        counts = {
            "runs": conn.execute(
                select(func.count()).where(t.monitor_runs.c.monitor_id == record.id)
            ).scalar_one(),
            "findings": conn.execute(
                select(func.count()).where(t.monitor_findings.c.monitor_id == record.id)
            ).scalar_one(),
        }
        for table in (t.monitor_findings,):
            conn.execute(delete(table).where(table.c.monitor_id == record.id))
        run_ids = select(t.monitor_runs.c.id).where(t.monitor_runs.c.monitor_id == record.id)
        conn.execute(delete(t.monitor_statistics).where(t.monitor_statistics.c.run_id.in_(run_ids)))
        conn.execute(delete(t.monitor_runs).where(t.monitor_runs.c.monitor_id == record.id))
        conn.execute(delete(t.monitor_suites).where(t.monitor_suites.c.monitor_id == record.id))
        conn.execute(delete(t.monitors).where(t.monitors.c.id == record.id))
    return {k: int(v) for k, v in counts.items()}


def get_suite(store: TraceStore, monitor_id: int, version: int | None = None) -> dict[str, Any]:
    """A suite version (the newest by default) with its metadata.

    Raises:
        ConfigError: No such version.
    """
    query = select(t.monitor_suites).where(t.monitor_suites.c.monitor_id == monitor_id)
    if version is not None:
        query = query.where(t.monitor_suites.c.version == version)
    with store.connect() as conn:
        row = conn.execute(query.order_by(t.monitor_suites.c.version.desc()).limit(1)).first()
    if row is None:
        raise ConfigError(f"suite version {version} does not exist for this monitor.")
    return {
        "version": row.version,
        "origin": row.origin,
        "note": row.note,
        "created_at": row.created_at,
        "spec": dict(row.spec),
    }


def list_suites(store: TraceStore, monitor_id: int) -> list[SuiteVersion]:
    """Every suite version of a monitor, oldest first."""
    with store.connect() as conn:
        rows = conn.execute(
            select(
                t.monitor_suites.c.version,
                t.monitor_suites.c.origin,
                t.monitor_suites.c.note,
                t.monitor_suites.c.created_at,
            )
            .where(t.monitor_suites.c.monitor_id == monitor_id)
            .order_by(t.monitor_suites.c.version)
        ).all()
    return [SuiteVersion.from_row(r) for r in rows]


def save_suite(
    store: TraceStore, monitor_id: int, spec: dict[str, Any], *, origin: str, note: str | None
) -> int:
    """Store a new suite version; returns its number."""
    check_suite(spec)
    with store.begin() as conn:
        return _insert_suite(conn, monitor_id, spec, origin, note)


def save_report(
    store: TraceStore,
    record: MonitorRecord,
    report: BatchReport,
    *,
    kind: str,
    suite_version: int | None,
    started_at: datetime,
    seq: int | None = None,
    error: str | None = None,
) -> int | None:
    """Store one run with its findings and statistics in one transaction.

    Args:
        seq: The run's number among the runs of its batch, as planned from
            :func:`checked_batches` (``runs_so_far + 1``). The store holds one run per
            ``(monitor, batch, seq)``: when another process stored that run first (two
            ``monitor run`` at once, a daemon and the CLI), nothing is stored. None numbers
            the run after the batch's latest stored one (for callers that plan nothing).

    Returns:
        The run id, or None when another process already stored this run of the batch.
    """
    report.sort()
    try:
        return _insert_report(store, record, report, kind, suite_version, started_at, seq, error)
    except IntegrityError as exc:
        if "seq" in str(exc.orig):  # the unique key of (monitor, batch, seq): another won
            return None
        raise


def _insert_report(
    store: TraceStore,
    record: MonitorRecord,
    report: BatchReport,
    kind: str,
    suite_version: int | None,
    started_at: datetime,
    seq: int | None,
    error: str | None,
) -> int:
    now = utcnow()
    summary = {
        "status": report.status,
        "seconds": {k: round(v, 3) for k, v in report.seconds.items()},
        "notes": report.notes[:50],
    }
    with store.begin() as conn:
        if seq is None:
            latest = conn.execute(
                select(func.max(t.monitor_runs.c.seq)).where(
                    t.monitor_runs.c.monitor_id == record.id,
                    t.monitor_runs.c.batch_id == report.batch_id,
                )
            ).scalar_one()
            seq = int(latest or 0) + 1
        run_id = int(
            conn.execute(
                insert(t.monitor_runs)
                .values(
                    monitor_id=record.id,
                    batch_id=report.batch_id,
                    seq=seq,
                    kind=kind,
                    model_version=report.model_version,
                    suite_version=suite_version,
                    status="error" if error else report.status,
                    n_rows=report.n_rows,
                    n_columns=report.n_columns,
                    n_findings=len(report.findings),
                    n_blocking=sum(1 for f in report.findings if f.blocking),
                    started_at=started_at,
                    finished_at=now,
                    error=error,
                    summary=summary,
                )
                .returning(t.monitor_runs.c.id)
            ).scalar_one()
        )
        if report.findings:
            conn.execute(
                insert(t.monitor_findings),
                [
                    {
                        "run_id": run_id,
                        "monitor_id": record.id,
                        "pipeline": record.config.name,
                        "batch_id": report.batch_id,
                        "model_version": report.model_version,
                        "check_kind": f.check_kind,
                        "check": f.check,
                        "column": f.column,
                        "slice": f.slice,
                        "statistic": f.statistic,
                        "value": f.value,
                        "threshold": f.threshold,
                        "severity": f.severity.label,
                        "message": f.message,
                        "evidence": f.evidence,
                        "created_at": now,
                    }
                    for f in report.findings
                ],
            )
        stats: dict[tuple[str, str, str, str], float | None] = {}
        for s in report.statistics:
            v = s.to_dict()["value"]
            stats[(s.check_kind, s.column, s.slice, s.statistic)] = v
        if stats:
            conn.execute(
                insert(t.monitor_statistics),
                [
                    {
                        "run_id": run_id,
                        "check_kind": k[0],
                        "column": k[1],
                        "slice": k[2],
                        "statistic": k[3],
                        "value": v,
                    }
                    for k, v in stats.items()
                ],
            )
    return run_id


#: Checks of a batch that could not be read before it counts as checked (its blocking
#: ``read_batch`` finding stands; ``monitor run --batch`` checks it again on demand).
MAX_READ_TRIES = 5
#: Pause before the n-th retry of an unreadable batch: ``base * (2**(n-1) - 1)`` seconds, so
#: the next run retries at once (the producer has usually finished writing), later ones back off.
READ_RETRY_BASE_SECONDS = 60.0


def checked_batches(
    store: TraceStore, monitor_id: int, *, now: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Batches with a full check, and whether their latest performance figure is final.

    ``seq`` is the number of the batch's latest run: the next run of the batch is ``seq + 1``
    (see :func:`save_report`).

    A batch whose checks all failed to read it (half-written by its producer, say) is not
    ``checked`` until it has failed :data:`MAX_READ_TRIES` times: later runs retry it, with
    a growing pause between tries (``retry_at`` says when the next one is due).
    """
    now = now or utcnow()
    with store.connect() as conn:
        runs = conn.execute(
            select(
                t.monitor_runs.c.id,
                t.monitor_runs.c.batch_id,
                t.monitor_runs.c.kind,
                t.monitor_runs.c.status,
                t.monitor_runs.c.started_at,
                t.monitor_runs.c.seq,
            )
            .where(t.monitor_runs.c.monitor_id == monitor_id)
            .order_by(t.monitor_runs.c.id)
        ).all()
        finals = dict(
            conn.execute(
                select(t.monitor_statistics.c.run_id, t.monitor_statistics.c.value)
                .join(t.monitor_runs, t.monitor_runs.c.id == t.monitor_statistics.c.run_id)
                .where(
                    t.monitor_runs.c.monitor_id == monitor_id,
                    t.monitor_statistics.c.check_kind == "performance",
                    t.monitor_statistics.c.statistic == "final",
                )
            ).all()
        )
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        entry = out.setdefault(
            run.batch_id,
            {
                "checked": False,
                "final": False,
                "runs": 0,
                "seq": 0,
                "read_errors": 0,
                "retry_at": None,
            },
        )
        entry["runs"] += 1
        entry["seq"] = max(entry["seq"], int(run.seq or 0), entry["runs"])
        if run.kind == "check" and run.status == "error":
            entry["read_errors"] += 1
            tries = entry["read_errors"]
            pause = READ_RETRY_BASE_SECONDS * (2 ** (tries - 1) - 1)
            entry["retry_at"] = as_utc(run.started_at) + timedelta(seconds=pause)
            if tries >= MAX_READ_TRIES:
                entry["checked"] = True
            else:  # not checked yet, unless the pause before the next try has not passed
                entry["checked"] = entry.get("read_ok", False) or entry["retry_at"] > now
        elif run.kind == "check":
            entry["checked"] = entry["read_ok"] = True
        if run.id in finals:
            entry["final"] = bool(finals[run.id])
    for entry in out.values():
        entry.pop("read_ok", None)
    return out


def drift_history(
    store: TraceStore, monitor_id: int, *, exclude_batch: str, limit: int
) -> dict[str, list[int]]:
    """Drift levels per column over the latest ``limit`` checked batches, oldest first."""
    if limit <= 0:
        return {}
    latest = (
        select(func.max(t.monitor_runs.c.id).label("run_id"))
        .where(
            t.monitor_runs.c.monitor_id == monitor_id,
            t.monitor_runs.c.kind == "check",
            t.monitor_runs.c.batch_id != exclude_batch,
        )
        .group_by(t.monitor_runs.c.batch_id)
        .order_by(func.max(t.monitor_runs.c.id).desc())
        .limit(limit)
    )
    with store.connect() as conn:
        run_ids = sorted(int(r) for r in conn.execute(latest).scalars())
        if not run_ids:
            return {}
        rows = conn.execute(
            select(
                t.monitor_statistics.c.run_id,
                t.monitor_statistics.c.column,
                t.monitor_statistics.c.value,
            ).where(
                t.monitor_statistics.c.run_id.in_(run_ids),
                t.monitor_statistics.c.check_kind == "drift",
                t.monitor_statistics.c.statistic == "drift_level",
            )
        ).all()
    by_run: dict[int, dict[str, int]] = {}
    for r in rows:
        by_run.setdefault(int(r.run_id), {})[r.column] = int(r.value or 0)
    columns = {c for levels in by_run.values() for c in levels}
    return {c: [by_run.get(rid, {}).get(c, 0) for rid in run_ids] for c in columns}


def query_findings(
    store: TraceStore,
    *,
    monitor: str | None = None,
    batch_id: str | None = None,
    min_severity: Severity = Severity.INFO,
    check_kind: str | None = None,
    limit: int = 200,
) -> list[StoredFinding]:
    """Stored findings, newest first."""
    allowed = [s.label for s in Severity if s >= min_severity]
    query = select(t.monitor_findings).where(t.monitor_findings.c.severity.in_(allowed))
    if monitor is not None:
        query = query.where(t.monitor_findings.c.pipeline == monitor)
    if batch_id is not None:
        query = query.where(t.monitor_findings.c.batch_id == batch_id)
    if check_kind is not None:
        query = query.where(t.monitor_findings.c.check_kind == check_kind)
    with store.connect() as conn:
        rows = conn.execute(query.order_by(t.monitor_findings.c.id.desc()).limit(limit)).all()
    return [StoredFinding.from_row(r) for r in rows]


def recent_runs(store: TraceStore, monitor_id: int, limit: int = 10) -> list[MonitorRunSummary]:
    """The latest runs of a monitor, newest first."""
    with store.connect() as conn:
        rows = conn.execute(
            select(
                t.monitor_runs.c.id,
                t.monitor_runs.c.batch_id,
                t.monitor_runs.c.kind,
                t.monitor_runs.c.model_version,
                t.monitor_runs.c.status,
                t.monitor_runs.c.n_rows,
                t.monitor_runs.c.n_findings,
                t.monitor_runs.c.n_blocking,
                t.monitor_runs.c.finished_at,
            )
            .where(t.monitor_runs.c.monitor_id == monitor_id)
            .order_by(t.monitor_runs.c.id.desc())
            .limit(limit)
        ).all()
    return [MonitorRunSummary.from_row(r) for r in rows]


def run_statistics(
    conn: Connection, run_id: int, statistics: tuple[str, ...]
) -> dict[str, float | None]:
    """Whole-batch performance statistics of one run, by name (absent when not measured)."""
    return dict(
        conn.execute(
            select(t.monitor_statistics.c.statistic, t.monitor_statistics.c.value).where(
                t.monitor_statistics.c.run_id == run_id,
                t.monitor_statistics.c.check_kind == "performance",
                t.monitor_statistics.c.slice == "",
                t.monitor_statistics.c.statistic.in_(statistics),
            )
        ).all()
    )


def performance_statistics(
    conn: Connection, monitor_id: int, statistics: tuple[str, ...], *, limit: int | None = None
) -> list[Any]:
    """Whole-batch performance statistics of a monitor's runs, newest run first.

    Returns:
        Rows of ``(run_id, batch_id, statistic, value)``; at most ``limit`` of them.
    """
    stats = t.monitor_statistics
    query = (
        select(stats.c.run_id, t.monitor_runs.c.batch_id, stats.c.statistic, stats.c.value)
        .join(t.monitor_runs, t.monitor_runs.c.id == stats.c.run_id)
        .where(
            t.monitor_runs.c.monitor_id == monitor_id,
            stats.c.check_kind == "performance",
            stats.c.slice == "",
            stats.c.statistic.in_(statistics),
        )
        .order_by(stats.c.run_id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query).all())


#: Whole-batch performance statistics read back for the SLO window and the cadence estimate.
HISTORY_STATISTICS = (
    "predictions",
    "labelled",
    "final",
    "predicted_at",
    "accuracy",
    "accuracy_sum",
    "mae",
    "mae_sum",
    "accuracy_estimated",
    "mae_estimated",
    "estimated_rows",
)


def performance_history(store: TraceStore, monitor_id: int) -> list[dict[str, Any]]:
    """Each batch's latest whole-batch performance figures, in the order batches were checked.

    Returns:
        One dict per batch: ``batch_id``, ``model_version`` (from its latest check),
        ``checked_at`` (its first run), ``run_id`` (the run the figures come from) and
        ``stats`` (statistic name to value; empty before any label was joined).
    """
    with store.connect() as conn:
        runs = conn.execute(
            select(
                t.monitor_runs.c.id,
                t.monitor_runs.c.batch_id,
                t.monitor_runs.c.kind,
                t.monitor_runs.c.model_version,
                t.monitor_runs.c.finished_at,
            )
            .where(t.monitor_runs.c.monitor_id == monitor_id)
            .order_by(t.monitor_runs.c.id)
        ).all()
        rows = conn.execute(
            select(
                t.monitor_statistics.c.run_id,
                t.monitor_statistics.c.statistic,
                t.monitor_statistics.c.value,
            )
            .join(t.monitor_runs, t.monitor_runs.c.id == t.monitor_statistics.c.run_id)
            .where(
                t.monitor_runs.c.monitor_id == monitor_id,
                t.monitor_statistics.c.check_kind == "performance",
                t.monitor_statistics.c.column == "",
                t.monitor_statistics.c.slice == "",
                t.monitor_statistics.c.statistic.in_(HISTORY_STATISTICS),
            )
        ).all()
    by_run: dict[int, dict[str, float | None]] = {}
    for run_id, statistic, value in rows:
        by_run.setdefault(int(run_id), {})[statistic] = value
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        entry = out.setdefault(
            run.batch_id,
            {
                "batch_id": run.batch_id,
                "model_version": None,
                "checked_at": run.finished_at,
                "run_id": None,
                "stats": {},
            },
        )
        if run.kind == "check" and run.model_version:
            entry["model_version"] = run.model_version
        if by_run.get(int(run.id)):
            # a later run's figures replace the same figures of an earlier one; the check's
            # estimate stays beside the labels joined later
            entry["run_id"] = int(run.id)
            entry["stats"] = {**entry["stats"], **by_run[int(run.id)]}
    return list(out.values())


@dataclass
class LatestRuns:
    """What a scrape needs of every pipeline's latest runs, read in a fixed number of queries
    whatever the number of pipelines (one query per pipeline costs seconds once the daemon's
    job threads compete with the scrape for the interpreter).

    Attributes:
        checks: Monitor id -> its latest check run (id, model_version, finished_at).
        findings: Check run id -> (check kind, severity) -> findings.
        drift: Check run id -> (column, statistic, value) of its drift effects and levels.
        judged: Monitor id -> its latest run with performance statistics (id, batch_id).
        final: Monitor id -> its latest run whose overall metric is final (id, batch_id).
        slo_state: Monitor id -> its latest run that judged the SLO window (id, batch_id).
        agreed: Monitor id -> its latest run with a labeler agreement (id, batch_id).
        estimated: Monitor id -> its latest run with an estimated metric (id, batch_id).
        performance: Run id (of the five above) -> (slice, statistic) -> value.
        versions: (monitor id, batch id) -> model version of the batch's check run.
    """

    checks: dict[int, Any] = field(default_factory=dict)
    findings: dict[int, dict[tuple[str, str], int]] = field(default_factory=dict)
    drift: dict[int, list[tuple[str, str, float | None]]] = field(default_factory=dict)
    judged: dict[int, Any] = field(default_factory=dict)
    final: dict[int, Any] = field(default_factory=dict)
    slo_state: dict[int, Any] = field(default_factory=dict)
    agreed: dict[int, Any] = field(default_factory=dict)
    estimated: dict[int, Any] = field(default_factory=dict)
    performance: dict[int, dict[tuple[str, str], float | None]] = field(default_factory=dict)
    versions: dict[tuple[int, str], str | None] = field(default_factory=dict)

    @classmethod
    def read(cls, conn: Connection) -> LatestRuns:
        runs, stats, findings = t.monitor_runs, t.monitor_statistics, t.monitor_findings
        out = cls()
        newest_checks = (
            select(func.max(runs.c.id)).where(runs.c.kind == "check").group_by(runs.c.monitor_id)
        )
        for row in conn.execute(
            select(runs.c.id, runs.c.monitor_id, runs.c.model_version, runs.c.finished_at).where(
                runs.c.id.in_(newest_checks)
            )
        ):
            out.checks[int(row.monitor_id)] = row
        for run_id, kind, severity, n in conn.execute(
            select(findings.c.run_id, findings.c.check_kind, findings.c.severity, func.count())
            .where(findings.c.run_id.in_(newest_checks))
            .group_by(findings.c.run_id, findings.c.check_kind, findings.c.severity)
        ):
            out.findings.setdefault(int(run_id), {})[(kind, severity)] = int(n)
        for run_id, column, statistic, value in conn.execute(
            select(stats.c.run_id, stats.c.column, stats.c.statistic, stats.c.value)
            .where(
                stats.c.run_id.in_(newest_checks),
                stats.c.check_kind == "drift",
                stats.c.statistic.in_(("effect", "drift_level")),
            )
            .order_by(stats.c.run_id, stats.c.column, stats.c.slice, stats.c.statistic)
        ):
            out.drift.setdefault(int(run_id), []).append((column, statistic, value))

        def newest(*where: Any) -> Any:
            judged = select(stats.c.run_id).where(
                stats.c.run_id == runs.c.id, stats.c.check_kind == "performance", *where
            )
            return select(func.max(runs.c.id)).where(judged.exists()).group_by(runs.c.monitor_id)

        final = (stats.c.slice == "", stats.c.statistic == "final", stats.c.value == 1.0)
        window = (stats.c.slice == "", stats.c.statistic == "slo_window_batches")
        agreement = (
            stats.c.slice == "",
            stats.c.statistic == "label_agreement",
            stats.c.value.is_not(None),
        )
        estimate = (
            stats.c.slice == "",
            stats.c.statistic.in_(("accuracy_estimated", "mae_estimated")),
            stats.c.value.is_not(None),
        )
        targets = (
            (out.judged, newest()),
            (out.estimated, newest(*estimate)),
            (out.final, newest(*final)),
            (out.slo_state, newest(*window)),
            (out.agreed, newest(*agreement)),
        )
        for target, ids in targets:
            for run in conn.execute(
                select(runs.c.id, runs.c.monitor_id, runs.c.batch_id).where(runs.c.id.in_(ids))
            ):
                target[int(run.monitor_id)] = run
        picked = [r for target, _ in targets for r in target.values()]
        wanted = [r.id for r in picked]
        batches = {r.batch_id for r in picked}
        for chunk in _chunks(sorted(set(wanted))):
            for run_id, slice_, statistic, value in conn.execute(
                select(stats.c.run_id, stats.c.slice, stats.c.statistic, stats.c.value).where(
                    stats.c.run_id.in_(chunk), stats.c.check_kind == "performance"
                )
            ):
                out.performance.setdefault(int(run_id), {})[(slice_, statistic)] = value
        for chunk in _chunks(sorted(batches)):
            for checked in conn.execute(
                select(runs.c.monitor_id, runs.c.batch_id, runs.c.model_version)
                .where(runs.c.kind == "check", runs.c.batch_id.in_(chunk))
                .order_by(runs.c.id)
            ):
                out.versions[(int(checked.monitor_id), checked.batch_id)] = checked.model_version
        return out


def _chunks(values: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]
