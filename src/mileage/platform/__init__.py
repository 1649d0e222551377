"""The core: settings, errors, the trace store, the metrics registry and the vocabulary.

It imports no other subpackage of ``mileage``; the entry points live in :mod:`mileage.cli`
and :mod:`mileage.daemon`.
"""

from __future__ import annotations

from mileage.platform.errors import (
    CollectorError,
    ConfigError,
    DataError,
    MileageError,
    NotFoundError,
    SourceUnavailableError,
    StoreError,
)
from mileage.platform.records import Record
from mileage.platform.settings import Settings

__all__ = [
    "CollectorError",
    "ConfigError",
    "DataError",
    "MileageError",
    "NotFoundError",
    "Record",
    "Settings",
    "SourceUnavailableError",
    "StoreError",
]
