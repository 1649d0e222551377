"""Prometheus recording and alerting rules, their unit tests, and the Alertmanager config.

Paging is reserved for what users feel: a dead monitor or scheduler, an SLO burning, a
blocking validation failure (upstream data broke). Drift, prediction drift, undelivered
suggestions and collector trouble open tickets. Pipeline alerts read Mileage's own alert
policy (``mileage_open_alerts``), so its grouping, persistence and demotion apply to
Alertmanager too. Every alert carries a
``for:`` duration, a severity, a summary that says what to do, and a runbook link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule and the promtool test that proves it fires."""

    name: str
    expr: str
    duration: str
    severity: str
    summary: str
    description: str
    runbook: str
    test_series: tuple[tuple[str, str], ...]
    test_at: str
    test_labels: dict[str, str] = field(default_factory=dict)


RECORDING_RULES: tuple[tuple[str, str], ...] = (
    (
        "mileage:job_overdue:ratio",
        "(time() - mileage_job_last_success_timestamp_seconds) / on(job) mileage_job_interval_seconds",
    ),
    (
        "mileage:job_failures:increase1h",
        'sum by (job) (increase(mileage_job_runs_total{status="failed"}[1h]))',
    ),
)

ALERTS: tuple[AlertRule, ...] = (
    AlertRule(
        name="MileageSchedulerDown",
        expr="sum(mileage_scheduler_leader) < 1 or absent(mileage_scheduler_leader)",
        duration="5m",
        severity="page",
        summary="No Mileage daemon holds the scheduler lease: no collection, training or monitoring runs.",
        description="Start 'mileage daemon' (or check why every replica stands by: database reachable? lock file?).",
        runbook="scheduler-down",
        test_series=(("mileage_scheduler_leader", "0x20"),),
        test_at="10m",
    ),
    AlertRule(
        name="MileageMonitorDead",
        expr='mileage:job_overdue:ratio{job=~"monitor:.*"} > 3',
        duration="10m",
        severity="page",
        summary="Monitor {{ $labels.job }} has not succeeded for over 3 intervals: the pipeline is unwatched.",
        description="See 'mileage status' and the job's last error in 'mileage daemon --once --json'.",
        runbook="monitor-dead",
        test_series=(
            ('mileage_job_last_success_timestamp_seconds{job="monitor:churn"}', "0x40"),
            ('mileage_job_interval_seconds{job="monitor:churn"}', "60x40"),
        ),
        test_at="30m",
        test_labels={"job": "monitor:churn"},
    ),
    AlertRule(
        name="MileageJobOverdue",
        expr='mileage:job_overdue:ratio{job!~"monitor:.*"} > 3',
        duration="30m",
        severity="ticket",
        summary="Job {{ $labels.job }} has not succeeded for over 3 intervals.",
        description="Collection or training is stale; the data behind warm starts and chains is ageing.",
        runbook="job-overdue",
        test_series=(
            ('mileage_job_last_success_timestamp_seconds{job="collect:mlflow:1"}', "0x60"),
            ('mileage_job_interval_seconds{job="collect:mlflow:1"}', "60x60"),
        ),
        test_at="50m",
        test_labels={"job": "collect:mlflow:1"},
    ),
    AlertRule(
        name="MileageCollectorFailing",
        expr="mileage_collector_last_pass_failed == 1",
        duration="30m",
        severity="ticket",
        summary="Collection from {{ $labels.source }} keeps failing.",
        description="'mileage status --json' shows the last error; the source's cursor is safe, nothing is lost.",
        runbook="collector-failing",
        test_series=(
            ('mileage_collector_last_pass_failed{kind="mlflow",source="http://tracking"}', "1x60"),
        ),
        test_at="45m",
        test_labels={"kind": "mlflow", "source": "http://tracking"},
    ),
)

