"""Collectors bring run histories from MLflow, OpenML and public meta-data into the trace store."""

from __future__ import annotations

from mileage.collectors._base import Collector, CollectReport, WarningLog

__all__ = ["CollectReport", "Collector", "WarningLog"]
