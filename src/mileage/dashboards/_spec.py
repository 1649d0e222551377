"""Dashboards described as data: pages, rows, panels and their PromQL.

Keeping the queries as plain data lets one test run every panel query against a real
Prometheus, and lets the Grafana builder stay a thin translation.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel."""

    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class PanelSpec:
    """A panel: ``kind`` is ``stat``, ``timeseries`` or ``table``."""

    title: str
    kind: str
    queries: tuple[Query, ...]
    description: str
    unit: str = "short"
    width: int = 6
    height: int = 6
    thresholds: tuple[tuple[float | None, str], ...] = ((None, "green"),)
    links: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Variable:
    """A dashboard variable filled from a label's values."""

    name: str
    label: str
    query: str
    include_all: bool = True


@dataclass(frozen=True)
class DashboardSpec:
    """One Grafana page."""

    uid: str
    title: str
    description: str
    rows: tuple[tuple[str, tuple[PanelSpec, ...]], ...]
    variables: tuple[Variable, ...] = ()
    tags: tuple[str, ...] = field(default=("mileage",))

    def panels(self) -> list[PanelSpec]:
        """Every panel, row by row."""
        return [p for _, panels in self.rows for p in panels]

    def queries(self) -> list[tuple[str, str]]:
        """``(panel title, expr)`` of every query."""
        return [(p.title, q.expr) for p in self.panels() for q in p.queries]
