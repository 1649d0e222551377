"""WarmStartSampler in real Optuna studies.

The objective is one of TabRepo's tasks as measured: a trial's value is that task's recorded
validation error of the stored configuration nearest to the trial's hyperparameters (the
embedded default's matrix), so every study runs in milliseconds on real results.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import pytest

from mileage.metalearner.warmstart import WarmStartSampler, load_default
from mileage.metalearner.warmstart._configspace import configuration_features
from mileage.platform.errors import ConfigError

optuna.logging.set_verbosity(optuna.logging.WARNING)
SPACE_NAMES = (
    "learning_rate",
    "num_leaves",
    "colsample_bytree",
    "min_child_samples",
    "extra_trees",
)


@pytest.fixture(scope="module")
def default() -> object:
    return load_default()


def _task(default: object, i: int) -> tuple[dict[str, float], str, np.ndarray]:
    """Meta-features, problem type and regret row of training task ``i``."""
    names = default.metadata["meta_features"]  # type: ignore[attr-defined]
    x = default.model.X_train_[i]  # type: ignore[attr-defined]
    features = {n: float(v) for n, v in zip(names, x) if not n.startswith("problem_")}
    problem = next(n[len("problem_") :] for n, v in zip(names, x) if n.startswith("problem_") and v)
    return features, problem, default.model.regret_[i]  # type: ignore[attr-defined]


def _objective(default: object, row: np.ndarray, sign: float = 1.0) -> Callable[..., float]:
    features = default.model.configuration_features_  # type: ignore[attr-defined]

    def objective(trial: optuna.Trial) -> float:
        params = {
            "learning_rate": trial.suggest_float("learning_rate", 0.005, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 2, 256, log=True),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
            "min_child_samples": trial.suggest_int("min_child_samples", 1, 64, log=True),
            "extra_trees": trial.suggest_categorical("extra_trees", [False, True]),
        }
        f = np.array(configuration_features(params, "lightgbm"))
        nearest = int(np.argmin(((features - f) ** 2).sum(axis=1)))
        return sign * float(row[nearest])

    return objective


def _other_task(default: object, i: int) -> dict[str, float]:
    """Meta-features of the same problem type's task farthest from task ``i`` (misleading)."""
    _, problem, _ = _task(default, i)
    n = default.model.X_train_.shape[0]  # type: ignore[attr-defined]
    for j in range(n - 1, -1, -1):
        other, p, _ = _task(default, j)
        if p == problem and j != i:
            return other
    raise AssertionError("no other task")


