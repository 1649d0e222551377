"""The training table read from the store: TabRepo complete, in-house MLflow runs joining."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mileage.collectors.metadata import import_metadata
from mileage.metalearner.warmstart._configspace import (
    configuration_features,
    lightgbm_params_from_run,
)
from mileage.metalearner.warmstart._traces import has_training_data, read_traces
from mileage.platform.store import TraceStore


def test_tabrepo_reads_complete_on_both_backends(any_store: TraceStore, tabrepo_dir: Path) -> None:
    assert not has_training_data(any_store)
    import_metadata(any_store, "tabrepo-lightgbm", tabrepo_dir)
    assert has_training_data(any_store)
    traces = read_traces(any_store)
    assert traces.errors.shape == (93, 104)
    assert traces.n_scores == 9672
    assert traces.tasks["problem_type"].value_counts().to_dict() == {
        "binary": 38,
        "regression": 31,
        "multiclass": 24,
    }
    binary = traces.tasks.index[traces.tasks["problem_type"] == "binary"][0]
    assert traces.errors.loc[binary].max() <= 0  # AUC is a score: stored negated
    names = {r["names"]["tabrepo-lightgbm"] for _, r in traces.configurations.iterrows()}
    assert "LightGBM_c1" in names and len(names) == 104
    X = traces.meta_matrix()
    assert list(X.columns[-3:]) == ["problem_binary", "problem_multiclass", "problem_regression"]
    assert X["log_n_instances"].notna().all()


def test_configuration_features_fill_learner_defaults() -> None:
    ag = configuration_features({}, "autogluon.lightgbm")
    plain = configuration_features({}, "lightgbm")
    assert ag[0] == pytest.approx(np.log(0.05)) and plain[0] == pytest.approx(np.log(0.1))
    named = configuration_features({"colsample_bytree": 0.5, "min_child_samples": 10}, "lightgbm")
    assert named[2] == 0.5 and named[3] == pytest.approx(np.log(10))


def test_run_params_in_every_spelling() -> None:
    params = {
        "lightgbm.num_leaves": "63",
        "clf__num_leaves": "7",
        "clf__learning_rate": "0.05",
        "colsample_bytree": "0.8",
        "extra_trees": "True",
        "unrelated": "x",
    }
    assert lightgbm_params_from_run(params) == {
        "extra_trees": True,
        "feature_fraction": 0.8,
        "learning_rate": 0.05,
        "num_leaves": 63,
    }
    assert lightgbm_params_from_run({"C": "1.0"}) == {}
