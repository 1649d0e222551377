"""The core: settings, errors, the trace store, metrics and the entry points (CLI, daemon)."""

from __future__ import annotations

from mileage.platform.errors import (
    CollectorError,
    ConfigError,
    DataError,
    MileageError,
    SourceUnavailableError,
    StoreError,
)
from mileage.platform.settings import Settings

__all__ = [
    "CollectorError",
    "ConfigError",
    "DataError",
    "MileageError",
    "Settings",
    "SourceUnavailableError",
    "StoreError",
]
