"""The three pages: on-call overview, per-pipeline drill-down, and the platform itself."""

from __future__ import annotations

from mileage.dashboards._spec import DashboardSpec, PanelSpec, Query, Variable

RED_ABOVE_0 = ((None, "green"), (1.0, "red"))

# -- platform: collectors, scheduler, jobs ---------------------------------------------------

PLATFORM = DashboardSpec(
    uid="mileage-platform",
    title="Mileage / Platform",
    description="Collectors, the scheduler and its jobs: is the platform itself healthy?",
    variables=(
        Variable("mileage_job", "Job", "label_values(mileage_job_interval_seconds, mileage_job)"),
    ),
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
                            "sum(mileage:job_overdue:ratio > bool 3)",
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
                            'sum(increase(mileage_job_runs_total{status="failed"}[1h]))',
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
                            'sum by (mileage_job, status) (increase(mileage_job_runs_total{mileage_job=~"$mileage_job"}[$__rate_interval]))',
                            "{{mileage_job}} {{status}}",
                        ),
                    ),
                    "Scheduled runs per job and outcome (succeeded, failed, skipped when another replica claimed the slot).",
                    width=12,
                ),
                PanelSpec(
                    "Job duration",
                    "timeseries",
                    (
                        Query(
                            "histogram_quantile(0.9, sum by (kind, le) (rate(mileage_job_duration_seconds_bucket[$__rate_interval])))",
                            "p90 {{kind}}",
                        ),
                        Query(
                            'mileage_job_last_duration_seconds{mileage_job=~"$mileage_job"}',
                            "{{mileage_job}}",
                        ),
                    ),
                    "90th percentile wall time per job kind, and each selected job's latest run.",
                    unit="s",
                    width=12,
                ),
                PanelSpec(
                    "Time since last success",
                    "table",
                    (
                        Query(
                            'time() - mileage_job_last_success_timestamp_seconds{mileage_job=~"$mileage_job"}',
                            "{{mileage_job}}",
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
                            'sum by (mileage_job) (increase(mileage_job_retries_total{mileage_job=~"$mileage_job"}[$__rate_interval]))',
                            "{{mileage_job}}",
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
                    "('mileage warmstart train' or the daemon's metalearner job, which retrains "
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

# -- on-call: what needs a person now, across pipelines ----------------------------------------

PIPELINE_LINK = (("Pipeline drill-down", "/d/mileage-pipeline"),)

ONCALL = DashboardSpec(
    uid="mileage-oncall",
    title="Mileage / On call",
    description=(
        "What needs a person now: alerts grouped by likely cause (not one per finding), the "
        "suggestions waiting for a decision, and which pipelines break their SLO."
    ),
    variables=(Variable("pipeline", "Pipeline", "label_values(mileage_open_alerts, pipeline)"),),
    rows=(
        (
            "Now",
            (
                PanelSpec(
                    "Pages open",
                    "stat",
                    (
                        Query(
                            'sum(mileage_open_alerts{severity="page", pipeline=~"$pipeline"})',
                            instant=True,
                        ),
                    ),
                    "Open page-level alerts: a broken data contract, an unreadable batch, a broken SLO, or drift that persisted while the SLO is at risk. Each is one likely cause, however many findings it groups.",
                    thresholds=RED_ABOVE_0,
                    links=PIPELINE_LINK,
                ),
                PanelSpec(
                    "Tickets open",
                    "stat",
                    (
                        Query(
                            'sum(mileage_open_alerts{severity="ticket", pipeline=~"$pipeline"})',
                            instant=True,
                        ),
                    ),
                    "Open ticket-level alerts: worth a look this shift, nobody is woken up.",
                    thresholds=((None, "green"), (1.0, "orange")),
                ),
                PanelSpec(
                    "Suggestions waiting",
                    "stat",
                    (
                        Query(
                            'sum(mileage_open_suggestions{pipeline=~"$pipeline"})',
                            instant=True,
                        ),
                    ),
                    "Remedies in the inbox waiting for a decision: 'mileage suggestions list', then show / accept / dismiss.",
                ),
                PanelSpec(
                    "Pipelines breaking their SLO",
                    "stat",
                    (
                        Query(
                            'sum(mileage_monitor_slo_healthy{pipeline=~"$pipeline"} == bool 0)',
                            instant=True,
                        ),
                    ),
                    "Pipelines whose windowed metric (the labelled rows of their last final batches) is below their SLO: broken by definition. 'mileage monitor show NAME' gives the window.",
                    thresholds=RED_ABOVE_0,
                ),
            ),
        ),
        (
            "Alerts and suggestions",
            (
                PanelSpec(
                    "Open alerts",
                    "table",
                    (
                        Query(
                            'sum by (pipeline, severity, kind) (mileage_open_alerts{pipeline=~"$pipeline", kind!="none"}) > 0',
                            instant=True,
                        ),
                    ),
                    "Open alerts by pipeline, level and kind of likely cause. Details: 'mileage alerts list', 'mileage alerts show ID'.",
                    width=12,
                    links=PIPELINE_LINK,
                ),
                PanelSpec(
                    "Suggestions waiting by kind",
                    "table",
                    (
                        Query(
                            'sum by (pipeline, kind) (mileage_open_suggestions{pipeline=~"$pipeline", kind!="none"}) > 0',
                            instant=True,
                        ),
                    ),
                    "Remedies waiting: rollback, retrain, fix upstream, refresh the reference, add a slice to the validation set.",
                    width=12,
                ),
                PanelSpec(
                    "Notifications sent (24h)",
                    "timeseries",
                    (
                        Query(
                            'sum by (severity) (increase(mileage_alert_notifications_total{pipeline=~"$pipeline"}[1d]))',
                            "{{severity}}",
                        ),
                    ),
                    "Pages and tickets sent over the last day (an alert opened or escalated). Repeats of an open alert are not sent again.",
                    width=12,
                ),
                PanelSpec(
                    "Acted on, by alert kind",
                    "table",
                    (
                        Query(
                            'mileage_alert_actionability_ratio{pipeline=~"$pipeline"}',
                            "{{pipeline}} {{kind}}",
                            instant=True,
                        ),
                    ),
                    "Share of closed alerts of each kind that people acted on. Kinds below 20% are demoted one level (never muted): see 'mileage alerts list --demoted'.",
                    unit="percentunit",
                    width=12,
                ),
                PanelSpec(
                    "Demoted alerts open",
                    "stat",
                    (
                        Query(
                            'sum(mileage_open_alerts_demoted{pipeline=~"$pipeline"})',
                            instant=True,
                        ),
                    ),
                    "Open alerts shown one level lower because their kind is rarely acted on; still in the inbox and in 'mileage alerts list'.",
                ),
                PanelSpec(
                    "Deliveries by router",
                    "table",
                    (
                        Query(
                            "sum by (router, status) (mileage_suggestion_deliveries_total)",
                            instant=True,
                        ),
                    ),
                    "Suggestion deliveries per router (inbox, MLflow tags, webhook, plugins) and status; pending ones are retried with backoff, failed ones stay in the inbox.",
                    width=18,
                ),
            ),
        ),
        (
            "Pipelines",
            (
                PanelSpec(
                    "SLO margin",
                    "table",
                    (
                        Query(
                            'mileage_monitor_slo_margin{pipeline=~"$pipeline"}',
                            "{{pipeline}} {{model}}/{{version}}",
                            instant=True,
                        ),
                    ),
                    "Latest final metric minus the SLO (below 0: broken). Provisional figures (labels still missing) are not shown here.",
                    width=6,
                    thresholds=((None, "red"), (0.0, "green")),
                    links=PIPELINE_LINK,
                ),
                PanelSpec(
                    "Estimated metric, labels pending",
                    "table",
                    (
                        Query(
                            'mileage_monitor_performance_estimated{pipeline=~"$pipeline"}',
                            "{{pipeline}} {{metric}}",
                            instant=True,
                        ),
                    ),
                    "Each pipeline's metric estimated on its latest batch before labels arrive (accuracy, F1, ROC AUC from calibrated scores; MAE from a model of the error). While labels are missing the SLO state is judged on it and says so in 'mileage monitor show NAME'; labels confirm or overturn it.",
                    links=PIPELINE_LINK,
                ),
                PanelSpec(
                    "Latest batch: failed validation checks",
                    "table",
                    (
                        Query(
                            'sum by (pipeline, severity) (mileage_monitor_validation_failures{pipeline=~"$pipeline"})',
                            instant=True,
                        ),
                    ),
                    "Failed validation checks of each pipeline's latest batch, by severity.",
                    width=6,
                    thresholds=RED_ABOVE_0,
                ),
                PanelSpec(
                    "Time since last check",
                    "table",
                    (
                        Query(
                            'time() - mileage_monitor_last_check_timestamp_seconds{pipeline=~"$pipeline"}',
                            "{{pipeline}}",
                            instant=True,
                        ),
                    ),
                    "Seconds since each pipeline's latest batch was checked; compare with its cadence.",
                    unit="s",
                    width=6,
                ),
            ),
        ),
    ),
)

# -- one pipeline: health, quality, data, delay ------------------------------------------------

_P = 'pipeline=~"$pipeline", version=~"$model_version"'

PIPELINE = DashboardSpec(
    uid="mileage-pipeline",
    title="Mileage / Pipeline",
    description=(
        "One monitored pipeline: its alerts and suggestions, performance against the SLO per "
        "slice, the latest batch's validation failures and drift, and label delay."
    ),
    variables=(
        Variable(
            "pipeline",
            "Pipeline",
            "label_values(mileage_monitor_last_check_timestamp_seconds, pipeline)",
        ),
        Variable(
            "model_version",
            "Model version",
            'label_values(mileage_monitor_drift_score{pipeline=~"$pipeline"}, version)',
        ),
    ),
    rows=(
        (
            "Health",
            (
                PanelSpec(
                    "Open alerts",
                    "stat",
                    (
                        Query(
                            'sum(mileage_open_alerts{pipeline=~"$pipeline"})',
                            instant=True,
                        ),
                    ),
                    "Open alerts of this pipeline, one per likely cause.",
                    thresholds=RED_ABOVE_0,
                ),
                PanelSpec(
                    "SLO margin",
                    "stat",
                    (Query(f"min(mileage_monitor_slo_margin{{{_P}}})", instant=True),),
                    "Latest final metric minus the SLO; below 0 the pipeline is broken.",
                    thresholds=((None, "red"), (0.0, "green")),
                ),
                PanelSpec(
                    "Label coverage",
                    "stat",
                    (Query(f"min(mileage_monitor_label_coverage_ratio{{{_P}}})", instant=True),),
                    "Share of the latest judged batch's predictions that have a label; the metric is provisional below the monitor's minimum (50% by default).",
                    unit="percentunit",
                    thresholds=((None, "orange"), (0.5, "green")),
                ),
                PanelSpec(
                    "Label lag (median)",
                    "stat",
                    (
                        Query(
                            f'max(mileage_monitor_label_lag_seconds{{{_P}, percentile="50"}})',
                            instant=True,
                        ),
                    ),
                    "Median delay between a prediction and its label in the latest judged batch.",
                    unit="s",
                ),
            ),
        ),
        (
            "Quality",
            (
                PanelSpec(
                    "Metric by slice and SLO",
                    "timeseries",
                    (
                        Query(f"mileage_monitor_performance{{{_P}}}", "{{slice}} {{metric}}"),
                        Query(
                            f"mileage_monitor_performance_estimated{{{_P}}}",
                            "{{metric}} estimated (no labels)",
                        ),
                        Query('mileage_monitor_slo{pipeline=~"$pipeline"}', "SLO"),
                        Query(
                            f"mileage_monitor_label_agreement_ratio{{{_P}}}",
                            "labeler agreement (ceiling)",
                        ),
                    ),
                    "Latest final metric overall ('all') and per declared slice, against the SLO; a slice can fall while the overall metric rises. The estimate (monitors with --estimate) is the metric expected on the latest batch before its labels arrive: it moves first, the realised metric confirms it. Labeler agreement, where labels come from several labelers, is the ceiling accuracy can reach.",
                    width=16,
                ),
                PanelSpec(
                    "Suggestions waiting",
                    "table",
                    (
                        Query(
                            'sum by (kind) (mileage_open_suggestions{pipeline=~"$pipeline", kind!="none"}) > 0',
                            instant=True,
                        ),
                    ),
                    "Remedies for this pipeline waiting in the inbox ('mileage suggestions list --pipeline NAME').",
                    width=8,
                ),
            ),
        ),
        (
            "Data",
            (
                PanelSpec(
                    "Drift score, most drifted columns",
                    "timeseries",
                    (Query(f"mileage_monitor_drift_score{{{_P}}}", "{{feature}}"),),
                    "Effect size (normed Wasserstein or Jensen-Shannon distance) of the 5 most drifted columns of the latest batch; 0.1 alarms when significant.",
                    width=12,
                ),
                PanelSpec(
                    "Drifted columns",
                    "timeseries",
                    (Query(f"mileage_monitor_drifted_features_ratio{{{_P}}}", "{{pipeline}}"),),
                    "Share of the columns tested in the latest batch whose drift alarmed.",
                    unit="percentunit",
                    width=12,
                ),
                PanelSpec(
                    "Failed validation checks",
                    "timeseries",
                    (
                        Query(
                            f"mileage_monitor_validation_failures{{{_P}}}",
                            "{{severity}}",
                        ),
                    ),
                    "Failed validation checks of the latest batch, by severity.",
                    width=12,
                ),
                PanelSpec(
                    "Blocking findings by check",
                    "table",
                    (
                        Query(
                            f"sum by (check_kind) (mileage_monitor_blocking_findings{{{_P}}})",
                            instant=True,
                        ),
                    ),
                    "Blocking findings of the latest batch by kind of check (input, validation, drift, performance).",
                    width=12,
                    thresholds=RED_ABOVE_0,
                ),
            ),
        ),
        (
            "Labels",
            (
                PanelSpec(
                    "Label lag",
                    "timeseries",
                    (Query(f"mileage_monitor_label_lag_seconds{{{_P}}}", "p{{percentile}}"),),
                    "Delay between predictions and labels (median, p90) in the latest judged batch; performance is only final once enough labels have arrived.",
                    unit="s",
                    width=12,
                ),
                PanelSpec(
                    "Label coverage",
                    "timeseries",
                    (Query(f"mileage_monitor_label_coverage_ratio{{{_P}}}", "{{pipeline}}"),),
                    "Share of predictions with a label in the latest judged batch.",
                    unit="percentunit",
                    width=12,
                ),
            ),
        ),
    ),
)

DASHBOARDS: tuple[DashboardSpec, ...] = (ONCALL, PIPELINE, PLATFORM)