def test_first_trial_is_the_rankers_first_pick(default: object) -> None:
    from mileage.metalearner.warmstart import recommend

    features, problem, row = _task(default, 3)
    sampler = WarmStartSampler(features, problem, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(_objective(default, row), n_trials=1)
    first = recommend(default, features, problem, k=1)[0]  # type: ignore[arg-type]
    params = study.trials[0].params
    assert params["num_leaves"] == min(max(int(first.params.get("num_leaves", 31)), 2), 256)
    assert params["extra_trees"] == bool(first.params.get("extra_trees", False))
    assert sampler.loaded.origin == "embedded"


def test_reweights_towards_tasks_that_agree_and_beats_one_shot(default: object) -> None:
    """Misleading meta-features (another task's): the observed results pull the weights to
    the tasks that rank configurations as the study does, and the search ends up at least
    as good as the one-shot order after 10 trials on most tasks."""
    from mileage.metalearner.warmstart._adaptive import agreement

    wins = ties = losses = 0
    for i in range(0, 90, 9):
        _, problem, row = _task(default, i)
        misleading = _other_task(default, i)
        sampler = WarmStartSampler(misleading, problem, seed=0, interpolate=False)
        study = optuna.create_study(sampler=sampler)
        study.optimize(_objective(default, row), n_trials=10)
        portfolio = sampler._portfolio
        observed = np.array(portfolio._values)
        columns = portfolio._cols
        agree = agreement(observed, columns)
        top = np.argsort(-portfolio.weights())[:5]
        assert agree[top].mean() > agree.mean()  # weight moved to the tasks that agree
        one_shot = WarmStartSampler(misleading, problem, seed=0, interpolate=False, temperature=1e9)
        base = optuna.create_study(sampler=one_shot)
        base.optimize(_objective(default, row), n_trials=10)
        diff = study.best_value - base.best_value
        wins, ties, losses = wins + (diff < 0), ties + (diff == 0), losses + (diff > 0)
    assert wins + ties > losses


def test_hands_over_by_the_documented_rule(default: object) -> None:
    features, problem, row = _task(default, 10)
    # min_gain of 1: nothing can gain that much, so it hands over at min_observations.
    sampler = WarmStartSampler(features, problem, seed=0, min_gain=1.0, min_observations=3)
    study = optuna.create_study(sampler=sampler)
    study.optimize(_objective(default, row), n_trials=3)
    assert sampler.handed_over is None
    study.optimize(_objective(default, row), n_trials=2)
    assert sampler.handed_over is not None and "expected to gain" in sampler.handed_over.reason
    capped = WarmStartSampler(features, problem, seed=0, max_warm_trials=2)
    study = optuna.create_study(sampler=capped)
    study.optimize(_objective(default, row), n_trials=3)
    assert capped.handed_over is not None and "max_warm_trials" in capped.handed_over.reason
    # A study that keeps paying stays warm.
    patient = WarmStartSampler(features, problem, seed=0, min_gain=0.0, min_agreement=-2.0)
    study = optuna.create_study(sampler=patient)
    study.optimize(_objective(default, row), n_trials=6)
    assert patient.handed_over is None


def test_user_space_is_clipped_and_other_parameters_go_to_the_independent_sampler() -> None:
    sampler = WarmStartSampler({"log_n_instances": 9.0}, "binary", seed=1)
    study = optuna.create_study(sampler=sampler)

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("learning_rate", 0.06, 0.07)
        leaves = trial.suggest_int("num_leaves", 4, 16, step=4)
        n_estimators = trial.suggest_int("n_estimators", 50, 60)
        colour = trial.suggest_categorical("colour", ["red", "blue"])
        return lr + leaves + n_estimators + (colour == "red")

    study.optimize(objective, n_trials=4)
    for trial in study.trials:
        assert 0.06 <= trial.params["learning_rate"] <= 0.07
        assert trial.params["num_leaves"] in (4, 8, 12, 16)
        assert 50 <= trial.params["n_estimators"] <= 60


def test_maximize_is_understood(default: object) -> None:
    features, problem, row = _task(default, 20)
    low = optuna.create_study(sampler=WarmStartSampler(features, problem, seed=0))
    low.optimize(_objective(default, row), n_trials=6)
    high = optuna.create_study(
        direction="maximize", sampler=WarmStartSampler(features, problem, seed=0)
    )
    high.optimize(_objective(default, row, sign=-1.0), n_trials=6)
    assert [t.params for t in low.trials] == [t.params for t in high.trials]


def test_bad_input_gets_an_error_or_a_stated_fallback(default: object) -> None:
    features, problem, row = _task(default, 5)
    multi = optuna.create_study(
        directions=["minimize", "minimize"], sampler=WarmStartSampler(features, problem)
    )
    with pytest.raises(ConfigError, match="2 directions"):
        multi.optimize(lambda t: (t.suggest_float("learning_rate", 0.01, 0.1), 1.0), n_trials=1)
    with pytest.raises(ConfigError, match="problem type 'ranking' is unknown"):
        WarmStartSampler(features, "ranking")
    sampler = WarmStartSampler(features, problem, seed=0)
    study = optuna.create_study(sampler=sampler)
    with pytest.warns(UserWarning, match="no LightGBM hyperparameter"):
        study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.3) ** 2, n_trials=3)
    assert sampler.handed_over is not None

    # An objective that raises: the trial fails, is not learnt from and is not retried.
    calls: list[dict[str, object]] = []

    def flaky(trial: optuna.Trial) -> float:
        value = _objective(default, row)(trial)
        calls.append(dict(trial.params))
        if len(calls) == 1:
            raise ValueError("out of memory")
        return value

    sampler = WarmStartSampler(features, problem, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(flaky, n_trials=3, catch=(ValueError,))
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    assert calls[1] != calls[0] and calls[2] != calls[0]
    sampler._update(study)  # the last trial's result is read when the next trial starts
    assert sampler._portfolio.n_observed == 2
    # Nothing of ours is written to the study besides its trials.
    storage = study._storage
    assert storage.get_study_system_attrs(study._study_id) == {} and study.user_attrs == {}
    assert all(not t.user_attrs and not t.system_attrs for t in study.trials)


def test_model_of_another_problem_type_is_refused(default: object) -> None:
    from mileage.metalearner.warmstart import LoadedModel, WarmStartRanker

    names = default.metadata["meta_features"]  # type: ignore[attr-defined]
    X = default.model.X_train_  # type: ignore[attr-defined]
    regression = X[:, names.index("problem_regression")] == 1
    import pandas as pd

    ranker = WarmStartRanker(n_estimators=5, surrogate_estimators=5).fit(
        pd.DataFrame(X[regression], columns=names),
        default.model.regret_[regression],  # type: ignore[attr-defined]
        configurations=default.model.configuration_features_,  # type: ignore[attr-defined]
    )
    only = LoadedModel(ranker, dict(default.metadata), 1, default.created_at)  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="has no binary training task"):
        WarmStartSampler({"log_n_instances": 8.0}, "binary", model=only)


