"""Alert policy: from findings to a short list of alerts, one per likely cause.

Findings are what checks measured; an on-call engineer wants problems. For each monitor run
not yet read (a cursor in ``alert_cursors`` advances in the same transaction as the alerts,
so a crash re-reads nothing twice and loses nothing) the policy

1. **groups** the run's findings by likely cause (:mod:`mileage.monitors.alerts._rootcause`): a
   broken upstream column takes its validation failures, its drift, the prediction drift that
   follows and the performance of the batches it broke;
2. **deduplicates** across batches: a cause matching an open alert (same key, or for broken
   columns an overlapping column) updates that alert instead of opening another;
3. **grades** each alert ``page``, ``ticket`` or ``info``: a broken data contract (blocking
   validation, unreadable batch) or a broken SLO pages at once; drift pages only after it has
   persisted for ``page_drift_after`` batches *and* the SLO is at risk, and is a ticket
   before that or when performance is fine; the rest are tickets. An alert someone has
   acknowledged still escalates, but pages nobody: its owner is already on it;
4. **demotes** (never mutes) alert types that people do not act on: when, for one pipeline
   and kind, fewer than ``demote_below`` of the last closed alerts led to an accepted remedy
   or a manual resolution, a new alert of that kind drops one level (page to ticket, ticket
   to info) and says why; SLO breaches are never demoted;
5. **resolves** an alert after ``resolve_after`` batches in which its checks ran and found
   nothing.

Every state change (opened, escalated, demoted, acknowledged, resolved) is an
``alert_events`` row with its time and actor; nothing is deleted, so demoted and resolved
alerts stay visible (``mileage alerts list --all``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from mileage.monitors._registry import (
    MonitorRecord,
    get_monitor,
    performance_statistics,
    run_statistics,
)
from mileage.monitors.alerts._rootcause import (
    CHECK_SCOPE,
    KINDS,
    PERFORMANCE_SCOPE,
    Cause,
    RunContext,
    causes_of,
    describe_check,
)
from mileage.monitors.alerts._state import (
    LEVELS,
    OPEN_STATUSES,
    POLICY,
    AlertNotFoundError,
    AlertOptions,
    acknowledge_alert,
    actionability,
    actionability_table,
    close_suggestions,
    get_alert,
    list_alerts,
    lower,
    resolve_alert,
    unacknowledge_alert,
)
from mileage.monitors.checks._check import MonitorConfig
from mileage.monitors.checks._performance import HIGHER_IS_BETTER
from mileage.platform.store import TraceStore, utcnow
from mileage.platform.store import schema as t

_KEEP_BATCHES = 30
_KEEP_CHECKS = 60


@dataclass
class Notification:
    """An alert that was opened, or escalated, in this cycle: what routers send out."""

    alert_id: int
    kind: str
    level: str
    event: str


@dataclass
class CycleReport:
    """What one pass of the policy over a pipeline's new runs did."""

    pipeline: str
    runs: int = 0
    findings: int = 0
    opened: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    demoted: list[int] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    closed_suggestions: list[int] = field(default_factory=list)

    @property
    def touched(self) -> list[int]:
        """Alerts opened, escalated or updated (their suggestions may need refreshing)."""
        return sorted({*self.opened, *self.escalated, *self.updated})

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["touched"] = self.touched
        return out


def policy_level(
    kind: str,
    *,
    blocking: bool,
    slo_breach: bool,
    batches: int,
    slo: str,
    options: AlertOptions,
) -> str:
    """The level an alert deserves before any demotion.

    Args:
        kind: Alert kind.
        blocking: A blocking finding belongs to it.
        slo_breach: An SLO breach belongs to it.
        batches: Batches it has appeared in.
        slo: SLO state of the pipeline (``breached``, ``at_risk``, ``ok``, ``unknown``,
            ``none``).
        options: Thresholds.
    """
    if slo_breach or kind == "slo_breach":
        return "page"
    if kind in ("broken_column", "input_error"):
        return "page" if blocking else "ticket"
    if kind in ("drift", "prediction_drift", "label_shift", "model_release"):
        persisted = batches >= options.page_drift_after
        return "page" if persisted and slo in ("breached", "at_risk") else "ticket"
    return "ticket"


