"""One conformance suite, run on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, select
from sqlalchemy.pool import QueuePool

from mileage.collectors.mlflow import MlflowCollector
from mileage.platform.errors import ConfigError, StoreError
from mileage.platform.store import TraceStore, pack_history, unpack_history, upsert
from mileage.platform.store import schema as t
from mileage.testing.dump import dump_store


def test_migrations_produce_exactly_the_declared_schema(any_store: TraceStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with any_store.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), t.metadata
        )
    assert diff == []


def test_downgrade_and_upgrade_round_trip(any_store: TraceStore) -> None:
    from alembic import command

    from mileage.platform.store._store import _alembic_config, migrate, schema_is_current

    with any_store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "base")
    assert not schema_is_current(any_store.engine)
    migrate(any_store.engine)
    assert schema_is_current(any_store.engine)
    assert {"runs", "metric_histories", "iterations"} <= set(any_store.table_names())


def test_sources_and_upserts_are_idempotent(any_store: TraceStore) -> None:
    a = any_store.ensure_source("mlflow", "sqlite:////x.db")
    b = any_store.ensure_source("mlflow", "sqlite:////x.db")
    c = any_store.ensure_source("openml", "sqlite:////x.db")
    assert a == b != c
    row = {
        "source_id": a,
        "external_id": "1",
        "name": "e",
        "artifact_location": None,
        "lifecycle_stage": "active",
        "created_ms": 1,
        "tags": {"k": "v"},
    }
    with any_store.begin() as conn:
        upsert(conn, t.experiments, [row], keys=("source_id", "external_id"))
        upsert(conn, t.experiments, [{**row, "name": "renamed"}], keys=("source_id", "external_id"))
    with any_store.connect() as conn:
        names = conn.execute(select(t.experiments.c.name)).scalars().all()
    assert names == ["renamed"]


def test_metric_histories_keep_nan_and_infinities(any_store: TraceStore) -> None:
    source = any_store.ensure_source("mlflow", "test")
    values = np.array([0.5, math.nan, math.inf, -math.inf, 1e-300, 1.7976931348623157e308])
    steps = np.arange(6, dtype=np.int64)
    stamps = steps * 1000 + 1_700_000_000_000
    with any_store.begin() as conn:
        exp = conn.execute(
            insert(t.experiments)
            .values(source_id=source, external_id="e", name="e", lifecycle_stage="active", tags={})
            .returning(t.experiments.c.id)
        ).scalar_one()
        run = conn.execute(
            insert(t.runs)
            .values(
                source_id=source,
                external_id="r",
                experiment_id=exp,
                status="FINISHED",
                lifecycle_stage="active",
                signature="s",
            )
            .returning(t.runs.c.id)
        ).scalar_one()
        conn.execute(
            insert(t.metric_histories).values(
                run_id=run, key="loss", **pack_history(steps, stamps, values)
            )
        )
    got = any_store.metric_history(run, "loss")
    np.testing.assert_array_equal(got["step"], steps)
    np.testing.assert_array_equal(got["timestamp"], stamps)
    np.testing.assert_array_equal(got["value"], values)  # NaN == NaN for assert_array_equal
    with any_store.connect() as conn:
        summary = conn.execute(select(t.metric_histories)).one()
    assert (
        summary.n_nonfinite == 3
        and summary.min_value == 1e-300
        and summary.last_value == values[-1]
    )
    with pytest.raises(KeyError):
        any_store.metric_history(run, "nope")
    assert unpack_history(b"", b"", b"")["value"].size == 0


def test_text_with_unicode_and_nul_survives_collection(
    any_store: TraceStore, tmp_path: Path, agnias47: Path
) -> None:
    import shutil

    root = tmp_path / "mlruns"
    shutil.copytree(agnias47, root)
    param = next(root.glob("6/*/params/lr"))
    param.write_bytes("0.1 \u00e9\u4e2d\x00end".encode())
    MlflowCollector(str(root)).collect(any_store)
    with any_store.connect() as conn:
        values = (
            conn.execute(select(t.params.c.value).where(t.params.c.value.like("0.1 %")))
            .scalars()
            .all()
        )
    assert values == ["0.1 \u00e9\u4e2d\ufffdend"]


def test_cursor_round_trip(any_store: TraceStore) -> None:
    source = any_store.ensure_source("mlflow", "cursor-test")
    with any_store.begin() as conn:
        assert TraceStore.read_cursor(conn, source) == {}
        TraceStore.write_cursor(conn, source, {"max_start_ms": 5, "open_runs": ["a"]})
        TraceStore.write_cursor(conn, source, {"max_start_ms": 9, "open_runs": []})
    with any_store.connect() as conn:
        assert TraceStore.read_cursor(conn, source) == {"max_start_ms": 9, "open_runs": []}


def test_collecting_twice_adds_nothing(any_store: TraceStore, agnias47: Path) -> None:
    first = MlflowCollector(str(agnias47)).collect(any_store)
    before = dump_store(any_store)
    counts = any_store.counts()
    second = MlflowCollector(str(agnias47)).collect(any_store)
    assert (first.runs_written, second.runs_written, second.runs_unchanged) == (106, 0, 106)
    assert dump_store(any_store) == before
    after = any_store.counts()
    assert after.pop("collector_passes") == counts.pop("collector_passes") + 1
    assert after == counts


def test_backends_store_identical_rows(tmp_path: Path, postgres: object, agnias47: Path) -> None:
    from mileage.testing import PostgresServer

    assert isinstance(postgres, PostgresServer)
    dumps = []
    for url in (f"sqlite:///{tmp_path / 'a.db'}", postgres.create_database()):
        store = TraceStore.open(url)
        MlflowCollector(str(agnias47)).collect(store)
        dumps.append(dump_store(store))
        store.close()
    assert dumps[0] == dumps[1]


def test_a_with_block_closes_the_store_also_on_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with TraceStore.open(url) as store:
        assert store.counts()["runs"] == 0
        pool = store.engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.checkedin() == 1
    assert pool.checkedin() == 0
    assert store.engine.pool is not pool  # disposed: the engine holds a fresh pool

    with pytest.raises(RuntimeError, match="boom"), TraceStore.open(url) as store:
        pool = store.engine.pool
        store.counts()
        raise RuntimeError("boom")
    assert store.engine.pool is not pool


def test_bad_urls_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not supported"):
        TraceStore.open("mysql://u@h/db")
    with pytest.raises(ConfigError, match="not a valid SQLAlchemy URL"):
        TraceStore.open("::nonsense::")
    with pytest.raises(StoreError, match="cannot open the trace store") as info:
        TraceStore.open("postgresql://nobody:secret@127.0.0.1:1/none")
    assert "secret" not in str(info.value)
