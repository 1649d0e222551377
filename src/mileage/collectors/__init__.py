"""Collectors bring run histories from MLflow, OpenML and public meta-data into the trace store."""

from __future__ import annotations

from mileage.collectors._apart import (
    ApartCollector,
    PartRead,
    collect_apart,
    collect_one_apart,
    merge_reports,
    read_part,
)
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
    "ApartCollector",
    "CollectReport",
    "Collector",
    "IterationStats",
    "PartRead",
    "QuarantineEntry",
    "SourceIterations",
    "WarningLog",
    "collect_apart",
    "collect_one_apart",
    "collection_pass",
    "iteration_stats",
    "merge_reports",
    "read_part",
    "show_value",
    "store_quarantine",
]
