"""MLflow collector: tracking servers (REST), SQLite tracking databases and ``mlruns/`` folders."""

from __future__ import annotations

from mileage.collectors.mlflow._apart import SourceRead, collect_on, collect_sources
from mileage.collectors.mlflow._collector import CHAIN_GROUP, MlflowCollector, open_reader
from mileage.collectors.mlflow._records import MetricSeries, MlflowReader, RunHeader, RunRecord

__all__ = [
    "CHAIN_GROUP",
    "MetricSeries",
    "MlflowCollector",
    "MlflowReader",
    "RunHeader",
    "RunRecord",
    "SourceRead",
    "collect_on",
    "collect_sources",
    "open_reader",
]
