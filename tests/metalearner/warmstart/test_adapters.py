"""Adapters: the recommended configurations reach Optuna and FLAML as their own data, and
only run when the user's search asks for trials."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from sklearn.datasets import load_breast_cancer, load_digits

from mileage.cli.demo.warmstart import SPACE
from mileage.metalearner.metafeatures import compute_meta_features
from mileage.metalearner.warmstart._service import Recommendation, load_warmstart, recommend
from mileage.metalearner.warmstart.adapters import (
    FLAML_LGBM_PARAMS,
    configurations_json,
    enqueue_optuna,
    flaml_points,
    flaml_starting_points,
    search_params,
)
from mileage.platform.store import TraceStore


@pytest.fixture(scope="module")
def recommendations(tabrepo_template: Path) -> dict[str, list[Recommendation]]:
    store = TraceStore.open(f"sqlite:///{tabrepo_template}")
    try:
        loaded = load_warmstart(store)
        out = {}
        for name, loader in (("breast_cancer", load_breast_cancer), ("digits", load_digits)):
            frame = loader(as_frame=True).frame
            features, problem = compute_meta_features(frame, "target")
            out[name] = recommend(loaded, features, problem, k=5, candidates="tabrepo-lightgbm")
    finally:
        store.close()
    return out


def test_search_params_fill_defaults_rename_and_clip() -> None:
    c1 = {"name": "LightGBM_c1", "learner": "autogluon.lightgbm", "params": {}}
    assert search_params(c1)["learning_rate"] == 0.05  # AutoGluon's default, made explicit
    assert search_params({"params": {}})["learning_rate"] == 0.1  # LightGBM's
    named = search_params({"params": {"min_data_in_leaf": 3.0, "feature_fraction": 0.5}})
    assert named["min_child_samples"] == 3 and isinstance(named["min_child_samples"], int)
    assert named["colsample_bytree"] == 0.5 and "feature_fraction" not in named
    assert (
        search_params({"params": {"feature_fraction": 0.5}}, naming="lightgbm")["feature_fraction"]
        == 0.5
    )
    clipped = search_params(
        {"params": {"learning_rate": 0.9, "num_leaves": 300, "extra_trees": True}},
        space={"learning_rate": (0.01, 0.3), "num_leaves": (2, 256), "extra_trees": [False]},
    )
    assert clipped == {"learning_rate": 0.3, "num_leaves": 256}  # out-of-space choice dropped


def test_plain_json_hand_off() -> None:
    doc = configurations_json(
        [{"name": "LightGBM_r1", "params": {"num_leaves": 7}, "expected_regret": 0.1}]
    )
    assert doc == {"configurations": [{"name": "LightGBM_r1", "params": {"num_leaves": 7}}]}
    assert json.loads(json.dumps(doc)) == doc


def test_optuna_runs_the_queued_recommendations_first_and_tags_them(
    recommendations: dict[str, list[Recommendation]],
) -> None:
    """The queued trials wait until the user's search asks for trials, then run first, in rank
    order, with the recommended parameters. Whether they beat a cold start is a benchmark
    claim (``benchmarks/warmstart_optuna.py``), not a test."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    recs = recommendations["digits"]
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=0))
    assert enqueue_optuna(study, recs, space=SPACE) == 5
    assert len(study.trials) == 5 and all(
        t.state == optuna.trial.TrialState.WAITING for t in study.trials
    )  # queued, not run

    def objective(trial: optuna.Trial) -> float:
        """The demo's search space, scored by a cheap function instead of a LightGBM fit."""
        lr = trial.suggest_float("learning_rate", *SPACE["learning_rate"], log=True)
        leaves = trial.suggest_int("num_leaves", *SPACE["num_leaves"], log=True)
        trial.suggest_float("colsample_bytree", *SPACE["colsample_bytree"])
        trial.suggest_int("min_child_samples", *SPACE["min_child_samples"], log=True)
        trial.suggest_categorical("extra_trees", SPACE["extra_trees"])
        return float((np.log(lr) + 3) ** 2 + leaves / 100)

    study.optimize(objective, n_trials=6)
    assert len(study.trials) == 6
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    for rank, (trial, rec) in enumerate(zip(study.trials, recs), start=1):
        assert trial.user_attrs == {"source": "mileage.warmstart", "rank": rank, "name": rec.name}
        assert trial.params == pytest.approx(search_params(rec, space=SPACE))
    assert study.trials[5].user_attrs == {}  # the sampler's own trial


def test_flaml_evaluates_the_points_first_in_order() -> None:
    import flaml.tune as tune_module

    tune: Any = tune_module

    recs = [
        {"name": "a", "learner": "lightgbm", "params": {"learning_rate": 0.05, "num_leaves": 20}},
        {"name": "b", "learner": "lightgbm", "params": {"learning_rate": 0.2, "num_leaves": 9}},
    ]
    space = {"learning_rate": (0.001, 0.5), "num_leaves": (2, 256)}
    points = flaml_points(recs, space=space)
    assert points == [
        {"learning_rate": 0.05, "num_leaves": 20},
        {"learning_rate": 0.2, "num_leaves": 9},
    ]
    seen: list[dict[str, Any]] = []

    def evaluate(config: dict[str, Any]) -> dict[str, float]:
        seen.append(dict(config))
        return {"loss": (np.log(config["learning_rate"]) + 3) ** 2 + config["num_leaves"] / 100}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tune.run(
            evaluate,
            config={
                "learning_rate": tune.loguniform(0.001, 0.5),
                "num_leaves": tune.lograndint(2, 256),
            },
            metric="loss",
            mode="min",
            points_to_evaluate=points,
            num_samples=4,
            verbose=0,
        )
    assert len(seen) == 4
    for got, want in zip(seen[:2], points):
        assert got["num_leaves"] == want["num_leaves"]
        assert got["learning_rate"] == pytest.approx(want["learning_rate"], rel=1e-9)


def test_flaml_starting_points_use_flamls_lgbm_names(
    recommendations: dict[str, list[Recommendation]],
) -> None:
    # flaml.AutoML needs the flaml[automl] extra (xgboost and more), so this checks the data
    # shape its documented API takes: {"lgbm": [config, ...]} with LGBMEstimator's names and
    # values inside its search space (num_leaves >= 4, min_child_samples >= 2, regs >= 1/1024).
    points = flaml_starting_points(recommendations["breast_cancer"])
    assert list(points) == ["lgbm"] and len(points["lgbm"]) == 5
    for point in points["lgbm"]:
        assert set(point) <= set(FLAML_LGBM_PARAMS)
        assert {"num_leaves", "learning_rate", "colsample_bytree", "min_child_samples"} <= set(
            point
        )
        assert point["num_leaves"] >= 4 and point["min_child_samples"] >= 2
        assert 1 / 1024 <= point["learning_rate"] <= 1 and 0.01 <= point["colsample_bytree"] <= 1
        assert point["reg_alpha"] >= 1 / 1024 and point["reg_lambda"] >= 1 / 1024
