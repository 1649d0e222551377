"""OpenML collector: tasks, datasets with qualities, flows, setups and runs with per-fold evaluations.

Reads an OpenML server (``https://www.openml.org/api/v1/xml`` or the server configured for
openml-python) or an openml-python cache folder, and stores runs as per-uploader, per-task
iteration chains.
"""

from __future__ import annotations

from mileage.collectors.openml._client import (
    DEFAULT_SERVER,
    CacheSource,
    ChainSource,
    NoResult,
    OpenmlSource,
    ServerSource,
)
from mileage.collectors.openml._collector import (
    CHAIN_GROUP,
    KIND,
    OpenmlCollector,
    OpenmlReport,
    Selection,
)

__all__ = [
    "CHAIN_GROUP",
    "DEFAULT_SERVER",
    "KIND",
    "CacheSource",
    "ChainSource",
    "NoResult",
    "OpenmlCollector",
    "OpenmlReport",
    "OpenmlSource",
    "Selection",
    "ServerSource",
]
