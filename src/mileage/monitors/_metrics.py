"""Prometheus metrics read from the trace store at scrape time: monitors, alerts, suggestions.

Labels stay low-cardinality: pipeline, model (registered name), version, slice, kind, level;
drift scores are exported for the ``TOP_FEATURES`` most drifted features of each pipeline's
latest batch only. Webhook URLs and other router settings are never exported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import Connection, func, select

from mileage.monitors._check import MonitorConfig
from mileage.monitors._performance import HIGHER_IS_BETTER
from mileage.monitors.alerts import AlertOptions
from mileage.monitors.alerts import actionability as actionability_of
from mileage.platform.store import schema as t

TOP_FEATURES = 5
LEVELS = ("page", "ticket", "info")


def _epoch(value: Any) -> float:
    from datetime import UTC

    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())


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
        for row in conn.execute(select(t.monitors.c.id, t.monitors.c.config)):
            self._pipeline(conn, int(row.id), MonitorConfig.from_dict(dict(row.config)), families)
        return list(families.values())

    def _pipeline(
        self,
        conn: Connection,
        monitor_id: int,
        config: MonitorConfig,
        f: dict[str, GaugeMetricFamily],
    ) -> None:
        name = config.name
        perf = config.performance_options()
        if perf.slo is not None:
            f["slo"].add_metric([name, perf.metric], float(perf.slo))
        check = conn.execute(
            select(
                t.monitor_runs.c.id, t.monitor_runs.c.model_version, t.monitor_runs.c.finished_at
            )
            .where(t.monitor_runs.c.monitor_id == monitor_id, t.monitor_runs.c.kind == "check")
            .order_by(t.monitor_runs.c.id.desc())
            .limit(1)
        ).first()
        if check is None:
            return
        model, version = _model_labels(check.model_version)
        base = [name, model, version]
        if check.finished_at is not None:
            f["last_check"].add_metric([name], _epoch(check.finished_at))
        counts: dict[str, int] = dict(
            conn.execute(
                select(t.monitor_findings.c.severity, func.count())
                .where(
                    t.monitor_findings.c.run_id == check.id,
                    t.monitor_findings.c.check_kind == "validation",
                )
                .group_by(t.monitor_findings.c.severity)
            ).all()
        )
        for severity in ("warning", "blocking"):
            f["failures"].add_metric([*base, severity], float(counts.get(severity, 0)))
        kinds: dict[str, int] = dict(
            conn.execute(
                select(t.monitor_findings.c.check_kind, func.count())
                .where(
                    t.monitor_findings.c.run_id == check.id,
                    t.monitor_findings.c.severity == "blocking",
                )
                .group_by(t.monitor_findings.c.check_kind)
            ).all()
        )
        for kind in ("input", "validation", "drift", "performance"):
            f["blocking"].add_metric([*base, kind], float(kinds.get(kind, 0)))
        stats = conn.execute(
            select(
                t.monitor_statistics.c.column,
                t.monitor_statistics.c.statistic,
                t.monitor_statistics.c.value,
            ).where(
                t.monitor_statistics.c.run_id == check.id,
                t.monitor_statistics.c.check_kind == "drift",
                t.monitor_statistics.c.statistic.in_(("effect", "drift_level")),
            )
        ).all()
        effects = {c: v for c, s, v in stats if s == "effect" and v is not None}
        levels = {c: v for c, s, v in stats if s == "drift_level"}
        for column, value in sorted(effects.items(), key=lambda kv: -kv[1])[:TOP_FEATURES]:
            f["drift"].add_metric([*base, column], float(value))
        if levels:
            alarmed = sum(1 for v in levels.values() if (v or 0) >= 2)
            f["drifted"].add_metric(base, alarmed / len(levels))
        self._performance(conn, monitor_id, config, f)

    def _performance(
        self,
        conn: Connection,
        monitor_id: int,
        config: MonitorConfig,
        f: dict[str, GaugeMetricFamily],
    ) -> None:
        name, perf = config.name, config.performance_options()
        rows = conn.execute(
            select(
                t.monitor_runs.c.id,
                t.monitor_runs.c.batch_id,
                t.monitor_statistics.c.slice,
                t.monitor_statistics.c.statistic,
                t.monitor_statistics.c.value,
            )
            .join(t.monitor_statistics, t.monitor_statistics.c.run_id == t.monitor_runs.c.id)
            .where(
                t.monitor_runs.c.monitor_id == monitor_id,
                t.monitor_statistics.c.check_kind == "performance",
            )
            .order_by(t.monitor_runs.c.id.desc())
            .limit(2000)
        ).all()
        runs: dict[int, dict[str, Any]] = {}
        for run_id, batch, slice_, statistic, value in rows:
            entry = runs.setdefault(int(run_id), {"batch": batch, "stats": {}})
            entry["stats"][(slice_, statistic)] = value
        if not runs:
            return
        versions = dict(
            conn.execute(
                select(t.monitor_runs.c.batch_id, t.monitor_runs.c.model_version).where(
                    t.monitor_runs.c.monitor_id == monitor_id, t.monitor_runs.c.kind == "check"
                )
            ).all()
        )
        latest = runs[max(runs)]
        base = [name, *_model_labels(versions.get(latest["batch"]))]
        self._state(runs, versions, name, perf.metric, f)
        cov = latest["stats"].get(("", "label_coverage"))
        if cov is not None:
            f["coverage"].add_metric(base, float(cov))
        for q, key in (("0.5", "label_lag_days_median"), ("0.9", "label_lag_days_p90")):
            value = latest["stats"].get(("", key))
            if value is not None:
                f["lag"].add_metric([*base, q], float(value) * 86400)
        final = next(
            (
                r
                for _, r in sorted(runs.items(), reverse=True)
                if r["stats"].get(("", "final")) == 1.0
            ),
            None,
        )
        if final is None:
            return
        base = [name, *_model_labels(versions.get(final["batch"]))]
        for (slice_, statistic), value in sorted(final["stats"].items()):
            if statistic == perf.metric and value is not None:
                f["performance"].add_metric([*base, slice_ or "all", perf.metric], float(value))
        value = final["stats"].get(("", perf.metric))
        if perf.slo is not None and value is not None:
            signed = value - perf.slo if HIGHER_IS_BETTER[perf.metric] else perf.slo - value
            f["margin"].add_metric(base, float(signed))

    def _state(
        self,
        runs: dict[int, dict[str, Any]],
        versions: dict[str, str | None],
        name: str,
        metric: str,
        f: dict[str, GaugeMetricFamily],
    ) -> None:
        """The latest SLO state and labeler agreement (R27), each from the newest run with it."""
        ordered = sorted(runs.items(), reverse=True)
        state = next((r for _, r in ordered if ("", "slo_window_batches") in r["stats"]), None)
        value = state["stats"].get(("", "slo_healthy")) if state else None
        if state is not None and value is not None:
            base = [name, *_model_labels(versions.get(state["batch"]))]
            f["slo_healthy"].add_metric([*base, metric], float(value))
        agreed = next(
            (r for _, r in ordered if r["stats"].get(("", "label_agreement")) is not None), None
        )
        if agreed is not None:
            base = [name, *_model_labels(versions.get(agreed["batch"]))]
            f["agreement"].add_metric(base, float(agreed["stats"][("", "label_agreement")]))
            k = agreed["stats"].get(("", "label_kappa"))
            if k is not None:
                f["kappa"].add_metric(base, float(k))


__all__ = ["TOP_FEATURES", "AlertsSource", "MonitorsSource"]