class AlertPolicy:
    """Reads a pipeline's new monitor runs and keeps its alerts up to date.

    Args:
        store: The trace store.
        clock: Current time (tests and replays inject theirs).

    Example:
        >>> policy = AlertPolicy(store)  # doctest: +SKIP
        >>> report = policy.process("churn")  # doctest: +SKIP
        >>> [(n.alert_id, n.level) for n in report.notifications]  # doctest: +SKIP
        [(12, 'page')]
    """

    def __init__(self, store: TraceStore, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock

    def process(self, pipeline: str) -> CycleReport:
        """Turn the findings of every run not read yet into alerts (one transaction).

        Raises:
            MonitorNotFoundError: No monitor has that name.
        """
        record = get_monitor(self.store, pipeline)
        config = record.config
        options = AlertOptions.from_dict(config.alerts)
        report = CycleReport(pipeline)
        with self.store.begin() as conn:
            cursor = conn.execute(
                select(t.alert_cursors.c.last_run_id).where(
                    t.alert_cursors.c.monitor_id == record.id
                )
            ).scalar_one_or_none()
            runs = conn.execute(
                select(t.monitor_runs)
                .where(
                    t.monitor_runs.c.monitor_id == record.id,
                    t.monitor_runs.c.id > (cursor or 0),
                )
                .order_by(t.monitor_runs.c.id)
            ).all()
            if not runs:
                return report
            history = list(
                conn.execute(
                    select(
                        t.monitor_runs.c.id,
                        t.monitor_runs.c.batch_id,
                        t.monitor_runs.c.model_version,
                    )
                    .where(
                        t.monitor_runs.c.monitor_id == record.id, t.monitor_runs.c.kind == "check"
                    )
                    .order_by(t.monitor_runs.c.id.desc())
                    .limit(500)
                ).all()
            )[::-1]
            for run in runs:
                _RunPass(self, conn, record, config, options, report, history).run(run)
            report.runs = len(runs)
            values = {"last_run_id": int(runs[-1].id), "updated_at": self.clock()}
            if cursor is None:
                conn.execute(insert(t.alert_cursors).values(monitor_id=record.id, **values))
            else:
                conn.execute(
                    update(t.alert_cursors)
                    .where(t.alert_cursors.c.monitor_id == record.id)
                    .values(**values)
                )
        return report


class _RunPass:
    """The policy applied to one run (inside the cycle's transaction)."""

    def __init__(
        self,
        policy: AlertPolicy,
        conn: Connection,
        record: MonitorRecord,
        config: MonitorConfig,
        options: AlertOptions,
        report: CycleReport,
        history: list[Any],
    ) -> None:
        self.policy, self.conn, self.record = policy, conn, record
        self.config, self.options, self.report, self.history = config, options, report, history

    def run(self, run: Any) -> None:
        conn = self.conn
        findings = [
            dict(r._mapping)
            for r in conn.execute(
                select(t.monitor_findings)
                .where(t.monitor_findings.c.run_id == run.id)
                .order_by(t.monitor_findings.c.id)
            )
        ]
        self.report.findings += sum(1 for f in findings if f["severity"] != "info")
        stats = run_statistics(conn, run.id, ("final", "label_coverage"))
        batch = str(run.batch_id)
        version = run.model_version or self._version_of(batch)
        open_alerts = self._open_alerts()
        ctx = RunContext(
            prediction_column=self.config.prediction_column,
            label_column=self.config.label_column,
            release=self._release_of(batch),
            broken_batches=self._covered(open_alerts, "broken_column"),
            release_batches=self._covered(open_alerts, "model_release"),
        )
        causes = causes_of(findings, ctx)
        slo = slo_state(conn, self.record.id, self.config, self.options, open_alerts)
        touched: set[int] = set()
        for cause in causes:
            alert = _match(open_alerts, cause, batch)
            if alert is None:
                alert = self._open(cause, batch, version, slo)
                open_alerts.append(alert)
            else:
                self._update(alert, cause, batch, version, slo)
            touched.add(int(alert["id"]))
        checked = run.kind == "check" and run.status != "error"
        final = float(stats.get("final") or 0) == 1.0
        labels_read = "label_coverage" in stats
        for alert in open_alerts:
            if int(alert["id"]) in touched:
                continue
            kind = alert["kind"]
            observed = (
                (kind in CHECK_SCOPE and checked)
                or (kind in PERFORMANCE_SCOPE and final)
                or (kind == "labels_unavailable" and labels_read)
            )
            # a re-judged older batch speaks for itself only: it cannot vouch that the fault
            # a later batch showed is gone
            if observed and self._order(batch) >= self._order(str(alert["last_batch"])):
                self._quiet(alert, batch)

    # -- context ---------------------------------------------------------------------------

    def _open_alerts(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            select(t.alerts)
            .where(t.alerts.c.monitor_id == self.record.id, t.alerts.c.status.in_(OPEN_STATUSES))
            .order_by(t.alerts.c.id)
        ).all()
        return [dict(r._mapping) for r in rows]

    @staticmethod
    def _covered(alerts: list[dict[str, Any]], kind: str) -> frozenset[str]:
        return frozenset(
            b for a in alerts if a["kind"] == kind for b in (a["evidence"] or {}).get("batches", [])
        )

    def _order(self, batch: str) -> int:
        """When ``batch`` was first checked (its first check run's id); -1 when not seen."""
        return next((int(r.id) for r in self.history if r.batch_id == batch), -1)

    def _version_of(self, batch: str) -> str | None:
        for run in reversed(self.history):
            if run.batch_id == batch:
                return str(run.model_version) if run.model_version else None
        return None

    def _release_of(self, batch: str) -> tuple[str, str] | None:
        """``(previous, new)`` when ``batch`` was scored within the release window of a change."""
        runs = self.history
        idx = next((i for i in range(len(runs) - 1, -1, -1) if runs[i].batch_id == batch), None)
        if idx is None or not runs[idx].model_version:
            return None
        version = runs[idx].model_version
        start = idx
        while start > 0 and runs[start - 1].model_version == version:
            start -= 1
        if start == 0 or not runs[start - 1].model_version:
            return None
        if idx - start + 1 > self.options.release_window:
            return None
        return str(runs[start - 1].model_version), str(version)

    # -- state changes ---------------------------------------------------------------------

    def _event(self, alert_id: int, event: str, level: str, detail: dict[str, Any]) -> None:
        self.conn.execute(
            insert(t.alert_events).values(
                alert_id=alert_id,
                event=event,
                level=level,
                actor=POLICY,
                detail=detail,
                at=self.policy.clock(),
            )
        )

    def _link(self, alert_id: int, findings: list[dict[str, Any]]) -> None:
        if not findings:
            return
        known = set(
            self.conn.execute(
                select(t.alert_findings.c.finding_id).where(
                    t.alert_findings.c.alert_id == alert_id,
                    t.alert_findings.c.finding_id.in_([f["id"] for f in findings]),
                )
            ).scalars()
        )
        rows = [
            {"alert_id": alert_id, "finding_id": f["id"]} for f in findings if f["id"] not in known
        ]
        if rows:
            self.conn.execute(insert(t.alert_findings), rows)

    def _open(self, cause: Cause, batch: str, version: str | None, slo: str) -> dict[str, Any]:
        now = self.policy.clock()
        evidence = _merge_evidence({}, cause, batch, version)
        level = policy_level(
            cause.kind,
            blocking=evidence["blocking"],
            slo_breach=cause.slo_breach,
            batches=1,
            slo=slo,
            options=self.options,
        )
        acted, closed = actionability(
            self.conn, self.config.name, cause.kind, self.options.actionability_window
        )
        demote = (
            cause.kind not in self.options.never_demote
            and closed >= self.options.demote_min_history
            and acted / closed < self.options.demote_below
        )
        effective = lower(level) if demote else level
        values: dict[str, Any] = {
            "monitor_id": self.record.id,
            "pipeline": self.config.name,
            "key": cause.key,
            "kind": cause.kind,
            "level": effective,
            "policy_level": level,
            "status": "open",
            "demoted": demote,
            "slo_breached": cause.slo_breach,
            "owner": self.config.owner or "unassigned",
            "model_version": version,
            "columns": sorted(cause.columns),
            "title": title_of(cause.kind, evidence, cause.columns),
            "evidence": evidence,
            "first_batch": batch,
            "last_batch": batch,
            "batches": 1,
            "quiet_batches": 0,
            "n_findings": len(cause.findings),
            "opened_at": now,
            "updated_at": now,
        }
        alert_id = int(
            self.conn.execute(
                insert(t.alerts).values(**values).returning(t.alerts.c.id)
            ).scalar_one()
        )
        self._link(alert_id, cause.findings)
        self._event(
            alert_id,
            "opened",
            effective,
            {"batch": batch, "findings": len(cause.findings), "policy_level": level},
        )
        self.report.opened.append(alert_id)
        if demote:
            self._event(
                alert_id,
                "demoted",
                effective,
                {
                    "from": level,
                    "to": effective,
                    "acted": acted,
                    "closed": closed,
                    "reason": f"people acted on {acted} of the last {closed} closed "
                    f"{cause.kind} alerts of {self.config.name!r} "
                    f"(below {self.options.demote_below:.0%})",
                },
            )
            self.report.demoted.append(alert_id)
        self.report.notifications.append(Notification(alert_id, cause.kind, effective, "opened"))
        return {**values, "id": alert_id}

    def _update(
        self, alert: dict[str, Any], cause: Cause, batch: str, version: str | None, slo: str
    ) -> None:
        evidence = _merge_evidence(alert["evidence"] or {}, cause, batch, version)
        new_batch = batch not in (alert["evidence"] or {}).get("batches", [])
        batches = int(alert["batches"]) + (1 if new_batch else 0)
        columns = sorted({*alert["columns"], *cause.columns})
        slo_breach = bool(alert["slo_breached"]) or cause.slo_breach
        level = policy_level(
            alert["kind"],
            blocking=evidence["blocking"],
            slo_breach=slo_breach,
            batches=batches,
            slo=slo,
            options=self.options,
        )
        # levels only go up while an alert is open: a page does not quietly become a ticket
        level = max(level, alert["policy_level"], key=LEVELS.index)
        old = alert["level"]
        effective = max(lower(level) if alert["demoted"] else level, old, key=LEVELS.index)
        values = {
            "level": effective,
            "policy_level": level,
            "slo_breached": slo_breach,
            "columns": columns,
            "evidence": evidence,
            "title": title_of(alert["kind"], evidence, set(columns)),
            "last_batch": batch if new_batch else alert["last_batch"],
            "batches": batches,
            "quiet_batches": 0,
            "n_findings": int(alert["n_findings"]) + len(cause.findings),
            "model_version": version or alert["model_version"],
            "updated_at": self.policy.clock(),
        }
        self.conn.execute(update(t.alerts).where(t.alerts.c.id == alert["id"]).values(**values))
        self._link(int(alert["id"]), cause.findings)
        alert.update(values)
        if LEVELS.index(effective) > LEVELS.index(old):
            acknowledged = alert["status"] == "acknowledged"
            self._event(
                int(alert["id"]),
                "escalated",
                effective,
                {
                    "from": old,
                    "to": effective,
                    "batch": batch,
                    "batches": batches,
                    "slo": slo,
                    "notified": not acknowledged,
                },
            )
            if acknowledged:  # someone is on it: the inbox shows the new level, nobody is paged
                self.report.updated.append(int(alert["id"]))
            else:
                self.report.escalated.append(int(alert["id"]))
                self.report.notifications.append(
                    Notification(int(alert["id"]), alert["kind"], effective, "escalated")
                )
        else:
            self.report.updated.append(int(alert["id"]))

    def _quiet(self, alert: dict[str, Any], batch: str) -> None:
        quiet = int(alert["quiet_batches"]) + 1
        now = self.policy.clock()
        if quiet >= self.options.resolve_after:
            self.conn.execute(
                update(t.alerts)
                .where(t.alerts.c.id == alert["id"])
                .values(
                    status="resolved",
                    quiet_batches=quiet,
                    resolved_at=now,
                    resolved_by=POLICY,
                    updated_at=now,
                )
            )
            self._event(
                int(alert["id"]),
                "resolved",
                alert["level"],
                {"batch": batch, "reason": f"checks found nothing for {quiet} batch(es)"},
            )
            self.report.resolved.append(int(alert["id"]))
            self.report.closed_suggestions += close_suggestions(
                self.conn, int(alert["id"]), by=POLICY, now=now
            )
            alert["status"] = "resolved"
        else:
            self.conn.execute(
                update(t.alerts).where(t.alerts.c.id == alert["id"]).values(quiet_batches=quiet)
            )
            alert["quiet_batches"] = quiet


def _match(alerts: list[dict[str, Any]], cause: Cause, batch: str) -> dict[str, Any] | None:
    """The open alert a cause belongs to (dedupe across batches), or None."""
    for alert in alerts:
        if alert["status"] not in OPEN_STATUSES or alert["kind"] != cause.kind:
            continue
        if cause.kind in ("broken_column", "model_release"):
            batches = (alert["evidence"] or {}).get("batches", [])
            if set(alert["columns"]) & cause.columns and cause.kind == "broken_column":
                return alert
            if batch in batches or alert["key"] == cause.key:
                return alert
            continue
        if alert["key"] == cause.key:
            return alert
    return None


def _merge_evidence(
    old: dict[str, Any], cause: Cause, batch: str, version: str | None
) -> dict[str, Any]:
    batches = list(old.get("batches", []))
    if batch not in batches:
        batches.append(batch)
    checks = {
        (c["check_kind"], c["check"], c.get("column"), c.get("slice")): c
        for c in old.get("failed_checks", [])
    }
    for f in cause.findings:
        key = (f["check_kind"], f["check"], f["column"], f["slice"])
        seen = checks.get(key, {}).get("batches", 0)
        checks[key] = {
            "finding_id": int(f["id"]),
            "batch_id": f["batch_id"],
            "model_version": f["model_version"] or version,
            "check_kind": f["check_kind"],
            "check": f["check"],
            "column": f["column"],
            "slice": f["slice"],
            "statistic": f["statistic"],
            "value": f["value"],
            "threshold": f["threshold"],
            "severity": f["severity"],
            "what": describe_check(f),
            "message": f["message"],
            "batches": seen + 1,
        }
    counts = dict(old.get("counts", {}))
    for f in cause.findings:
        counts[f["check_kind"]] = counts.get(f["check_kind"], 0) + 1
    ordered = sorted(
        checks.values(),
        key=lambda c: (
            c["severity"] != "blocking",
            c["check_kind"] != "validation",
            -c["finding_id"],
        ),
    )
    release = list(cause.release) if cause.release else old.get("release")
    return {
        "batches": batches[-_KEEP_BATCHES:],
        "blocking": bool(old.get("blocking")) or cause.blocking,
        "failed_checks": ordered[:_KEEP_CHECKS],
        "counts": counts,
        "release": release,
    }


def title_of(kind: str, evidence: dict[str, Any], columns: set[str]) -> str:
    """The likely cause in one line, for people."""
    checks = evidence.get("failed_checks", [])
    if kind == "broken_column":
        per_column: dict[str, str] = {}
        for c in checks:
            if c["check_kind"] == "validation" and c["column"]:
                per_column.setdefault(c["column"], c["what"])
        names = ", ".join(list(per_column.values())[:3]) or ", ".join(sorted(columns))
        more = f" (+{len(per_column) - 3} more)" if len(per_column) > 3 else ""
        explained = len(checks) - len(per_column)
        tail = f"; explains {explained} other failed check(s)" if explained > 0 else ""
        return f"upstream data broke: {names}{more}{tail}"
    if kind == "model_release" and evidence.get("release"):
        before, after = evidence["release"]
        what = "; ".join(c["what"] for c in checks[:2])
        return f"model version {after} (replacing {before}) behaves differently: {what}"
    what = "; ".join(c["what"] for c in checks[:3])
    more = f" (+{len(checks) - 3} more)" if len(checks) > 3 else ""
    return f"{KINDS.get(kind, kind)}: {what}{more}" if what else KINDS.get(kind, kind)


def slo_state(
    conn: Connection,
    monitor_id: int,
    config: MonitorConfig,
    options: AlertOptions,
    open_alerts: list[dict[str, Any]] | None = None,
) -> str:
    """``breached``, ``at_risk``, ``ok``, ``unknown`` (no labelled figure yet) or ``none``.

    The latest final figure decides; without one, a provisional figure below the SLO (plus
    margin) counts as at risk. An open performance regression is always at risk.
    """
    perf = config.performance_options()
    if perf.slo is None:
        return "none"
    metric, slo = perf.metric, float(perf.slo)
    rows = performance_statistics(conn, monitor_id, (metric, "final"), limit=60)
    by_run: dict[int, dict[str, float | None]] = {}
    for r in rows:
        by_run.setdefault(int(r.run_id), {})[r.statistic] = r.value
    better = HIGHER_IS_BETTER[metric]
    margin = options.slo_margin if better else options.slo_margin * slo
    regression = any(a["kind"] == "performance_regression" for a in open_alerts or [])

    def judge(value: float) -> str:
        if (value < slo) if better else (value > slo):
            return "breached"
        if (value < slo + margin) if better else (value > slo - margin):
            return "at_risk"
        return "at_risk" if regression else "ok"

    for stats in by_run.values():  # newest first
        if stats.get("final") == 1.0 and stats.get(metric) is not None:
            return judge(float(stats[metric]))  # type: ignore[arg-type]
    for stats in by_run.values():
        if stats.get(metric) is not None:
            state = judge(float(stats[metric]))  # type: ignore[arg-type]
            return "at_risk" if state in ("breached", "at_risk") else "unknown"
    return "at_risk" if regression else "unknown"


__all__ = [
    "LEVELS",
    "POLICY",
    "AlertNotFoundError",
    "AlertOptions",
    "AlertPolicy",
    "CycleReport",
    "Notification",
    "acknowledge_alert",
    "actionability",
    "actionability_table",
    "get_alert",
    "list_alerts",
    "policy_level",
    "resolve_alert",
    "slo_state",
    "unacknowledge_alert",
]
