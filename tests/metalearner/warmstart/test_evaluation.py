"""Leave-one-task-out on TabRepo: no held-out result reaches any fit. How the ranker compares
with the baselines is measured by ``benchmarks/warmstart.py``, not asserted here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mileage.metalearner.warmstart import evaluation as ev
from mileage.metalearner.warmstart._traces import read_traces
from mileage.platform.store import TraceStore


@pytest.fixture(scope="module")
def matrix(tabrepo_template: Path) -> dict[str, object]:
    store = TraceStore.open(f"sqlite:///{tabrepo_template}")
    try:
        traces = read_traces(store)
    finally:
        store.close()
    from mileage.metalearner.warmstart._configspace import FEATURE_NAMES

    return {
        "X": traces.meta_matrix().to_numpy(),
        "E": traces.errors.to_numpy(dtype=float),
        "P": traces.tasks["problem_type"].to_numpy(),
        "C": traces.configurations[list(FEATURE_NAMES)].to_numpy(dtype=float),
        "names": [r["names"]["tabrepo-lightgbm"] for _, r in traces.configurations.iterrows()],
    }


def _methods(m: dict[str, object]) -> dict[str, ev.Method]:
    names = m["names"]
    assert isinstance(names, list)
    return {
        "default": ev.default_first(names.index("LightGBM_c1")),
        "average rank": ev.average_rank,
        "greedy": ev.greedy_portfolio_method,
        "nearest neighbour": ev.nearest_neighbour([0, 1, 2, 3]),
        "lgbm ranker": ev.lgbm_ranker(n_estimators=20),
        "ours": ev.warm_start_ranker(),
    }


@pytest.mark.slow  # fits every method twice on three folds
def test_folds_never_contain_the_held_out_results(matrix: dict[str, object]) -> None:
    X, E, P, C = (np.asarray(matrix[k]) for k in ("X", "E", "P", "C"))
    rng = np.random.default_rng(0)
    for i in (0, 41, 92):
        fold = ev.holdout(X, E, P, C, i)
        assert fold.errors.shape == (len(E) - 1, E.shape[1])
        assert not any(np.array_equal(row, E[i]) for row in fold.errors)
        # scramble the held-out task's results: no method may notice
        scrambled = E.copy()
        scrambled[i] = rng.permutation(E[i]) * 7.0
        for name, method in _methods(matrix).items():
            a = method(ev.holdout(X, E, P, C, i))
            b = method(ev.holdout(X, scrambled, P, C, i))
            assert np.array_equal(a, b), f"{name} depends on task {i}'s own results"
            assert sorted(a.tolist()) == list(range(E.shape[1])), name


def test_random_expectation_is_exact() -> None:
    row = np.array([0.0, 0.5, 1.0, 0.25])
    got = ev.random_regret(row, ks=(1, 2, 4))
    assert got[0] == pytest.approx(row.mean())
    pairs = [min(a, b) for j, a in enumerate(row) for b in row[j + 1 :]]
    assert got[1] == pytest.approx(np.mean(pairs))
    assert got[2] == 0.0


def test_adaptive_simulation_reads_only_the_results_it_proposed(
    matrix: dict[str, object],
) -> None:
    X, E, P, C = (np.asarray(matrix[k]) for k in ("X", "E", "P", "C"))
    rng = np.random.default_rng(1)
    for i in (3, 50):
        fold = ev.holdout(X, E, P, C, i)
        prior = np.ones(len(fold.X))
        order, step = ev.adaptive_order(fold, E[i], prior, 10)
        assert len(set(order.tolist())) == E.shape[1] and 0 <= step <= 10
        hidden = np.setdiff1d(np.arange(E.shape[1]), order[:10])
        changed = E[i].copy()
        changed[hidden] = rng.permutation(changed[hidden]) * 3.0
        again, _ = ev.adaptive_order(fold, changed, prior, 10)
        assert np.array_equal(order[:10], again[:10])
        # The first pick is the plain greedy portfolio's: nothing is observed yet.
        assert order[0] == ev.greedy_portfolio_method(fold)[0]


def test_per_type_portfolio_learns_from_its_problem_type_only(matrix: dict[str, object]) -> None:
    X, E, P, C = (np.asarray(matrix[k]) for k in ("X", "E", "P", "C"))
    i = int(np.flatnonzero(P == "regression")[0])
    fold = ev.holdout(X, E, P, C, i)
    other = fold.problem_types != "regression"
    scrambled = fold.errors.copy()
    scrambled[other] = scrambled[other][:, ::-1]
    a = ev.greedy_portfolio_per_type(fold)
    b = ev.greedy_portfolio_per_type(
        ev.Fold(fold.X, scrambled, fold.problem_types, fold.configurations, fold.x, "regression")
    )
    assert np.array_equal(a, b)
    assert not np.array_equal(a, ev.greedy_portfolio_method(fold))
