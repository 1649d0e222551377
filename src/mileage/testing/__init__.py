"""Helpers for tests and benchmarks: real servers on loopback and shared reference data.

Shipped with the package (like ``optuna.testing``) so third-party collectors and routers can
run the same conformance checks against real servers.
"""

from __future__ import annotations

from mileage.testing.data import require_shared_data, shared_data_dir
from mileage.testing.servers import (
    AlertmanagerServer,
    MlflowServer,
    PostgresServer,
    PrometheusServer,
    WebhookReceiver,
    free_port,
)

__all__ = [
    "AlertmanagerServer",
    "MlflowServer",
    "PostgresServer",
    "PrometheusServer",
    "WebhookReceiver",
    "free_port",
    "require_shared_data",
    "shared_data_dir",
]
