"""Monitor metrics read at scrape time, several pipelines at once: each pipeline's series come
from its own latest runs (real data, a real registered model, a real trace store)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mileage.monitors import MonitorRunner, create_monitor
from mileage.monitors._metrics import MonitorsSource
from mileage.platform.store import TraceStore
from mileage.testing.monitoring import CancerData, RegisteredModel, monitored_pipeline

pytestmark = pytest.mark.slow  # starts servers or clusters, or checks big batches


def _samples(store: TraceStore) -> dict[tuple[str, str], dict[tuple[Any, ...], float]]:
    """(metric, pipeline) -> labels (without pipeline) -> value."""
    out: dict[tuple[str, str], dict[tuple[Any, ...], float]] = {}
    with store.connect() as conn:
        for family in MonitorsSource().collect(conn, time.time()):
            for s in family.samples:
                labels = dict(s.labels)
                pipeline = labels.pop("pipeline")
                out.setdefault((s.name, pipeline), {})[tuple(sorted(labels.items()))] = s.value
    return out


def _key(**labels: str) -> tuple[Any, ...]:
    return tuple(sorted({"model": "cancer", "version": "1", **labels}.items()))


def test_each_pipeline_reports_its_own_latest_batch_and_final_metric(
    sqlite_store: TraceStore,
    cancer: CancerData,
    registered_model: RegisteredModel,
    tmp_path: Path,
) -> None:
    configs = {
        name: monitored_pipeline(cancer, tmp_path, registered_model, name=name)
        for name in ("broken", "provisional", "idle")
    }
    # "provisional": only its clean batch, and few labels so far
    Path(str(configs["provisional"].batches_uri), "2026-11-21.parquet").unlink()
    labels = Path(str(configs["provisional"].labels_uri))
    every_label = pd.read_parquet(labels)
    every_label.head(20).to_parquet(labels)
    for config in configs.values():
        create_monitor(sqlite_store, config)
    home = tmp_path / "home"
    for name in ("broken", "provisional"):  # "idle" never ran
        MonitorRunner(sqlite_store, name, home=home).run()

    s = _samples(sqlite_store)
    model = _key()
    failures = "mileage_monitor_validation_failures"
    assert s[(failures, "broken")][_key(severity="blocking")] >= 1
    assert s[(failures, "provisional")][_key(severity="blocking")] == 0
    assert s[("mileage_monitor_slo_margin", "broken")][model] < 0  # the x1000 batch broke it
    assert ("mileage_monitor_slo_margin", "provisional") not in s  # not final yet
    assert ("mileage_monitor_performance", "provisional") not in s
    assert s[("mileage_monitor_label_coverage_ratio", "provisional")][model] < 0.5
    assert s[("mileage_monitor_label_coverage_ratio", "broken")][model] == 1.0
    assert {m for m, p in s if p == "idle"} == {"mileage_monitor_slo"}
    assert set(s[("mileage_monitor_drift_score", "broken")]) != set(
        s[("mileage_monitor_drift_score", "provisional")]
    )  # its own latest batch: mean_radius x1000 drifts only in "broken"

    every_label.to_parquet(labels)  # the rest of the labels arrive
    MonitorRunner(sqlite_store, "provisional", home=home).run()
    s = _samples(sqlite_store)
    assert s[("mileage_monitor_label_coverage_ratio", "provisional")][model] == 1.0
    assert s[("mileage_monitor_slo_margin", "provisional")][model] > 0
    (metric,) = {dict(k)["metric"] for k in s[("mileage_monitor_performance", "provisional")]}
    overall = s[("mileage_monitor_performance", "provisional")][_key(metric=metric, slice="all")]
    assert overall > s[("mileage_monitor_performance", "broken")][_key(metric=metric, slice="all")]
