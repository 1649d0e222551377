"""Prometheus metrics read from the trace store at scrape time: monitors, alerts, suggestions.

Labels stay low-cardinality: pipeline, model (registered name), version, slice, kind, level;
drift scores are exported for the ``TOP_FEATURES`` most drifted features of each pipeline's
latest batch only. Webhook URLs and other router settings are never exported.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import Connection, func, select

from mileage.monitors._registry import LatestRuns
from mileage.monitors.alerts._policy import AlertOptions
from mileage.monitors.alerts._policy import actionability as actionability_of
from mileage.monitors.checks._check import MonitorConfig
from mileage.monitors.checks._performance import HIGHER_IS_BETTER
from mileage.platform.store import epoch_seconds
from mileage.platform.store import schema as t

TOP_FEATURES = 5
#: Metrics estimated without labels, exported by mileage_monitor_performance_estimated.
ESTIMATED = ("accuracy", "f1", "roc_auc", "mae")
LEVELS = ("page", "ticket", "info")
FINAL_DELIVERY = ("delivered", "skipped", "failed")


def _model_labels(version: str | None) -> tuple[str, str]:
    if not version:
        return "", ""
    name, _, number = str(version).rpartition("/")
    return (name, number) if name else ("", str(version))


class AlertsSource:
    """Open alerts and suggestions, notifications sent, deliveries, actionability."""

    def collect(self, conn: Connection, now: float) -> Iterable[Metric]:  # noqa: C901 (one pass builds every family)
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
        # A delivery row ends delivered, skipped or failed and never leaves that state, so
        # their counts only grow (a removed pipeline's rows go with it: a counter reset, which
        # increase() handles); pending deliveries come and go and are a gauge.
        deliveries = CounterMetricFamily(
            "mileage_suggestion_deliveries",
            "Suggestion deliveries that ended, by router and final status (delivered, skipped, "
            "failed: every attempt failed or the router is misconfigured).",
            labels=["router", "status"],
        )
        pending = GaugeMetricFamily(
            "mileage_suggestion_deliveries_pending",
            "Suggestion deliveries waiting for a retry, by router.",
            labels=["router"],
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
        for pipeline in pipelines:
            if not any(p == pipeline for p, _ in lowered):
                demoted.add_metric([pipeline, "none"], 0.0)
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
        ended: set[tuple[str, str]] = set()
        for router, status, n in conn.execute(
            select(
                t.suggestion_deliveries.c.router, t.suggestion_deliveries.c.status, func.count()
            ).group_by(t.suggestion_deliveries.c.router, t.suggestion_deliveries.c.status)
        ):
            if status == "pending":
                pending.add_metric([router], float(n))
            else:
                deliveries.add_metric([router, status], float(n))
                ended.add((router, status))
        # every outcome of every router starts at 0, so the first failure is an increase
        routers = {"inbox", "mlflow", "webhook"} | {r for r, _ in ended}
        for router in sorted(routers):
            for status in FINAL_DELIVERY:
                if (router, status) not in ended:
                    deliveries.add_metric([router, status], 0.0)
        window = AlertOptions().actionability_window
        for pipeline, kind in conn.execute(
            select(t.alerts.c.pipeline, t.alerts.c.kind).distinct()
        ).all():
            acted, closed = actionability_of(conn, pipeline, kind, window)
            if closed:
                actionability.add_metric([pipeline, kind], acted / closed)
        return [
            open_alerts,
            demoted,
            notifications,
            suggestions,
            deliveries,
            pending,
            actionability,
        ]


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
        estimated = GaugeMetricFamily(
            "mileage_monitor_performance_estimated",
            "The pipeline's metric estimated without labels on its latest scored batch "
            "(accuracy, F1 and ROC AUC from calibrated scores; MAE from a model of the error), "
            "beside the realised mileage_monitor_performance once labels arrive.",
            labels=[*labels, "metric"],
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
        windowed = GaugeMetricFamily(
            "mileage_monitor_slo_window_value",
            "The pipeline's metric over its SLO window (the labelled rows of the latest final "
            "batches): what mileage_monitor_slo_healthy compares with the SLO.",
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
            "Delay between prediction and label in the latest judged batch, by percentile "
            "(50: median, 90).",
            # not 'quantile': that label is reserved for summaries
            labels=[*labels, "percentile"],
        )
        families = {
            "last_check": last_check,
            "failures": failures,
            "blocking": blocking,
            "drift": drift,
            "drifted": drifted,
            "performance": performance,
            "estimated": estimated,
            "slo": slo,
            "margin": margin,
            "slo_healthy": healthy,
            "slo_window": windowed,
            "agreement": agreement,
            "kappa": kappa,
            "coverage": coverage,
            "lag": lag,
        }
        latest = LatestRuns.read(conn)
        for row in conn.execute(select(t.monitors.c.id, t.monitors.c.config)):
            config = MonitorConfig.from_dict(dict(row.config))
            self._pipeline(int(row.id), config, latest, families)
            self._performance(int(row.id), config, latest, families)
        return list(families.values())

    def _pipeline(
        self,
        monitor_id: int,
        config: MonitorConfig,
        latest: LatestRuns,
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
        latest: LatestRuns,
        f: dict[str, GaugeMetricFamily],
    ) -> None:
        name, perf = config.name, config.performance_options()
        guessed = latest.estimated.get(monitor_id)
        if guessed is not None:
            stats = latest.performance.get(guessed.id, {})
            base = [name, *_model_labels(latest.versions.get((monitor_id, guessed.batch_id)))]
            for metric in ESTIMATED:
                value = stats.get(("", f"{metric}_estimated"))
                if value is not None:
                    f["estimated"].add_metric([*base, metric], float(value))
        judged = latest.judged.get(monitor_id)
        if judged is None:
            return
        stats = latest.performance.get(judged.id, {})
        base = [name, *_model_labels(latest.versions.get((monitor_id, judged.batch_id)))]
        cov = stats.get(("", "label_coverage"))
        self.cli_state(monitor_id, name, perf.metric, latest, f)
        if cov is not None:
            f["coverage"].add_metric(base, float(cov))
        for q, key in (("50", "label_lag_days_median"), ("90", "label_lag_days_p90")):
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

    def cli_state(
        self,
        monitor_id: int,
        name: str,
        metric: str,
        latest: LatestRuns,
        f: dict[str, GaugeMetricFamily],
    ) -> None:
        """The latest SLO state and labeler agreement, each from the newest run with it."""
        state = latest.slo_state.get(monitor_id)
        stats = latest.performance.get(state.id, {}) if state is not None else {}
        value = stats.get(("", "slo_healthy"))
        if state is not None and value is not None:
            base = [name, *_model_labels(latest.versions.get((monitor_id, state.batch_id)))]
            f["slo_healthy"].add_metric([*base, metric], float(value))
        windowed = stats.get(("", "slo_window_metric"))
        if state is not None and windowed is not None:
            base = [name, *_model_labels(latest.versions.get((monitor_id, state.batch_id)))]
            f["slo_window"].add_metric([*base, metric], float(windowed))
        agreed = latest.agreed.get(monitor_id)
        stats = latest.performance.get(agreed.id, {}) if agreed is not None else {}
        agreement = stats.get(("", "label_agreement"))
        if agreed is not None and agreement is not None:
            base = [name, *_model_labels(latest.versions.get((monitor_id, agreed.batch_id)))]
            f["agreement"].add_metric(base, float(agreement))
            kappa = stats.get(("", "label_kappa"))
            if kappa is not None:
                f["kappa"].add_metric(base, float(kappa))


__all__ = ["TOP_FEATURES", "AlertsSource", "MonitorsSource"]
