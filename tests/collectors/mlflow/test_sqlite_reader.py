"""The direct SQLite reader against stores written by MLflow itself."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from sqlalchemy import select

from mileage.collectors.mlflow import MlflowCollector
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.testing.dump import dump_store
from mileage.testing.mlflow_stores import BuiltStore, move_registry


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_every_logged_value_is_stored(sqlite_store: TraceStore, mlflow_store: BuiltStore) -> None:
    report = MlflowCollector(mlflow_store.uri).collect(sqlite_store)
    assert report.reader == "sqlite" and report.runs_written == len(mlflow_store.run_ids)
    with sqlite_store.connect() as conn:
        ids = dict(conn.execute(select(t.runs.c.external_id, t.runs.c.id)).all())
        params: dict[int, dict[str, str]] = {}
        for run_id, key, value in conn.execute(
            select(t.params.c.run_id, t.params.c.key, t.params.c.value)
        ):
            params.setdefault(run_id, {})[key] = value
        lifecycle = dict(conn.execute(select(t.runs.c.external_id, t.runs.c.lifecycle_stage)).all())
        status = dict(conn.execute(select(t.runs.c.external_id, t.runs.c.status)).all())
    for ext in mlflow_store.run_ids:
        assert params[ids[ext]] == mlflow_store.params[ext]
        for key, points in mlflow_store.metrics[ext].items():
            got = sqlite_store.metric_history(ids[ext], key)
            assert got["step"].tolist() == [p[0] for p in points]
            assert got["timestamp"].tolist() == [p[1] for p in points]
            assert all(_same(a, b) for a, b in zip(got["value"].tolist(), [p[2] for p in points]))
    assert {e for e, s in lifecycle.items() if s == "deleted"} == mlflow_store.deleted
    assert {e for e, s in status.items() if s == "RUNNING"} == mlflow_store.running


def test_tracking_database_is_never_modified(
    sqlite_store: TraceStore, mlflow_store: BuiltStore
) -> None:
    digest = hashlib.sha256(mlflow_store.path.read_bytes()).hexdigest()
    mtime = mlflow_store.path.stat().st_mtime_ns
    folder = sorted(p.name for p in mlflow_store.path.parent.iterdir())
    for _ in range(2):
        MlflowCollector(mlflow_store.uri).collect(sqlite_store)
    assert hashlib.sha256(mlflow_store.path.read_bytes()).hexdigest() == digest
    assert mlflow_store.path.stat().st_mtime_ns == mtime
    assert (
        sorted(p.name for p in mlflow_store.path.parent.iterdir()) == folder
    )  # no -wal, -shm, -journal


def test_datasets_pipelines_and_chains(sqlite_store: TraceStore, mlflow_store: BuiltStore) -> None:
    MlflowCollector(mlflow_store.uri).collect(sqlite_store)
    dump = dump_store(sqlite_store)
    assert len(dump["datasets"]) == 1 and "churn-train" in dump["datasets"][0][1]
    assert len(dump["run_datasets"]) == 1
    with sqlite_store.connect() as conn:
        links = conn.execute(
            select(t.iterations).where(t.iterations.c.previous_run_id.is_not(None))
        ).all()
        chains = {r.chain_key for r in conn.execute(select(t.iterations))}
    assert len(chains) == 4  # 2 experiments x 2 users
    by_change = {tuple(r.changed_params) for r in links}
    assert ("clf__C",) in by_change and ("scaler__with_mean",) in by_change
    pca = [r for r in links if "pca" in r.changed_operators]
    assert pca and all(r.unit == "operators" for r in pca)
    assert all(r.changed_operators == ["clf"] for r in links if r.changed_params == ["clf__C"])


def test_registry_moves_are_recorded_in_order(
    sqlite_store: TraceStore, mlflow_store: BuiltStore
) -> None:
    MlflowCollector(mlflow_store.uri).collect(sqlite_store)
    move_registry(mlflow_store.uri)
    report = MlflowCollector(mlflow_store.uri).collect(sqlite_store)
    assert report.registry_events == 4
    with sqlite_store.connect() as conn:
        events = conn.execute(select(t.registry_events).order_by(t.registry_events.c.id)).all()
        aliases = dict(
            conn.execute(select(t.model_aliases.c.alias, t.model_aliases.c.version)).all()
        )
    assert aliases == {"champion": 2, "challenger": 3}
    champion = [
        (e.from_value, e.to_value) for e in events if e.kind == "alias" and e.name == "champion"
    ]
    assert champion == [(None, "1"), ("1", "2")]
    stage_v1 = [
        (e.from_value, e.to_value) for e in events if e.kind == "version" and e.version == 1
    ]
    stage_v1 += [(e.from_value, e.to_value) for e in events if e.kind == "stage" and e.version == 1]
    assert stage_v1 == [(None, "Staging"), ("Staging", "Archived")]
    assert MlflowCollector(mlflow_store.uri).collect(sqlite_store).registry_events == 0


def test_new_and_finished_runs_are_picked_up(
    sqlite_store: TraceStore, mlflow_store: BuiltStore
) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    MlflowCollector(mlflow_store.uri).collect(sqlite_store)
    client = MlflowClient(tracking_uri=mlflow_store.uri)
    (running,) = mlflow_store.running
    client.log_batch(running, metrics=[Metric("loss", 0.01, 1_800_000_000_000, 99)])
    client.set_terminated(running)
    new = client.create_run(mlflow_store.experiments[0], tags={"mlflow.user": "carol"})
    client.log_param(new.info.run_id, "clf__C", "3")
    report = MlflowCollector(mlflow_store.uri).collect(sqlite_store)
    assert (report.runs_written, report.runs_seen) == (2, len(mlflow_store.run_ids) + 1)
    with sqlite_store.connect() as conn:
        status = conn.execute(
            select(t.runs.c.status).where(t.runs.c.external_id == running)
        ).scalar_one()
        last = conn.execute(
            select(t.metric_histories.c.last_step)
            .join(t.runs, t.runs.c.id == t.metric_histories.c.run_id)
            .where(t.runs.c.external_id == running, t.metric_histories.c.key == "loss")
        ).scalar_one()
    assert (status, last) == ("FINISHED", 99)


def test_not_a_tracking_database(sqlite_store: TraceStore, tmp_path: Path) -> None:
    import sqlite3

    import pytest

    from mileage.platform.errors import CollectorError

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.commit()
    with pytest.raises(CollectorError, match="not an MLflow tracking database"):
        MlflowCollector(f"sqlite:///{other}").collect(sqlite_store)
