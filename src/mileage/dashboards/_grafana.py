"""Translate :class:`DashboardSpec` into Grafana dashboard JSON with grafana-foundation-sdk."""

from __future__ import annotations

import json
from typing import Any

from mileage.dashboards._spec import DashboardSpec, PanelSpec

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _panel(spec: PanelSpec) -> Any:
    from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
    from grafana_foundation_sdk.builders.dashboard import DashboardLink, ThresholdsConfig
    from grafana_foundation_sdk.models.dashboard import DataSourceRef, Threshold, ThresholdsMode
    from grafana_foundation_sdk.models.prometheus import PromQueryFormat

    builder: Any
    if spec.kind == "stat":
        builder = stat.Panel()
    elif spec.kind == "table":
        builder = table.Panel()
    elif spec.kind == "timeseries":
        builder = timeseries.Panel()
    else:
        raise ValueError(
            f"panel {spec.title!r}: unknown kind {spec.kind!r}; use stat, table or timeseries"
        )
    builder = (
        builder.title(spec.title)
        .description(spec.description)
        .unit(spec.unit)
        .height(spec.height)
        .span(spec.width)
        .datasource(DataSourceRef(type_val="prometheus", uid="${datasource}"))
        .thresholds(
            ThresholdsConfig()
            .mode(ThresholdsMode.ABSOLUTE)
            .steps([Threshold(value=v, color=c) for v, c in spec.thresholds])
        )
    )
    for i, q in enumerate(spec.queries):
        target = prometheus.Dataquery().expr(q.expr).ref_id(chr(ord("A") + i))
        if q.legend:
            target = target.legend_format(q.legend)
        if q.instant:
            target = target.instant().format(
                PromQueryFormat.TABLE if spec.kind == "table" else PromQueryFormat.TIME_SERIES
            )
        builder = builder.with_target(target)
    if spec.links:
        builder = builder.links(
            [DashboardLink(t).url(u).include_vars(True).keep_time(True) for t, u in spec.links]
        )
    return builder


def dashboard_json(spec: DashboardSpec) -> dict[str, Any]:
    """The Grafana JSON model of one page."""
    from grafana_foundation_sdk.builders.dashboard import (
        Dashboard,
        DatasourceVariable,
        QueryVariable,
        Row,
    )
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

    builder = (
        Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(list(spec.tags))
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("utc")
        .editable()
        .with_variable(DatasourceVariable("datasource").label("Data source").type("prometheus"))
    )
    for var in spec.variables:
        builder = builder.with_variable(
            QueryVariable(var.name)
            .label(var.label)
            .query(var.query)
            .datasource(DataSourceRef(type_val="prometheus", uid="${datasource}"))
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .include_all(var.include_all)
            .all_value(".*")
            .multi(True)
        )
    for title, panels in spec.rows:
        builder = builder.with_row(Row(title))
        for panel in panels:
            builder = builder.with_panel(_panel(panel))
    encoded = JSONEncoder(sort_keys=True, indent=2).encode(builder.build())
    data: dict[str, Any] = json.loads(encoded)
    for number, panel in enumerate(data.get("panels", []), start=1):
        panel["id"] = number  # Grafana wants unique panel ids for links and edits
    return data
