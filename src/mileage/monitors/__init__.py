"""Monitors: validate deployed pipelines, detect drift, track performance under label delay.

A monitored pipeline is a model (an MLflow registry alias), a reference data set, a source of
scoring batches and a source of late labels. Each batch is validated against a suite inferred
from the reference (Great Expectations), compared with the reference column by column
(Evidently ``ValueDrift``, effect sizes with persistence and multiple-testing control), and,
as labels arrive, judged on the task metric overall and per declared slice. Every check
stores :class:`Finding` rows in the trace store.

The findings then become alerts, one per likely cause (:mod:`mileage.monitors.alerts`), each
answered by suggested remedies (:mod:`mileage.monitors.suggest`) that reach the pipeline's
owner through the inbox, MLflow tags and webhooks (:mod:`mileage.monitors.routing`);
:func:`respond` runs those three steps after a check, :func:`monitor_cycle` runs all four.

Great Expectations, Evidently and MLflow are imported inside the functions that use them.
"""

from __future__ import annotations

from mileage.monitors._check import MonitorConfig, check_batch
from mileage.monitors._drift import DriftOptions, drift_batch
from mileage.monitors._findings import BatchReport, Finding, Severity, Statistic
from mileage.monitors._models import ModelError, ResolvedModel, resolve_model
from mileage.monitors._performance import PerformanceOptions, join_labels, performance_batch
from mileage.monitors._registry import (
    MonitorNotFoundError,
    MonitorRecord,
    get_monitor,
    list_monitors,
    query_findings,
    remove_monitor,
)
from mileage.monitors._respond import RespondReport, monitor_cycle, respond
from mileage.monitors._runner import MonitorRunner, check_once, create_monitor
from mileage.monitors._slices import Slice
from mileage.monitors._sources import BatchSource, read_frame
from mileage.monitors._suite import SuiteOptions, infer_suite
from mileage.monitors._validation import validate_batch
from mileage.monitors.alerts import AlertOptions, AlertPolicy
from mileage.monitors.suggest import SuggestionEngine

__all__ = [
    "AlertOptions",
    "AlertPolicy",
    "BatchReport",
    "BatchSource",
    "DriftOptions",
    "Finding",
    "ModelError",
    "MonitorConfig",
    "MonitorNotFoundError",
    "MonitorRecord",
    "MonitorRunner",
    "PerformanceOptions",
    "ResolvedModel",
    "RespondReport",
    "Severity",
    "Slice",
    "Statistic",
    "SuggestionEngine",
    "SuiteOptions",
    "check_batch",
    "check_once",
    "create_monitor",
    "drift_batch",
    "get_monitor",
    "infer_suite",
    "join_labels",
    "list_monitors",
    "monitor_cycle",
    "performance_batch",
    "query_findings",
    "read_frame",
    "remove_monitor",
    "resolve_model",
    "respond",
    "validate_batch",
]
