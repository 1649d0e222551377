"""The load-or-recompute plan is optimal: it matches exhaustive search on random DAGs."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from mileage.metalearner.materialize import plan_execution


def _brute(order, inputs, sinks, compute, load) -> float:
    best = float("inf")
    for states in itertools.product(range(3), repeat=len(order)):  # skip, load, compute
        st_ = dict(zip(order, states))
        ok = all(st_[s] for s in sinks)
        for n in order:
            ok &= not (st_[n] == 1 and n not in load)
            ok &= not (st_[n] == 2 and any(st_[p] == 0 for p in inputs[n]))
        if ok:
            best = min(
                best,
                sum(compute[n] if st_[n] == 2 else load[n] if st_[n] == 1 else 0 for n in order),
            )
    return best


@st.composite
def dags(draw):
    n = draw(st.integers(1, 6))
    order = [f"op{i}" for i in range(n)]
    inputs = {o: [order[j] for j in range(i) if draw(st.booleans())] for i, o in enumerate(order)}
    compute = {o: draw(st.floats(0, 5)) for o in order}
    load = {o: draw(st.floats(0, 5)) for o in order if draw(st.booleans())}
    return order, inputs, compute, load


@settings(max_examples=150, deadline=None)
@given(dags())
def test_plan_is_feasible_and_optimal(dag) -> None:
    order, inputs, compute, load = dag
    sinks = [o for o in order if not any(o in inputs[m] for m in order)]
    plan = plan_execution(order, inputs, sinks, compute, load)
    assert plan.load <= set(load)
    for s in sinks:
        assert s in plan.load or s in plan.compute
    for n in plan.compute:
        assert all(p in plan.load or p in plan.compute for p in inputs[n])
    assert abs(plan.cost - _brute(order, inputs, sinks, compute, load)) < 1e-6


def test_recompute_is_chosen_when_cheaper_and_shared_inputs_count_once() -> None:
    # a -> b -> c; b is cached but loading it is slower than recomputing it from a.
    plan = plan_execution(
        ["a", "b", "c"],
        {"a": [], "b": ["a"], "c": ["b"]},
        ["c"],
        {"a": 0.1, "b": 0.1, "c": 1},
        {"b": 5.0},
    )
    assert plan.compute == {"a", "b", "c"} and not plan.load
    # An unstored O with a changed descendant is recomputed; its stored parent is loaded.
    plan = plan_execution(
        ["a", "o", "d"],
        {"a": [], "o": ["a"], "d": ["o"]},
        ["d"],
        {"a": 9, "o": 1, "d": 1},
        {"a": 0.5},
    )
    assert plan.load == {"a"} and plan.compute == {"o", "d"}
    # Two consumers of an expensive input: it is computed once, not loaded or computed twice.
    plan = plan_execution(
        ["x", "l", "r", "j"],
        {"x": [], "l": ["x"], "r": ["x"], "j": ["l", "r"]},
        ["j"],
        {"x": 4, "l": 1, "r": 1, "j": 1},
        {"l": 3.5, "r": 3.5},
    )
    assert plan.compute == {"x", "l", "r", "j"} and plan.cost == 7
