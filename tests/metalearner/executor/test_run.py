"""The executor: outputs identical to a full recompute, damage recovery, real concurrent
processes on one cache, and iterations recorded in the trace store and MLflow."""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from mileage.metalearner import CacheCorruptionWarning
from mileage.metalearner.examples import EXAMPLES, Config
from mileage.metalearner.executor import run
from mileage.metalearner.materialize import DirectoryCache
from mileage.metalearner.workflow import hash_value
from mileage.platform.pipelines import operators_from_run
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.testing.workers import run_example_chain

FAIR = EXAMPLES["fair"]
CHANGES: list[dict[str, str]] = [
    {},
    {"model.C": "0.3"},
    {"num.scale": "robust"},
    {"model": "lgbm"},
    {"select.k": "12"},
    {"model.num_leaves": "7"},
    {"split.random_state": "1"},
    {"select.k": "10"},
]


def _configs() -> list[Config]:
    config, out = FAIR.default_config(), []
    for change in CHANGES:
        config = FAIR.set(config, change)
        out.append(config)
    return out


def _digest(result: Any) -> tuple[str, float]:
    out = result.outputs["model"]
    return hash_value(out["y_pred"]), out["score"]


@pytest.fixture(scope="module")
def reference() -> list[tuple[str, float]]:
    """Every configuration computed from scratch, without a cache."""
    data = FAIR.load()
    return [_digest(run(FAIR.workflow(c), data, cache=False, store=False)) for c in _configs()]


@pytest.mark.parametrize(
    ("policy", "budget"),
    [
        ("ours", 3_000_000),
        pytest.param("everything", None, marks=pytest.mark.slow),  # the same path, unbudgeted
    ],
)
@pytest.mark.slow
def test_outputs_through_the_cache_equal_a_full_recompute(
    tmp_path: Path,
    sqlite_store: TraceStore,
    reference: list[tuple[str, float]],
    policy: str,
    budget: int | None,
) -> None:
    data = FAIR.load()
    cache = DirectoryCache(tmp_path / "cache", budget_bytes=budget)
    hits = 0
    for config, expected in zip(_configs(), reference):
        result = run(
            FAIR.workflow(config), data, user="eve", cache=cache, policy=policy, store=sqlite_store
        )
        assert _digest(result) == expected
        hits += result.cache_hits
        assert budget is None or cache.used_bytes() <= budget
    assert hits >= 5  # the cache was really used
    assert cache.verify() == []


