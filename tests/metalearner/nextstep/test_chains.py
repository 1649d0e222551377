"""Chains read through the trace store: collected MLflow history and executor runs alike."""

from __future__ import annotations

from pathlib import Path

from mileage.collectors.mlflow import MlflowCollector
from mileage.metalearner.examples import EXAMPLES
from mileage.metalearner.executor import run
from mileage.metalearner.nextstep import dag_layout, load_chains
from mileage.platform.store import TraceStore


def test_real_mlflow_history_becomes_parameter_chains(
    sqlite_store: TraceStore, agnias47: Path
) -> None:
    MlflowCollector(str(agnias47)).collect(sqlite_store)
    chains = load_chains(sqlite_store)
    assert len(chains) == 4 and sum(c.n_links for c in chains) == 102
    first = chains[0]
    assert first.unit == "params" and first.user == "andy" and first.origin == "mlflow"
    assert set(first.steps[0].units) == {"gamma", "input_layer", "lr", "optimizer"}
    assert first.steps[0].changed == frozenset()
    assert all(s.changed <= set(s.units) for s in first.steps[1:])
    assert all(s.metric is not None for s in first.steps)  # accuracy, oriented
    assert first.steps[1].versions["optimizer"] in {"Adam", "Adadelta", "RMSprop", "SGD"}
    assert load_chains(sqlite_store, users=["nobody"]) == []


def test_executor_runs_form_operator_chains(sqlite_store: TraceStore) -> None:
    ex = EXAMPLES["digits"]
    config = ex.default_config()
    data = ex.load()
    for change in ({}, {"model.C": "0.3"}, {"scale": "robust"}):
        config = ex.set(config, change)
        run(ex.workflow(config), data, user="dana", cache=False, store=sqlite_store)
    (chain,) = load_chains(sqlite_store, source_kinds=["executor"])
    assert chain.unit == "operators" and chain.user == "dana"
    assert [sorted(s.changed) for s in chain.steps] == [[], ["model"], ["scale"]]
    assert chain.steps[0].roles == {
        "split": "data",
        "scale": "preprocessing",
        "pca": "preprocessing",
        "model": "model",
    }
    assert chain.steps[-1].metric is not None and 0.8 < chain.steps[-1].metric <= 1.0
    assert chain.steps[1].versions["scale"] == chain.steps[0].versions["scale"]
    assert chain.steps[2].versions["scale"] != chain.steps[1].versions["scale"]


def test_dag_layout_roles_and_depths() -> None:
    roles, depth, desc = dag_layout([("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])])
    assert roles == {"a": "data", "b": "preprocessing", "c": "preprocessing", "d": "model"}
    assert depth == {"a": 0, "b": 1, "c": 1, "d": 2}
    assert desc == {"a": 3, "b": 1, "c": 1, "d": 0}
