"""Prometheus recording and alerting rules, their unit tests, and the Alertmanager config.

Paging is reserved for what users feel: a dead daemon or monitor, an SLO burning its error
budget. The pipeline alerts of Mileage's own policy (a broken column, an unreadable batch,
drift) are pushed by the daemon to Alertmanager's API (:mod:`mileage.monitors.alerts`), with
their grouping, persistence and acknowledgements; Prometheus does not evaluate them again, so
one incident pages once. Every rule carries a ``for:`` duration, a severity, a summary that
says what to do, and an absolute runbook link.

The SLO alerts follow the multi-window, multi-burn-rate form of the SRE workbook: the error
ratio is the share of time a pipeline's windowed SLO state (``mileage_monitor_slo_healthy``)
was broken; with an objective of 99 % the budget is 1 %, a fast burn (14.4x over 1 h *and*
5 min) pages within minutes, a slow burn (6x over 6 h *and* 30 min) pages too, and the short
window makes either resolve soon after the SLO window recovers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Share of time a pipeline's windowed SLO must hold (the error budget is the rest).
SLO_OBJECTIVE = 0.99
#: (name, long window, short window, burn-rate factor, for, severity) of the burn-rate alerts.
BURN_RATES: tuple[tuple[str, str, str, float, str, str], ...] = (
    ("MileageSLOBurnFast", "1h", "5m", 14.4, "2m", "page"),
    ("MileageSLOBurnSlow", "6h", "30m", 6.0, "15m", "page"),
)
SLO_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "6h")


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
        # max by: the store-backed families are the same on every replica, so two scraped
        # daemons must not make the match many-to-many
        "mileage:job_overdue:ratio",
        "(time() - max by (mileage_job) (mileage_job_last_success_timestamp_seconds))"
        " / on (mileage_job) max by (mileage_job) (mileage_job_interval_seconds)",
    ),
    (
        "mileage:job_failures:increase1h",
        'sum by (mileage_job) (increase(mileage_job_runs_total{status="failed"}[1h]))',
    ),
    *(
        (
            f"mileage:slo_errors:ratio_avg{w}",
            f"1 - min by (pipeline) (avg_over_time(mileage_monitor_slo_healthy[{w}]))",
        )
        for w in SLO_WINDOWS
    ),
)


def _burn_rule(
    name: str, long: str, short: str, factor: float, duration: str, severity: str
) -> AlertRule:
    budget = round(1 - SLO_OBJECTIVE, 6)
    threshold = f"({factor} * {budget})"
    return AlertRule(
        name=name,
        expr=(
            f"mileage:slo_errors:ratio_avg{long} > {threshold}"
            f" and on (pipeline) mileage:slo_errors:ratio_avg{short} > {threshold}"
        ),
        duration=duration,
        severity=severity,
        summary=(
            "Pipeline {{ $labels.pipeline }} burns its SLO error budget "
            f"{factor:g}x too fast ({long} and {short} windows): its metric over the SLO "
            "window is below the SLO."
        ),
        description=(
            "The windowed metric (the labelled rows of the last final batches) is below the "
            "SLO; 'mileage alerts list --pipeline NAME' shows what explains it and "
            "'mileage suggestions list --pipeline NAME' the remedy (often a rollback)."
        ),
        runbook="slo-burn",
        test_series=(
            (
                'mileage_monitor_slo_healthy{pipeline="churn",model="churn",version="7",'
                'metric="roc_auc"}',
                "1x60 0x420",
            ),
        ),
        test_at="420m" if long == "6h" else "90m",
        test_labels={"pipeline": "churn"},
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
        expr='mileage:job_overdue:ratio{mileage_job=~"monitor:.*"} > 3',
        duration="10m",
        severity="page",
        summary="Monitor {{ $labels.mileage_job }} has not succeeded for over 3 intervals: the pipeline is unwatched.",
        description="See 'mileage status' and the job's last error in 'mileage daemon --once --json'.",
        runbook="monitor-dead",
        test_series=(
            (
                'mileage_job_last_success_timestamp_seconds{job="mileage",instance="a:9464",mileage_job="monitor:churn"}',
                "0x40",
            ),
            (
                'mileage_job_interval_seconds{job="mileage",instance="a:9464",mileage_job="monitor:churn"}',
                "60x40",
            ),
            # a standby replica exports the same store-backed series
            (
                'mileage_job_last_success_timestamp_seconds{job="mileage",instance="b:9464",mileage_job="monitor:churn"}',
                "0x40",
            ),
        ),
        test_at="30m",
        test_labels={"mileage_job": "monitor:churn"},
    ),
    AlertRule(
        name="MileageJobOverdue",
        expr='mileage:job_overdue:ratio{mileage_job!~"monitor:.*"} > 3',
        duration="30m",
        severity="ticket",
        summary="Job {{ $labels.mileage_job }} has not succeeded for over 3 intervals.",
        description="Collection or training is stale; the data behind warm starts and chains is ageing.",
        runbook="job-overdue",
        test_series=(
            (
                'mileage_job_last_success_timestamp_seconds{job="mileage",mileage_job="collect:mlflow:1"}',
                "0x60",
            ),
            (
                'mileage_job_interval_seconds{job="mileage",mileage_job="collect:mlflow:1"}',
                "60x60",
            ),
        ),
        test_at="50m",
        test_labels={"mileage_job": "collect:mlflow:1"},
    ),
    AlertRule(
        name="MileageCollectorFailing",
        expr="max by (kind, source) (mileage_collector_last_pass_failed) == 1",
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
    *(_burn_rule(*b) for b in BURN_RATES),
    AlertRule(
        name="MileageSuggestionUndelivered",
        expr='sum by (router) (increase(mileage_suggestion_deliveries_total{status="failed"}[1h])) > 0',
        duration="1m",
        severity="ticket",
        summary="Router {{ $labels.router }} failed to deliver suggestions (every retry failed, or its webhook variable is unset).",
        description="The suggestions are still in the inbox ('mileage suggestions list'); fix the router (webhook URL variable, MLflow server) and new suggestions are delivered again. Clears an hour after the last failure.",
        runbook="suggestion-undelivered",
        test_series=(
            ('mileage_suggestion_deliveries_total{router="webhook",status="failed"}', "0x10 2x60"),
        ),
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
                # evaluated at Prometheus's evaluation interval, like the alerts that read them
                "name": "mileage-recording",
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
    tests.append(_burn_lifecycle_test(runbook_base))
    return {
        "rule_files": ["../rules/mileage.rules.yml"],
        "evaluation_interval": "1m",
        "tests": tests,
    }


def _burn_lifecycle_test(runbook_base: str) -> dict[str, Any]:
    """The fast SLO page stays while the SLO window is broken and resolves once it recovers
    (healthy for an hour, broken for an hour, healthy again)."""
    fast = next(a for a in ALERTS if a.name == BURN_RATES[0][0])
    firing = {
        "exp_labels": {"severity": fast.severity, **fast.test_labels},
        "exp_annotations": {
            "summary": _render(fast.summary, fast.test_labels),
            "description": fast.description,
            "runbook_url": f"{runbook_base}#{fast.runbook}",
        },
    }
    return {
        "interval": "1m",
        "input_series": [{"series": fast.test_series[0][0], "values": "1x60 0x60 1x60"}],
        "alert_rule_test": [
            {"eval_time": "60m", "alertname": fast.name, "exp_alerts": []},
            {"eval_time": "75m", "alertname": fast.name, "exp_alerts": [firing]},
            {"eval_time": "120m", "alertname": fast.name, "exp_alerts": [firing]},
            {"eval_time": "135m", "alertname": fast.name, "exp_alerts": []},
        ],
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


def with_receivers(
    config: dict[str, Any],
    urls: dict[str, str],
    *,
    group_wait: str | None = None,
    group_interval: str | None = None,
) -> dict[str, Any]:
    """A copy of an Alertmanager config with each named receiver's webhook URL replaced.

    The shipped ``alertmanager.yml`` points its ``pager`` and ``tickets`` receivers at
    placeholders; this is the one sanctioned edit (plus shorter grouping waits for tests).
    Check the result with ``amtool check-config``.

    Raises:
        KeyError: A receiver in ``urls`` is not in the config (the message names them).
    """
    import copy

    out = copy.deepcopy(config)
    receivers = {r["name"]: r for r in out["receivers"]}
    unknown = sorted(set(urls) - set(receivers))
    if unknown:
        raise KeyError(f"no receiver {unknown} in the config; receivers: {sorted(receivers)}")
    for name, url in urls.items():
        for hook in receivers[name].get("webhook_configs", []):
            hook["url"] = url
    if group_wait is not None:
        out["route"]["group_wait"] = group_wait
    if group_interval is not None:
        out["route"]["group_interval"] = group_interval
    return out


def prometheus_config(targets: list[str]) -> dict[str, Any]:
    """Scrape config for the compose stack (or any Prometheus next to the daemon)."""
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "30s"},
        "rule_files": ["/etc/prometheus/rules/*.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]},
        "scrape_configs": [{"job_name": "mileage", "static_configs": [{"targets": targets}]}],
    }
