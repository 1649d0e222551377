"""Materialization policies decide by value per byte, respect the DAG, and the oracle looks ahead."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mileage.metalearner.materialize import (
    DirectoryCache,
    EverythingPolicy,
    HelixPolicy,
    NothingPolicy,
    OraclePolicy,
    OutputStats,
    PlanContext,
    PredictivePolicy,
)
from mileage.metalearner.nextstep import Chain, Step
from mileage.metalearner.workflow import Operator, Workflow


def _id(x: object) -> object:
    return x


def _line(costs: dict[str, float], sizes: dict[str, int]) -> tuple[Workflow, PlanContext]:
    names = list(costs)
    ops = [
        Operator.function(
            n,
            _id,
            [names[i - 1]] if i else ["data"],
            {"n": n},
            role="model" if i == len(names) - 1 else "preprocessing",
        )
        for i, n in enumerate(names)
    ]
    wf = Workflow(ops, sources=["data"], name="line")
    keys = wf.fingerprints({"data": "d"})
    outputs = {
        n: OutputStats(n, keys[n], costs[n], sizes[n], 0.001, 0.001, False, True) for n in names
    }
    return wf, PlanContext(wf, keys, outputs, cache=None)  # type: ignore[arg-type]


class _Fixed:
    def __init__(self, probs: dict[str, float]) -> None:
        self.probs = probs

    def fit(self, X: object, y: None = None) -> _Fixed:
        return self

    def predict_proba_next(self, chain: Chain, *, context: object = ()) -> dict[str, float]:
        return self.probs


def _chain(wf: Workflow) -> Chain:
    return Chain("k", "u", [Step(units=tuple(wf.order))])


def test_predictive_policy_keeps_expensive_stable_outputs(tmp_path: Path) -> None:
    wf, ctx = _line(
        {"prep": 2.0, "select": 3.0, "model": 0.5}, {"prep": 1000, "select": 1000, "model": 1000}
    )
    ctx.cache = DirectoryCache(tmp_path)
    ctx.chain = _chain(wf)
    plan = PredictivePolicy(_Fixed({"prep": 0.05, "select": 0.1, "model": 0.9})).plan(ctx)
    written = [op for op, _ in plan.writes]
    assert written[0] == "select"  # most saving per byte: everything upstream of the model
    # prep is worth little once select is kept: it is only needed when select changes.
    assert plan.values["select"] > 5 * plan.values["prep"]
    assert "model" not in written or plan.values["model"] < plan.values["select"]


def test_outputs_likely_to_change_are_worth_less(tmp_path: Path) -> None:
    wf, ctx = _line({"prep": 1.0, "model": 0.5}, {"prep": 1000, "model": 10})
    ctx.cache = DirectoryCache(tmp_path)
    ctx.chain = _chain(wf)
    stable = PredictivePolicy(_Fixed({"prep": 0.01, "model": 0.9})).plan(ctx).values["prep"]
    fickle = PredictivePolicy(_Fixed({"prep": 0.9, "model": 0.9})).plan(ctx).values["prep"]
    assert stable > 10 * fickle


def test_budget_limits_the_plan(tmp_path: Path) -> None:
    wf, ctx = _line({"a": 2.0, "b": 2.0, "model": 0.5}, {"a": 600, "b": 600, "model": 10})
    ctx.cache = DirectoryCache(tmp_path, budget_bytes=700)
    ctx.chain = _chain(wf)
    plan = PredictivePolicy(_Fixed({"a": 0.01, "b": 0.01, "model": 0.9})).plan(ctx)
    assert sum(ctx.outputs[o].nbytes or 0 for o, _ in plan.writes) <= 700


def test_baseline_policies(tmp_path: Path) -> None:
    _wf, ctx = _line(
        {"cheap": 0.0001, "dear": 1.0, "model": 0.1}, {"cheap": 10**7, "dear": 100, "model": 10}
    )
    ctx.cache = DirectoryCache(tmp_path)
    ctx.outputs["cheap"] = OutputStats(
        "cheap", ctx.keys["cheap"], 0.0001, 10**7, 0.05, 0.05, False, True
    )
    assert NothingPolicy().plan(ctx).writes == []
    assert {o for o, _ in EverythingPolicy().plan(ctx).writes} == {"cheap", "dear", "model"}
    # Helix: recomputing "cheap" from scratch (0.1 ms) is not > 2 x loading it (50 ms).
    assert {o for o, _ in HelixPolicy().plan(ctx).writes} == {"dear", "model"}


def test_oracle_keeps_what_the_future_reuses(tmp_path: Path) -> None:
    names = {"prep": 2.0, "model": 0.5}
    wf1, ctx = _line(names, {"prep": 1000, "model": 10})
    ctx.cache = DirectoryCache(tmp_path)
    ops2 = [
        op
        if op.name != "model"
        else Operator.function("model", _id, ["prep"], {"n": "other"}, role="model")
        for op in wf1
    ]
    wf2 = Workflow(ops2, sources=["data"], name="line")
    future = [(wf1, ctx.keys), (wf2, wf2.fingerprints({"data": "d"}))]
    plan = OraclePolicy(future).plan(ctx)
    assert [op for op, _ in plan.writes] == ["prep"]  # the model changes next: not worth keeping
    assert np.isclose(plan.values["prep"], 2.0 - 0.001)
