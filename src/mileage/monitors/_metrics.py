"""Prometheus metrics read from the trace store at scrape time: monitors, alerts, suggestions.

Labels stay low-cardinality: pipeline, model (registered name), version, slice, kind, level;
drift scores are exported for the ``TOP_FEATURES`` most drifted features of each pipeline's
latest batch only. Webhook URLs and other router settings are never exported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import Connection, func, select

from mileage.monitors._check import MonitorConfig
from mileage.monitors._performance import HIGHER_IS_BETTER
from mileage.monitors.alerts import AlertOptions
from mileage.monitors.alerts import actionability as actionability_of
from mileage.platform.store import epoch_seconds
from mileage.platform.store import schema as t

TOP_FEATURES = 5
LEVELS = ("page", "ticket", "info")


def _model_labels(version: str | None) -> tuple[str, str]:
    if not version:
        return "", ""
    name, _, number = str(version).rpartition("/")
    return (name, number) if name else ("", str(version))


class AlertsSource:
    """Open alerts and suggestions, notifications sent, deliveries, actionability."""

    def collect(self, conn: Connection, now: float) -> Iterable[Metric]:
        open_alerts = GaugeMetricFamily(
            "mileage_open_alerts",
            "Open (or acknowledged) alerts by pipeline, severity (page, ticket, info) and kind.",
            labels=["pipeline", "severity", "kind"],
        )
        demoted = GaugeMetricFamily(
            "mileage_open_alerts_demoted",
            "Open alerts shown one level lower because people rarely act on their kind.",
            labels=["pipeline", "kind"],
        )
        notifications = CounterMetricFamily(
            "mileage_alert_notifications",
            "Alerts opened or escalated (what reaches people), by pipeline and severity.",
            labels=["pipeline", "severity"],
        )
        suggestions = GaugeMetricFamily(
            "mileage_open_suggestions",
            "Suggestions waiting in the inbox, by pipeline and kind.",
            labels=["pipeline", "kind"],
        )
        deliveries = GaugeMetricFamily(
            "mileage_suggestion_deliveries",
            "Suggestion deliveries by router and status (delivered, skipped, pending, failed).",
            labels=["router", "status"],
        )
        actionability = GaugeMetricFamily(
            "mileage_alert_actionability_ratio",
            "Share of closed alerts of a kind that people acted on (accepted or resolved).",
            labels=["pipeline", "kind"],
        )
        pipelines = [r for r in conn.execute(select(t.monitors.c.name)).scalars()]
        seen: set[tuple[str, str, str]] = set()
        totals: dict[tuple[str, str, str], int] = {}
        lowered: dict[tuple[str, str], int] = {}
        for pipeline, level, kind, is_demoted, n in conn.execute(
            select(
                t.alerts.c.pipeline,
                t.alerts.c.level,
                t.alerts.c.kind,
                t.alerts.c.demoted,
                func.count(),
            )
            .where(t.alerts.c.status.in_(("open", "acknowledged")))
            .group_by(t.alerts.c.pipeline, t.alerts.c.level, t.alerts.c.kind, t.alerts.c.demoted)
        ):
            totals[(pipeline, level, kind)] = totals.get((pipeline, level, kind), 0) + int(n)
            if is_demoted:
                lowered[(pipeline, kind)] = lowered.get((pipeline, kind), 0) + int(n)
        for key, n in sorted(totals.items()):
            open_alerts.add_metric(list(key), float(n))
            seen.add(key)
        for (pipeline, kind), n in sorted(lowered.items()):
            demoted.add_metric([pipeline, kind], float(n))
        for pipeline in pipelines:  # a zero per pipeline and level, so "no alert" is a value
            for level in LEVELS:
                if not any(p == pipeline and lv == level for p, lv, _ in seen):
                    open_alerts.add_metric([pipeline, level, "none"], 0.0)
        for pipeline, level, n in conn.execute(
            select(t.alerts.c.pipeline, t.alert_events.c.level, func.count())
            .join(t.alerts, t.alerts.c.id == t.alert_events.c.alert_id)
            .where(t.alert_events.c.event.in_(("opened", "escalated")))
            .group_by(t.alerts.c.pipeline, t.alert_events.c.level)
        ):
            notifications.add_metric([pipeline, level], float(n))
        counted = set()
        for pipeline, kind, n in conn.execute(
            select(t.suggestions.c.pipeline, t.suggestions.c.kind, func.count())
            .where(t.suggestions.c.status.in_(("open", "acknowledged")))
            .group_by(t.suggestions.c.pipeline, t.suggestions.c.kind)
        ):
            suggestions.add_metric([pipeline, kind], float(n))
            counted.add(pipeline)
        for pipeline in pipelines:
            if pipeline not in counted:
                suggestions.add_metric([pipeline, "none"], 0.0)
        for router, status, n in conn.execute(
            select(
                t.suggestion_deliveries.c.router, t.suggestion_deliveries.c.status, func.count()
            ).group_by(t.suggestion_deliveries.c.router, t.suggestion_deliveries.c.status)
        ):
            deliveries.add_metric([router, status], float(n))
        window = AlertOptions().actionability_window
        for pipeline, kind in conn.execute(
            select(t.alerts.c.pipeline, t.alerts.c.kind).distinct()
        ).all():
            acted, closed = actionability_of(conn, pipeline, kind, window)
            if closed:
                actionability.add_metric([pipeline, kind], acted / closed)
        return [open_alerts, demoted, notifications, suggestions, deliveries, actionability]


class MonitorsSource:
    """Per pipeline: the latest batch's validation failures and drift, performance and SLO,
    label coverage and lag."""

    def collect(self, conn: Connection, now: float) -> Iterable[Metric]:
        labels = ["pipeline", "model", "version"]
        last_check = GaugeMetricFamily(
            "mileage_monitor_last_check_timestamp_seconds",
            "Unix time the latest batch of each pipeline was checked.",
            labels=["pipeline"],
        )
        failures = GaugeMetricFamily(
            "mileage_monitor_validation_failures",
            "Failed validation checks in the latest batch, by severity.",
            labels=[*labels, "severity"],
        )
        blocking = GaugeMetricFamily(
            "mileage_monitor_blocking_findings",
            "Blocking findings in the latest batch, by check kind.",
            labels=[*labels, "check_kind"],
        )
        drift = GaugeMetricFamily(
            "mileage_monitor_drift_score",
            f"Drift effect size of the {TOP_FEATURES} most drifted columns of the latest batch "
            "(normed Wasserstein or Jensen-Shannon distance).",
            labels=[*labels, "feature"],
        )
        drifted = GaugeMetricFamily(
            "mileage_monitor_drifted_features_ratio",
            "Share of the columns tested in the latest batch whose drift alarmed.",
            labels=labels,
        )
        performance = GaugeMetricFamily(
            "mileage_monitor_performance",
            "Latest final value of the pipeline's metric, overall (slice 'all') and per slice.",
            labels=[*labels, "slice", "metric"],
        )
        slo = GaugeMetricFamily(
            "mileage_monitor_slo",
            "Service level of the pipeline's metric.",
            labels=["pipeline", "metric"],
        )
        margin = GaugeMetricFamily(
            "mileage_monitor_slo_margin",
            "Latest final metric minus the SLO, signed so that below 0 means the SLO is broken.",
            labels=labels,
        )
        healthy = GaugeMetricFamily(
            "mileage_monitor_slo_healthy",
            "1 when the pipeline's metric over its SLO window (the labelled rows of the latest "
            "final batches) meets the SLO, 0 when it is broken; absent while unknown.",
            labels=[*labels, "metric"],
        )
        agreement = GaugeMetricFamily(
            "mileage_monitor_label_agreement_ratio",
            "Share of the latest batch's labelled rows on which all labelers agree: the "
            "ceiling of the accuracy against those labels.",
            labels=labels,
        )
        kappa = GaugeMetricFamily(
            "mileage_monitor_label_kappa",
            "Cohen's kappa between the labelers on the latest batch with labeler columns.",
            labels=labels,
        )
        coverage = GaugeMetricFamily(
            "mileage_monitor_label_coverage_ratio",
            "Share of the latest judged batch's predictions that have a label.",
            labels=labels,
        )
        lag = GaugeMetricFamily(
            "mileage_monitor_label_lag_seconds",
            "Delay between prediction and label in the latest judged batch (median and p90).",
            labels=[*labels, "quantile"],
        )
        families = {
            "last_check": last_check,
            "failures": failures,
            "blocking": blocking,
            "drift": drift,
            "drifted": drifted,
            "performance": performance,
            "slo": slo,
            "margin": margin,
            "slo_healthy": healthy,
            "agreement": agreement,
            "kappa": kappa,
            "coverage": coverage,
            "lag": lag,
        }
        latest = _LatestRuns.read(conn)
        for row in conn.execute(select(t.monitors.c.id, t.monitors.c.config)):
            config = MonitorConfig.from_dict(dict(row.config))
            self._pipeline(int(row.id), config, latest, families)
            self._performance(int(row.id), config, latest, families)
        return list(families.values())

    def _pipeline(
        self,
        monitor_id: int,
        config: MonitorConfig,
        latest: _LatestRuns,
        f: dict[str, GaugeMetricFamily],
    ) -> None:
        name = config.name
        perf = config.performance_options()
        if perf.slo is not None:
            f["slo"].add_metric([name, perf.metric], float(perf.slo))
        check = latest.checks.get(monitor_id)
        if check is None:
            return
        model, version = _model_labels(check.model_version)
        base = [name, model, version]
        if check.finished_at is not None:
            f["last_check"].add_metric([name], epoch_seconds(check.finished_at))
        counts = latest.findings.get(check.id, {})
        for severity in ("warning", "blocking"):
            n = counts.get(("validation", severity), 0)
            f["failures"].add_metric([*base, severity], float(n))
        for kind in ("input", "validation", "drift", "performance"):
            f["blocking"].add_metric([*base, kind], float(counts.get((kind, "blocking"), 0)))
        stats = latest.drift.get(check.id, [])
        effects = {c: v for c, s, v in stats if s == "effect" and v is not None}
        levels = {c: v for c, s, v in stats if s == "drift_level"}
        for column, value in sorted(effects.items(), key=lambda kv: -kv[1])[:TOP_FEATURES]:
            f["drift"].add_metric([*base, column], float(value))
        if levels:
            alarmed = sum(1 for v in levels.values() if (v or 0) >= 2)
            f["drifted"].add_metric(base, alarmed / len(levels))

    def _performance(
        self,
        monitor_id: int,
        config: MonitorConfig,
        latest: _LatestRuns,
        f: dict[str, GaugeMetricFamily],
    ) -> None:
        name, perf = config.name, config.performance_options()
        judged = latest.judged.get(monitor_id)
        if judged is None:
            return
        stats = latest.performance.get(judged.id, {})
        base = [name, *_model_labels(latest.versions.get((monitor_id, judged.batch_id)))]
        cov = stats.get(("", "label_coverage"))
        self._state(monitor_id, name, perf.metric, latest, f)
        if cov is not None:
            f["coverage"].add_metric(base, float(cov))
        for q, key in (("0.5", "label_lag_days_median"), ("0.9", "label_lag_days_p90")):
            value = stats.get(("", key))
            if value is not None:
                f["lag"].add_metric([*base, q], float(value) * 86400)
        final = latest.final.get(monitor_id)
        if final is None:
            return
        stats = latest.performance.get(final.id, {})
        base = [name, *_model_labels(latest.versions.get((monitor_id, final.batch_id)))]
        for (slice_, statistic), value in sorted(stats.items()):
            if statistic == perf.metric and value is not None:
                f["performance"].add_metric([*base, slice_ or "all", perf.metric], float(value))
        value = stats.get(("", perf.metric))
        if perf.slo is not None and value is not None:
            signed = value - perf.slo if HIGHER_IS_BETTER[perf.metric] else perf.slo - value
            f["margin"].add_metric(base, float(signed))

    def _state(
        self,
        monitor_id: int,
        name: str,
        metric: str,
        latest: _LatestRuns,
        f: dict[str, GaugeMetricFamily],
    ) -> None:
        """The latest SLO state and labeler agreement (R27), each from the newest run with it."""
        state = latest.slo_state.get(monitor_id)
        stats = latest.performance.get(state.id, {}) if state is not None else {}
        value = stats.get(("", "slo_healthy"))
        if state is not None and value is not None:
            base = [name, *_model_labels(latest.versions.get((monitor_id, state.batch_id)))]
            f["slo_healthy"].add_metric([*base, metric], float(value))
        agreed = latest.agreed.get(monitor_id)
        stats = latest.performance.get(agreed.id, {}) if agreed is not None else {}
        agreement = stats.get(("", "label_agreement"))
        if agreed is not None and agreement is not None:
            base = [name, *_model_labels(latest.versions.get((monitor_id, agreed.batch_id)))]
            f["agreement"].add_metric(base, float(agreement))
            kappa = stats.get(("", "label_kappa"))
            if kappa is not None:
                f["kappa"].add_metric(base, float(kappa))


@dataclass
class _LatestRuns:
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
        performance: Run id (of the four above) -> (slice, statistic) -> value.
        versions: (monitor id, batch id) -> model version of the batch's check run.
    """

    checks: dict[int, Any] = field(default_factory=dict)
    findings: dict[int, dict[tuple[str, str], int]] = field(default_factory=dict)
    drift: dict[int, list[tuple[str, str, float | None]]] = field(default_factory=dict)
    judged: dict[int, Any] = field(default_factory=dict)
    final: dict[int, Any] = field(default_factory=dict)
    slo_state: dict[int, Any] = field(default_factory=dict)
    agreed: dict[int, Any] = field(default_factory=dict)
    performance: dict[int, dict[tuple[str, str], float | None]] = field(default_factory=dict)
    versions: dict[tuple[int, str], str | None] = field(default_factory=dict)

    @classmethod
    def read(cls, conn: Connection) -> _LatestRuns:
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
        targets = (
            (out.judged, newest()),
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


__all__ = ["TOP_FEATURES", "AlertsSource", "MonitorsSource"]
