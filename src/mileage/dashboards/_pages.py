"""The three pages: on-call overview, per-pipeline drill-down, and the platform itself."""

from __future__ import annotations

from mileage.dashboards._spec import DashboardSpec, PanelSpec, Query, Variable

RED_ABOVE_0 = ((None, "green"), (1.0, "red"))

# -- platform: collectors, scheduler, jobs ---------------------------------------------------

PLATFORM = DashboardSpec(
    uid="mileage-platform",
    title="Mileage / Platform",
    description="Collectors, the scheduler and its jobs: is the platform itself healthy?",
    variables=(Variable("job", "Job", "label_values(mileage_job_interval_seconds, job)"),),
    rows=(
        (
            "Scheduler",
            (
                PanelSpec(
                    "Scheduler leaders",
                    "stat",
                    (Query("sum(mileage_scheduler_leader)", instant=True),),
                    "Replicas holding the scheduler lease. Exactly 1 is healthy; 0 means no job runs.",
                    thresholds=((None, "red"), (1.0, "green"), (2.0, "red")),
                ),
                PanelSpec(
                    "Jobs overdue",
                    "stat",
                    (
                        Query(
                            "count(mileage:job_overdue:ratio > 3) or vector(0)",
                            instant=True,
                        ),
                    ),
                    "Jobs whose last success is older than three intervals (the dead-man's switch).",
                    thresholds=RED_ABOVE_0,
                ),
                PanelSpec(
                    "Job failures (1h)",
                    "stat",
                    (
                        Query(
                            'sum(increase(mileage_job_runs_total{status="failed"}[1h])) or vector(0)',
                            instant=True,
                        ),
                    ),
                    "Scheduled runs that failed after all retries in the last hour.",
                    thresholds=RED_ABOVE_0,
                ),
                PanelSpec(
                    "Metric sources up",
                    "stat",
                    (Query("min(mileage_metrics_source_up)", instant=True),),
                    "0 when a part of the trace store could not be read during the scrape.",
                    thresholds=((None, "red"), (1.0, "green")),
                ),
            ),
        ),
        (
            "Jobs",
            (
                PanelSpec(
                    "Job runs by outcome",
                    "timeseries",
                    (
                        Query(
                            'sum by (job, status) (increase(mileage_job_runs_total{job=~"$job"}[$__rate_interval]))',
                            "{{job}} {{status}}",
                        ),
                    ),
                    "Scheduled runs per job and outcome (succeeded, failed, skipped when another replica claimed the slot).",
                    width=12,
                ),
                PanelSpec(
                    "Job duration p90",
                    "timeseries",
                    (
                        Query(
                            'histogram_quantile(0.9, sum by (job, le) (rate(mileage_job_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))',
                            "{{job}}",
                        ),
                    ),
                    "90th percentile wall time of each job.",
                    unit="s",
                    width=12,
                ),
                PanelSpec(
                    "Time since last success",
                    "table",
                    (
                        Query(
                            'time() - mileage_job_last_success_timestamp_seconds{job=~"$job"}',
                            "{{job}}",
                            instant=True,
                        ),
                    ),
                    "Seconds since each job last succeeded; compare with its interval.",
                    unit="s",
                    width=12,
                ),
                PanelSpec(
                    "Retries",
                    "timeseries",
                    (
                        Query(
                            'sum by (job) (increase(mileage_job_retries_total{job=~"$job"}[$__rate_interval]))',
                            "{{job}}",
                        ),
                    ),
                    "Attempts that failed and were retried with backoff.",
                    width=12,
                ),
            ),
        ),
        (
            "Collectors",
            (
                PanelSpec(
                    "Collector lag",
                    "timeseries",
                    (Query("mileage_collector_lag_seconds", "{{kind}} {{source}}"),),
                    "Seconds since each source was last collected successfully.",
                    unit="s",
                    width=12,
                ),
                PanelSpec(
                    "Runs in the trace store",
                    "timeseries",
                    (Query("mileage_collector_runs", "{{kind}} {{source}}"),),
                    "Runs stored per source.",
                    width=12,
                ),
                PanelSpec(
                    "Runs ingested per hour",
                    "timeseries",
                    (
                        Query(
                            "sum by (kind) (increase(mileage_collector_runs_ingested_total[1h]))",
                            "{{kind}}",
                        ),
                    ),
                    "New or changed runs written by collectors.",
                    width=12,
                ),
                PanelSpec(
                    "Last pass failed",
                    "table",
                    (
                        Query(
                            "mileage_collector_last_pass_failed",
                            "{{kind}} {{source}}",
                            instant=True,
                        ),
                    ),
                    "1 when the latest collection pass of a source failed: see 'mileage status'.",
                    width=12,
                    thresholds=RED_ABOVE_0,
                ),
            ),
        ),
        (
            "Meta-learner",
            (
                PanelSpec(
                    "Warm-start model age",
                    "stat",
                    (
                        Query(
                            'mileage_metalearner_training_age_seconds{model="warmstart"}',
                            "{{model}}",
                            instant=True,
                        ),
                    ),
                    "Time since the warm-start ranker was last trained from the trace store "
                    "('mileage train warmstart' or the daemon's metalearner job, which retrains "
                    "only when new runs arrived). Older than a few intervals: check the job.",
                    unit="s",
                    width=8,
                    thresholds=((None, "green"), (3 * 86400.0, "orange"), (7 * 86400.0, "red")),
                ),
                PanelSpec(
                    "Warm-start training tasks",
                    "timeseries",
                    (Query("mileage_metalearner_training_tasks", "{{model}}"),),
                    "Tasks (datasets with scored LightGBM configurations) the newest model learnt "
                    "from: public meta-data, OpenML and in-house MLflow runs. 0 before the first training.",
                    width=8,
                ),
                PanelSpec(
                    "Warm-start training scores",
                    "timeseries",
                    (Query("mileage_metalearner_training_scores", "{{model}}"),),
                    "Scored (task, configuration) pairs the newest model learnt from.",
                    width=8,
                ),
            ),
        ),
    ),
)

DASHBOARDS: tuple[DashboardSpec, ...] = (PLATFORM,)