def test_pruner_and_parallel_trials(default: object) -> None:
    features, problem, row = _task(default, 30)
    sampler = WarmStartSampler(features, problem, seed=0)
    study = optuna.create_study(sampler=sampler, pruner=optuna.pruners.ThresholdPruner(upper=0.5))
    objective = _objective(default, row)

    def pruned(trial: optuna.Trial) -> float:
        value = objective(trial)
        trial.report(value, step=0)
        if trial.should_prune():
            raise optuna.TrialPruned()
        return value

    study.optimize(pruned, n_trials=8)
    states = {t.state for t in study.trials}
    assert optuna.trial.TrialState.COMPLETE in states
    sampler._update(study)
    assert sampler._portfolio.n_observed == sum(
        t.state == optuna.trial.TrialState.COMPLETE for t in study.trials
    )
    parallel = optuna.create_study(sampler=WarmStartSampler(features, problem, seed=0))
    parallel.optimize(objective, n_trials=8, n_jobs=2)
    warm = [tuple(sorted(t.params.items())) for t in parallel.trials]
    assert len(set(warm)) == len(warm)  # no configuration proposed twice


def test_resumed_rdb_study_continues_where_it_was(default: object, tmp_path: Path) -> None:
    features, problem, row = _task(default, 40)
    objective = _objective(default, row)
    straight = optuna.create_study(sampler=WarmStartSampler(features, problem, seed=0))
    straight.optimize(objective, n_trials=6)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = optuna.create_study(
        study_name="s", storage=storage, sampler=WarmStartSampler(features, problem, seed=0)
    )
    first.optimize(objective, n_trials=3)
    del first
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumed = optuna.load_study(
            study_name="s", storage=storage, sampler=WarmStartSampler(features, problem, seed=0)
        )
        resumed.optimize(objective, n_trials=3)
    assert [t.params for t in resumed.trials] == [t.params for t in straight.trials]


def test_incremental_ranks_and_top_tasks_match_the_full_computation() -> None:
    from mileage.metalearner.warmstart._adaptive import AdaptivePortfolio, agreement, top_indices

    rng = np.random.default_rng(3)
    # Rounded to one decimal so that ties (average ranks) are common.
    regret = rng.random((500, 12)).round(1)
    portfolio = AdaptivePortfolio(regret, rng.random(500))
    values = rng.random(12)
    for j in range(12):
        portfolio.observe(regret[:, j], float(values[j]))
        if j >= 1:
            np.testing.assert_allclose(
                portfolio._agreement, agreement(values[: j + 1], regret[:, : j + 1]), atol=1e-12
            )
    weights = rng.random(1000).round(2)  # many ties at the cut
    for k in (1, 7, 256, 999, 1000, 1500):
        expected = np.argsort(-weights, kind="stable")[:k]
        np.testing.assert_array_equal(top_indices(weights, k), expected)


def test_a_non_finite_column_is_ranked_afresh() -> None:
    from mileage.metalearner.warmstart._adaptive import AdaptivePortfolio, agreement

    regret = np.array([[0.1, 0.5, np.nan, 0.2], [0.9, 0.4, 0.3, 0.1], [0.2, 0.2, 0.8, 0.7]])
    portfolio = AdaptivePortfolio(regret, np.ones(3))
    values = np.array([0.3, 0.2, 0.9, 0.1])
    for j in range(4):
        portfolio.observe(regret[:, j], float(values[j]))
    np.testing.assert_allclose(portfolio._agreement, agreement(values, regret), atol=1e-12)


def test_a_stored_number_maps_onto_the_users_own_categorical_choice() -> None:
    from optuna.distributions import CategoricalDistribution

    from mileage.metalearner.warmstart._sampler import map_value

    value = map_value(0.0, CategoricalDistribution([False, True]))
    assert value is False  # LightGBM refuses extra_trees=0.0
    assert map_value(1, CategoricalDistribution([False, True])) is True
    assert map_value(True, CategoricalDistribution(["a", "b"])) is None