PIPELINE_ALERTS: tuple[AlertRule, ...] = (
    AlertRule(
        name="MileageSLOBurn",
        expr="mileage_monitor_slo_margin < 0",
        duration="5m",
        severity="page",
        summary="Pipeline {{ $labels.pipeline }} breaks its SLO (model {{ $labels.model }} version {{ $labels.version }}).",
        description="The latest final metric is below the SLO: the pipeline is broken. 'mileage suggestions list --pipeline NAME' has the remedy (usually a rollback to the fallback version).",
        runbook="slo-burn",
        test_series=(
            ('mileage_monitor_slo_margin{pipeline="churn",model="churn",version="7"}', "-0.03x20"),
        ),
        test_at="10m",
        test_labels={"pipeline": "churn", "model": "churn", "version": "7"},
    ),
    AlertRule(
        name="MileageBrokenColumn",
        expr='max by (pipeline) (mileage_open_alerts{kind="broken_column", severity="page"}) > 0',
        duration="2m",
        severity="page",
        summary="Upstream data of pipeline {{ $labels.pipeline }} broke its contract (blocking validation).",
        description="A column is missing, retyped, out of range, null or renamed upstream; its drift and the prediction drift it causes are grouped in the same alert. 'mileage alerts list --pipeline NAME'.",
        runbook="broken-column",
        test_series=(
            (
                'mileage_open_alerts{pipeline="churn",severity="page",kind="broken_column"}',
                "1x10",
            ),
        ),
        test_at="5m",
        test_labels={"pipeline": "churn"},
    ),
    AlertRule(
        name="MileageInputBroken",
        expr='max by (pipeline) (mileage_open_alerts{kind="input_error", severity="page"}) > 0',
        duration="2m",
        severity="page",
        summary="Pipeline {{ $labels.pipeline }} received a batch that cannot be read, is empty or cannot be scored.",
        description="Nothing about that batch can be trusted; see 'mileage alerts list --pipeline NAME' for the error.",
        runbook="input-broken",
        test_series=(
            ('mileage_open_alerts{pipeline="churn",severity="page",kind="input_error"}', "1x10"),
        ),
        test_at="5m",
        test_labels={"pipeline": "churn"},
    ),
    AlertRule(
        name="MileageDrift",
        expr='max by (pipeline) (mileage_open_alerts{kind=~"drift|label_shift", severity=~"page|ticket"}) > 0',
        duration="30m",
        severity="ticket",
        summary="The inputs (or labels) of pipeline {{ $labels.pipeline }} drifted.",
        description="Drift pages only through the SLO; this ticket carries the suggestion (retrain on a recent window, or refresh the reference when performance holds).",
        runbook="drift",
        test_series=(
            ('mileage_open_alerts{pipeline="churn",severity="ticket",kind="drift"}', "1x60"),
        ),
        test_at="45m",
        test_labels={"pipeline": "churn"},
    ),
    AlertRule(
        name="MileagePredictionDrift",
        expr='max by (pipeline) (mileage_open_alerts{kind=~"prediction_drift|model_release", severity=~"page|ticket"}) > 0',
        duration="30m",
        severity="ticket",
        summary="The predictions of pipeline {{ $labels.pipeline }} shifted with no input drift to explain it.",
        description="Right after a model release this usually means the new version; the suggestion is a rollback to the fallback version.",
        runbook="prediction-drift",
        test_series=(
            (
                'mileage_open_alerts{pipeline="churn",severity="ticket",kind="model_release"}',
                "1x60",
            ),
        ),
        test_at="45m",
        test_labels={"pipeline": "churn"},
    ),
    AlertRule(
        name="MileageSuggestionUndelivered",
        expr='sum by (router) (mileage_suggestion_deliveries{status="failed"}) > 0',
        duration="30m",
        severity="ticket",
        summary="Router {{ $labels.router }} failed to deliver suggestions after every retry.",
        description="The suggestions are still in the inbox ('mileage suggestions list'); fix the router (webhook URL variable, MLflow server) and they are delivered again.",
        runbook="suggestion-undelivered",
        test_series=(('mileage_suggestion_deliveries{router="webhook",status="failed"}', "2x60"),),
        test_at="45m",
        test_labels={"router": "webhook"},
    ),
)

