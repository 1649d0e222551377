"""The daemon's metalearner job (retrains only on new traces) and the model-age metrics."""

from __future__ import annotations

import json
import time
from datetime import UTC
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from mileage.collectors.metadata import import_metadata
from mileage.daemon import Daemon
from mileage.metalearner.warmstart._metrics import MetalearnerSource
from mileage.platform.metrics import StoreCollector
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t


def _registry(store: TraceStore, now: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(
        StoreCollector(store, [("metalearner", MetalearnerSource())], clock=lambda: now)
    )
    return registry


def test_before_any_training_counts_are_zero_and_age_is_absent(sqlite_store: TraceStore) -> None:
    registry = _registry(sqlite_store, time.time())
    labels = {"model": "warmstart"}
    assert registry.get_sample_value("mileage_metalearner_training_tasks", labels) == 0
    assert registry.get_sample_value("mileage_metalearner_models", labels) == 0
    assert registry.get_sample_value("mileage_metalearner_training_age_seconds", labels) is None
    assert registry.get_sample_value("mileage_metrics_source_up", {"source": "metalearner"}) == 1


def test_age_and_size_of_the_newest_model(tabrepo_store: TraceStore) -> None:
    with tabrepo_store.connect() as conn:
        created = conn.execute(select(func.max(t.metalearner_models.c.created_at))).scalar_one()
    stamp = (created if created.tzinfo else created.replace(tzinfo=UTC)).timestamp()
    registry = _registry(tabrepo_store, stamp + 3600)
    labels = {"model": "warmstart"}
    assert registry.get_sample_value(
        "mileage_metalearner_training_age_seconds", labels
    ) == pytest.approx(3600)
    assert registry.get_sample_value("mileage_metalearner_training_tasks", labels) == 93
    assert registry.get_sample_value("mileage_metalearner_training_scores", labels) == 9672


def test_daemon_retrains_only_when_traces_changed(
    sqlite_store: TraceStore, tabrepo_dir: Path
) -> None:
    settings = Settings.load(job_backoff_seconds=0, metalearner_interval_seconds=3600)
    daemon = Daemon(settings, sqlite_store, registry=CollectorRegistry())
    assert [s.id for s in daemon.specs()] == []  # nothing to learn from: no job
    import_metadata(sqlite_store, "tabrepo-lightgbm", tabrepo_dir)
    (spec,) = daemon.specs()
    assert (spec.id, spec.kind, spec.interval_seconds) == (
        "metalearner:warmstart",
        "metalearner",
        3600,
    )
    first = daemon.run_job(spec.id, slot_ms=1)
    assert first["status"] == "succeeded"
    detail = json.loads(first["detail"])
    assert detail["retrained"] is True and detail["tasks"] == 93
    second = daemon.run_job(spec.id, slot_ms=2)
    assert json.loads(second["detail"]) == {
        "retrained": False,
        "reason": "no new runs since the last model",
    }
    with sqlite_store.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(t.metalearner_models)).scalar_one() == 1
        )
    assert daemon.registry.get_sample_value(
        "mileage_metalearner_training_age_seconds", {"model": "warmstart"}
    ) == pytest.approx(0, abs=120)
