"""Grafana dashboards, Prometheus rules and Alertmanager config, built from code.

``mileage dashboards build`` writes them into ``dashboards/``; a test fails when the
committed files are stale, and another runs every panel query against a real Prometheus.
"""

from __future__ import annotations

from mileage.dashboards._build import build, render, stale
from mileage.dashboards._pages import DASHBOARDS
from mileage.dashboards._rules import with_receivers
from mileage.dashboards._spec import DashboardSpec, PanelSpec, Query, Variable

__all__ = [
    "DASHBOARDS",
    "DashboardSpec",
    "PanelSpec",
    "Query",
    "Variable",
    "build",
    "render",
    "stale",
    "with_receivers",
]
