"""Iteration chains and reuse shares on hand-built runs with known changes."""

from __future__ import annotations

import json

from sqlalchemy import insert, select

from mileage.collectors import _iterations as iterations
from mileage.platform.pipelines import (
    OperatorSpec,
    operators_from_run,
    pipeline_fingerprint,
    store_pipeline,
)
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t


def _run(
    conn,
    source: int,
    exp: int,
    ext: str,
    start: int,
    user: str,
    params: dict[str, str],
    pipeline: int | None = None,
) -> int:
    rid = conn.execute(
        insert(t.runs)
        .values(
            source_id=source,
            external_id=ext,
            experiment_id=exp,
            user=user,
            status="FINISHED",
            start_ms=start,
            lifecycle_stage="active",
            signature="x",
            pipeline_id=pipeline,
        )
        .returning(t.runs.c.id)
    ).scalar_one()
    if params:
        conn.execute(
            insert(t.params), [{"run_id": rid, "key": k, "value": v} for k, v in params.items()]
        )
    return int(rid)


def test_chains_links_and_reuse(sqlite_store: TraceStore) -> None:
    source = sqlite_store.ensure_source("mlflow", "unit")
    with sqlite_store.begin() as conn:
        exp = conn.execute(
            insert(t.experiments)
            .values(source_id=source, external_id="e", name="e", lifecycle_stage="active", tags={})
            .returning(t.experiments.c.id)
        ).scalar_one()
        a = {"lr": "0.1", "depth": "3", "trees": "10", "seed": "1"}
        _run(conn, source, exp, "r1", 1, "alice", a)
        _run(conn, source, exp, "r2", 2, "alice", {**a, "lr": "0.2"})  # 3 of 4 reused
        _run(
            conn,
            source,
            exp,
            "r3",
            3,
            "alice",
            {"lr": "0.3", "depth": "4", "trees": "11", "seed": "1"},
        )  # 1 of 4
        _run(conn, source, exp, "r4", 4, "bob", a)  # other chain
        groups = iterations.dirty_groups(conn, source, ("experiment_id", "user"))
        assert groups == {(exp, "alice"), (exp, "bob")}
        assert iterations.rebuild(conn, source, ("experiment_id", "user"), groups) == 2
        assert iterations.dirty_groups(conn, source, ("experiment_id", "user")) == set()
        rows = {
            r.position: r
            for r in conn.execute(
                select(t.iterations).where(t.iterations.c.chain_key == f"{source}/{exp}/alice")
            )
        }
        stats = iterations.stats(conn)
    assert rows[0].previous_run_id is None and rows[0].reuse_ratio is None
    assert rows[1].changed_params == ["lr"] and rows[1].reuse_ratio == 0.75
    assert rows[2].changed_params == ["depth", "lr", "trees"] and rows[2].reuse_ratio == 0.25
    assert (stats.chains, stats.links, stats.share_reusing_over_half) == (2, 2, 0.5)
    (per_source,) = stats.sources
    assert per_source.to_dict() == {
        "kind": per_source.kind,
        "source": per_source.source,
        "chains": 2,
        "links": 2,
        "measured_links": 2,
        "links_reusing_over_half": 1,
        "share_reusing_over_half": 0.5,
        "mean_reuse_ratio": 0.5,
    }


def test_operators_from_sklearn_params_and_from_the_pipeline_tag() -> None:
    params = {
        "steps": "[('scale', StandardScaler()), ('clf', SVC())]",
        "scale": "StandardScaler()",
        "clf": "SVC()",
        "clf__C": "1.0",
        "scale__with_mean": "True",
    }
    ops = operators_from_run(params, {})
    assert ops is not None and [o.name for o in ops] == ["scale", "clf"]
    assert ops[1].kind == "SVC()" and dict(ops[1].params) == {"C": "1.0"}
    changed = operators_from_run({**params, "clf__C": "2.0"}, {})
    assert changed is not None
    assert (
        ops[0].fingerprint == changed[0].fingerprint
        and ops[1].fingerprint != changed[1].fingerprint
    )
    tagged = operators_from_run(
        {},
        {
            "mileage.pipeline": json.dumps(
                [
                    {"name": "impute", "params": {"strategy": "mean"}},
                    {"name": "model", "inputs": ["impute"]},
                ]
            )
        },
    )
    assert tagged is not None and tagged[1].inputs == ("impute",)
    assert operators_from_run({"lr": "1"}, {}) is None


def test_pipelines_are_content_addressed(sqlite_store: TraceStore) -> None:
    ops = [OperatorSpec("a", "A", {"x": 1}), OperatorSpec("b", "B", {}, ("a",))]
    with sqlite_store.begin() as conn:
        first = store_pipeline(conn, "a+b", ops)
        again = store_pipeline(conn, "a+b", list(ops))
        other = store_pipeline(conn, "a+b", [OperatorSpec("a", "A", {"x": 2}), ops[1]])
    assert first == again != other
    assert pipeline_fingerprint(ops) != pipeline_fingerprint(ops[::-1])
    assert sqlite_store.counts()["pipeline_operators"] == 4
