"""Collectors bring run histories from MLflow, OpenML and public meta-data into the trace store."""

from __future__ import annotations

from mileage.collectors._base import (
    Collector,
    CollectReport,
    QuarantineEntry,
    WarningLog,
    collection_pass,
    show_value,
    store_quarantine,
)
from mileage.collectors._iterations import IterationStats, SourceIterations
from mileage.collectors._iterations import stats as iteration_stats

__all__ = [
    "CollectReport",
    "Collector",
    "IterationStats",
    "QuarantineEntry",
    "SourceIterations",
    "WarningLog",
    "collection_pass",
    "iteration_stats",
    "show_value",
    "store_quarantine",
]
