"""Monitors: validate deployed pipelines, detect drift, track performance under label delay.

A monitored pipeline is a model (an MLflow registry alias), a reference data set, a source of
scoring batches and a source of late labels. Each batch is validated against a suite inferred
from the reference (Great Expectations), compared with the reference column by column
(Evidently ``ValueDrift``, effect sizes with persistence and multiple-testing control), and,
as labels arrive, judged on the task metric overall and per declared slice. Every check
stores :class:`Finding` rows in the trace store.

Two rooms: :mod:`mileage.monitors.checks` (what is asked of each batch) and
:mod:`mileage.monitors.alerts` (findings become alerts, one per likely cause, answered by
suggested remedies that reach the pipeline's owner through the inbox, MLflow tags and
webhooks). :func:`respond` runs the response after a check, :func:`monitor_cycle` runs both.

Great Expectations, Evidently and MLflow are imported inside the functions that use them.
"""

from __future__ import annotations

from mileage.monitors._metrics import AlertsSource, MonitorsSource
from mileage.monitors._records import (
    MonitorRunSummary,
    MonitorSummary,
    StoredFinding,
    SuiteVersion,
)
from mileage.monitors._registry import (
    MonitorNotFoundError,
    MonitorRecord,
    get_monitor,
    get_suite,
    list_monitors,
    list_suites,
    performance_history,
    query_findings,
    recent_runs,
    remove_monitor,
    save_suite,
    update_monitor,
)
from mileage.monitors._respond import RespondReport, monitor_cycle, respond
from mileage.monitors._runner import MonitorRunner, check_once, create_monitor, refresh_baseline
from mileage.monitors.alerts import (
    AlertOptions,
    AlertPolicy,
    Dispatcher,
    SuggestionEngine,
    load_routers,
)
from mileage.monitors.checks import (
    BatchNotFoundError,
    BatchReport,
    BatchSource,
    DriftOptions,
    Finding,
    ModelError,
    MonitorConfig,
    PerformanceOptions,
    ResolvedModel,
    Severity,
    Slice,
    Statistic,
    SuiteOptions,
    absolute_source,
    cadence_seconds,
    check_batch,
    check_suite,
    current_state,
    describe_slo,
    describe_suite,
    drift_batch,
    drop_column,
    infer_suite,
    join_labels,
    performance_batch,
    read_frame,
    resolve_model,
    validate_batch,
)

__all__ = [
    "AlertOptions",
    "AlertPolicy",
    "AlertsSource",
    "BatchNotFoundError",
    "BatchReport",
    "BatchSource",
    "Dispatcher",
    "DriftOptions",
    "Finding",
    "ModelError",
    "MonitorConfig",
    "MonitorNotFoundError",
    "MonitorRecord",
    "MonitorRunSummary",
    "MonitorRunner",
    "MonitorSummary",
    "MonitorsSource",
    "PerformanceOptions",
    "ResolvedModel",
    "RespondReport",
    "Severity",
    "Slice",
    "Statistic",
    "StoredFinding",
    "SuggestionEngine",
    "SuiteOptions",
    "SuiteVersion",
    "absolute_source",
    "cadence_seconds",
    "check_batch",
    "check_once",
    "check_suite",
    "create_monitor",
    "current_state",
    "describe_slo",
    "describe_suite",
    "drift_batch",
    "drop_column",
    "get_monitor",
    "get_suite",
    "infer_suite",
    "join_labels",
    "list_monitors",
    "list_suites",
    "load_routers",
    "monitor_cycle",
    "performance_batch",
    "performance_history",
    "query_findings",
    "read_frame",
    "recent_runs",
    "refresh_baseline",
    "remove_monitor",
    "resolve_model",
    "respond",
    "save_suite",
    "update_monitor",
    "validate_batch",
]