ALERTS = ALERTS + PIPELINE_ALERTS

#: Alerts that a broken upstream column explains; inhibited while the column alert fires.
INHIBITED_BY_BROKEN_COLUMN: tuple[str, ...] = ("MileageDrift", "MileagePredictionDrift")
BROKEN_COLUMN_ALERT = "MileageBrokenColumn"


def rules_file(runbook_base: str) -> dict[str, Any]:
    """The Prometheus rule file."""
    return {
        "groups": [
            {
                "name": "mileage-recording",
                "interval": "1m",
                "rules": [{"record": name, "expr": expr} for name, expr in RECORDING_RULES],
            },
            {
                "name": "mileage-alerts",
                "rules": [
                    {
                        "alert": a.name,
                        "expr": a.expr,
                        "for": a.duration,
                        "labels": {"severity": a.severity},
                        "annotations": {
                            "summary": a.summary,
                            "description": a.description,
                            "runbook_url": f"{runbook_base}#{a.runbook}",
                        },
                    }
                    for a in ALERTS
                ],
            },
        ]
    }


def rules_test_file(runbook_base: str) -> dict[str, Any]:
    """promtool unit tests: each alert fires on its series, with the labels it promises."""
    tests = []
    for a in ALERTS:
        tests.append(
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in a.test_series],
                "alert_rule_test": [
                    {
                        "eval_time": a.test_at,
                        "alertname": a.name,
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": a.severity, **a.test_labels},
                                "exp_annotations": {
                                    "summary": _render(a.summary, a.test_labels),
                                    "description": a.description,
                                    "runbook_url": f"{runbook_base}#{a.runbook}",
                                },
                            }
                        ],
                    },
                    # not yet: before the 'for:' duration has passed nothing fires
                    {"eval_time": "1m", "alertname": a.name, "exp_alerts": []},
                ],
            }
        )
    return {
        "rule_files": ["../rules/mileage.rules.yml"],
        "evaluation_interval": "1m",
        "tests": tests,
    }


def _render(template: str, labels: dict[str, str]) -> str:
    for key, value in labels.items():
        template = template.replace("{{ $labels.%s }}" % key, value)  # noqa: UP031 - Go template syntax
    return template


def alertmanager_config() -> dict[str, Any]:
    """Route pages and tickets separately, grouped by pipeline; inhibit drift under a broken column."""
    return {
        "route": {
            "receiver": "tickets",
            "group_by": ["alertname", "pipeline"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {"matchers": ['severity="page"'], "receiver": "pager", "repeat_interval": "1h"},
                {
                    "matchers": ['severity="ticket"'],
                    "receiver": "tickets",
                    "repeat_interval": "24h",
                },
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": [f'alertname="{BROKEN_COLUMN_ALERT}"'],
                "target_matchers": [f'alertname=~"{"|".join(INHIBITED_BY_BROKEN_COLUMN)}"'],
                "equal": ["pipeline"],
            },
            {
                "source_matchers": ['alertname="MileageSchedulerDown"'],
                "target_matchers": ['alertname=~"MileageMonitorDead|MileageJobOverdue"'],
            },
        ],
        "receivers": [
            {
                "name": "pager",
                "webhook_configs": [{"url": "http://127.0.0.1:9095/page", "send_resolved": True}],
            },
            {
                "name": "tickets",
                "webhook_configs": [{"url": "http://127.0.0.1:9095/ticket", "send_resolved": True}],
            },
        ],
    }


def prometheus_config(targets: list[str]) -> dict[str, Any]:
    """Scrape config for the compose stack (or any Prometheus next to the daemon)."""
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "30s"},
        "rule_files": ["/etc/prometheus/rules/*.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]},
        "scrape_configs": [{"job_name": "mileage", "static_configs": [{"targets": targets}]}],
    }