def test_corrupted_entry_is_detected_discarded_and_recomputed(
    tmp_path: Path, reference: list[tuple[str, float]]
) -> None:
    data = FAIR.load()
    cache = DirectoryCache(tmp_path / "cache")
    configs = _configs()
    run(FAIR.workflow(configs[0]), data, cache=cache, policy="everything", store=False)
    wf = FAIR.workflow(configs[1])  # only the model changed: the selected features are reused
    entry = next(e for e in cache.entries() if e.operator == "select")
    blob = next((tmp_path / "cache" / "objects").glob(f"*/{entry.key}.blob"))
    blob.write_bytes(blob.read_bytes()[: entry.bytes // 2])  # truncated
    with pytest.warns(CacheCorruptionWarning, match="select"):
        result = run(wf, data, cache=cache, policy="everything", store=False)
    assert _digest(result) == reference[1]
    select_record = next(r for r in result.operators if r.operator == "select")
    assert select_record.action == "computed" and select_record.materialized  # stored again
    assert cache.verify() == []


def test_recompute_when_loading_is_slower(tmp_path: Path) -> None:
    import sqlite3

    data = FAIR.load()
    cache = DirectoryCache(tmp_path / "cache")
    configs = _configs()
    run(FAIR.workflow(configs[0]), data, cache=cache, policy="everything", store=False)
    con = sqlite3.connect(tmp_path / "cache" / "index.db")
    con.execute("UPDATE entries SET load_seconds = 100 WHERE operator = 'select'")
    con.commit()
    con.close()
    result = run(FAIR.workflow(configs[1]), data, cache=cache, policy="everything", store=False)
    actions = {r.operator: r.action for r in result.operators}
    assert actions["select"] == "computed" and actions["pre"] == "loaded"


@pytest.mark.slow  # real worker processes, each running a chain
def test_concurrent_runs_in_real_processes_share_one_cache(
    tmp_path: Path, reference: list[tuple[str, float]]
) -> None:
    db_url = f"sqlite:///{tmp_path / 'trace.db'}"
    TraceStore.open(db_url).close()
    with mp.get_context("spawn").Pool(3) as pool:
        results = pool.starmap(
            run_example_chain,
            [
                ("fair", CHANGES[:5], str(tmp_path / "cache"), 4_000_000, db_url, f"user{i}")
                for i in range(3)
            ],
        )
    for r in results:
        assert [h for h, _ in r] == [h for h, _ in reference[:5]]
        assert [s for _, s in r] == pytest.approx([s for _, s in reference[:5]])
    cache = DirectoryCache(tmp_path / "cache", budget_bytes=4_000_000)
    assert cache.verify() == [] and cache.used_bytes() <= 4_000_000
    store = TraceStore.open(db_url)
    with store.connect() as conn:
        assert conn.execute(select(t.runs.c.id)).all().__len__() == 15


def test_iterations_are_recorded_in_the_store(sqlite_store: TraceStore, tmp_path: Path) -> None:
    data = FAIR.load()
    cache = DirectoryCache(tmp_path / "cache")
    configs = _configs()
    first = run(FAIR.workflow(configs[0]), data, user="fay", cache=cache, store=sqlite_store)
    second = run(FAIR.workflow(configs[1]), data, user="fay", cache=cache, store=sqlite_store)
    with sqlite_store.connect() as conn:
        link = conn.execute(
            select(t.iterations).where(t.iterations.c.run_id == second.run_id)
        ).one()
        assert link.previous_run_id == first.run_id and link.position == 1
        assert link.changed_operators == ["model"] and link.unit == "operators"
        assert link.reuse_ratio == pytest.approx(7 / 8)
        rows = conn.execute(
            select(t.operator_executions).where(t.operator_executions.c.run_id == second.run_id)
        ).all()
        actions = {r.operator: r.action for r in rows}
        assert actions["model"] == "computed" and "loaded" in actions.values()
        assert {r.role for r in rows} == {"data", "preprocessing", "model"}
        tags = dict(
            conn.execute(
                select(t.tags.c.key, t.tags.c.value).where(t.tags.c.run_id == second.run_id)
            ).all()
        )
        params = dict(
            conn.execute(
                select(t.params.c.key, t.params.c.value).where(t.params.c.run_id == second.run_id)
            ).all()
        )
    executions = {e["operator"]: e for e in json.loads(tags["mileage.executions"])}
    assert executions["model"]["action"] == "computed" and executions["model"]["seconds"] > 0
    assert executions["split"]["output"] == next(
        r.output_fingerprint for r in second.operators if r.operator == "split"
    )
    ops = operators_from_run(params, tags)
    assert ops is not None
    assert [o.fingerprint for o in ops] == [
        s.fingerprint for s in FAIR.workflow(configs[1]).specs()
    ]
    assert json.loads(params["model__C"]) == 0.3
    assert second.metrics["score"] == pytest.approx(np.float64(second.outputs["model"]["score"]))


@pytest.mark.slow  # runs logged to MLflow, then collected
def test_runs_logged_to_mlflow_are_collected_as_pipelines(tmp_path: Path) -> None:
    from mileage.collectors.mlflow import MlflowCollector
    from mileage.metalearner.nextstep import load_chains

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ex = EXAMPLES["digits"]
    data = ex.load()
    config = ex.default_config()
    for change in ({}, {"model.C": "0.3"}):
        config = ex.set(config, change)
        result = run(
            ex.workflow(config), data, user="gus", cache=False, store=False, tracking_uri=uri
        )
        assert result.mlflow_run_id
    store = TraceStore.open(f"sqlite:///{tmp_path / 'trace.db'}")
    MlflowCollector(uri).collect(store)
    (chain,) = load_chains(store)
    assert chain.unit == "operators" and chain.user == "gus"
    assert chain.steps[1].changed == {"model"}
    assert chain.steps[1].versions == {s.name: s.fingerprint for s in ex.workflow(config).specs()}
    with store.connect() as conn:
        logged = conn.execute(
            select(t.tags.c.value).where(t.tags.c.key == "mileage.executions")
        ).scalars()
        assert [len(json.loads(v)) for v in logged] == [4, 4]  # split, scale, pca, model
    store.close()


def test_import_mileage_stays_light_and_run_is_lazy() -> None:
    code = (
        "import sys, mileage\n"
        "heavy = {'sklearn', 'numpy', 'pandas', 'sqlalchemy', 'lightgbm', 'mlflow'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
        "assert callable(mileage.run)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
