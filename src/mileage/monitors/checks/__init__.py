"""Checks: what a monitor asks of each scoring batch.

Validation against a suite inferred from the reference (Great Expectations), column drift
(Evidently ``ValueDrift`` with effect sizes, persistence and multiple-testing control),
performance under late labels with slices and a windowed SLO state, and the retraining
cadence a model's decay supports. Every check produces :class:`Finding` and
:class:`Statistic` rows collected in a :class:`BatchReport`; nothing here decides who is told
(that is :mod:`mileage.monitors.alerts`).
"""

from __future__ import annotations

from mileage.monitors.checks._check import MonitorConfig, cadence_seconds, check_batch
from mileage.monitors.checks._drift import DriftOptions, drift_batch
from mileage.monitors.checks._duplicates import check_key_columns, duplicates_batch
from mileage.monitors.checks._estimation import (
    ConfidenceEstimator,
    LossEstimator,
    estimate_batch,
    fit_estimator,
    parse_probability_columns,
)
from mileage.monitors.checks._findings import BatchReport, Finding, Severity, Statistic
from mileage.monitors.checks._large import (
    ROWS_PER_PART,
    check_parquet,
    check_parquet_on_dask,
    parquet_rows,
)
from mileage.monitors.checks._models import ModelError, ResolvedModel, resolve_model
from mileage.monitors.checks._performance import (
    PerformanceOptions,
    join_labels,
    performance_batch,
)
from mileage.monitors.checks._slices import Slice
from mileage.monitors.checks._slo import SloState, current_state
from mileage.monitors.checks._slo import describe as describe_slo
from mileage.monitors.checks._sources import (
    BatchNotFoundError,
    BatchSource,
    absolute_source,
    read_frame,
)
from mileage.monitors.checks._suite import (
    SuiteOptions,
    check_suite,
    describe_suite,
    drop_column,
    infer_suite,
)
from mileage.monitors.checks._validation import validate_batch
from mileage.monitors.checks.cadence import CadenceRecommendation, cadence_for_monitor

__all__ = [
    "ROWS_PER_PART",
    "BatchNotFoundError",
    "BatchReport",
    "BatchSource",
    "CadenceRecommendation",
    "ConfidenceEstimator",
    "DriftOptions",
    "Finding",
    "LossEstimator",
    "ModelError",
    "MonitorConfig",
    "PerformanceOptions",
    "ResolvedModel",
    "Severity",
    "Slice",
    "SloState",
    "Statistic",
    "SuiteOptions",
    "absolute_source",
    "cadence_for_monitor",
    "cadence_seconds",
    "check_batch",
    "check_key_columns",
    "check_parquet",
    "check_parquet_on_dask",
    "check_suite",
    "current_state",
    "describe_slo",
    "describe_suite",
    "drift_batch",
    "drop_column",
    "duplicates_batch",
    "estimate_batch",
    "fit_estimator",
    "infer_suite",
    "join_labels",
    "parquet_rows",
    "parse_probability_columns",
    "performance_batch",
    "read_frame",
    "resolve_model",
    "validate_batch",
]
