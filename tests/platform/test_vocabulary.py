"""The vocabulary and configurations: one name per thing, one row per configuration."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import select

from mileage.platform.configurations import configuration_fingerprint, store_configurations
from mileage.platform.store import TraceStore, upsert
from mileage.platform.store import schema as t
from mileage.platform.vocabulary import (
    META_FEATURES,
    METRICS,
    from_autosklearn_cost,
    from_openml_measure,
    lightgbm_params,
    meta_features_from_openml,
    metric,
    problem_type,
)


def test_names_are_unique_and_every_metric_has_a_direction() -> None:
    assert len({m.name for m in METRICS}) == len(METRICS)
    assert len({f.name for f in META_FEATURES}) == len(META_FEATURES)
    for field in ("openml", "autosklearn", "lcdb"):
        names = [getattr(m, field) for m in METRICS if getattr(m, field)]
        assert len(names) == len(set(names)), field
    assert {m.direction for m in METRICS} == {"score", "error"}
    with pytest.raises(KeyError, match="known: accuracy"):
        metric("acc")


def test_foreign_names_and_units_convert() -> None:
    assert from_openml_measure("predictive_accuracy", 0.9) == ("accuracy", 0.9)
    assert from_openml_measure("usercpu_time_millis_training", 1500) == ("fit_cpu_time_s", 1.5)
    assert from_openml_measure("kb_relative_information_score", 3.0) == (
        "kb_relative_information_score",
        3.0,
    )
    assert from_autosklearn_cost("balanced_accuracy", 0.25) == ("balanced_accuracy", 0.75)
    assert from_autosklearn_cost("mean_squared_error", 2.5) == ("mse", 2.5)
    assert problem_type("classification", 2) == "binary"
    assert problem_type("classification", 7) == "multiclass"
    assert problem_type("classification", None) is None
    assert problem_type("regression", None) == "regression"
    assert lightgbm_params({"colsample_bytree": 0.5, "log_max_bin": 8, "num_leaves": 4}) == {
        "feature_fraction": 0.5,
        "max_bin": 255,
        "num_leaves": 4,
    }


def test_openml_counts_leave_the_target_out() -> None:
    classification = {
        "NumberOfInstances": 898,
        "NumberOfFeatures": 39,
        "NumberOfClasses": 5,
        "NumberOfNumericFeatures": 6,
        "NumberOfSymbolicFeatures": 33,
        "NumberOfMissingValues": 22175,
        "MajorityClassSize": 684,
        "ClassEntropy": -1,
    }
    features, problems = meta_features_from_openml(classification)
    assert (
        features["n_features"],
        features["n_categorical_features"],
        features["n_numeric_features"],
    ) == (38, 32, 6)
    assert features["missing_values_ratio"] == 22175 / (898 * 38)
    assert math.isclose(features["log_dimensionality"], math.log(38 / 898))
    assert "class_entropy" not in features and problems == [
        "ClassEntropy is -1 (not computed by OpenML): left out"
    ]
    regression, _ = meta_features_from_openml(
        {
            "NumberOfInstances": 100,
            "NumberOfFeatures": 5,
            "NumberOfClasses": 0,
            "NumberOfNumericFeatures": 5,
            "NumberOfSymbolicFeatures": 0,
            "MajorityClassSize": 3,
        }
    )
    assert (regression["n_numeric_features"], regression["n_categorical_features"]) == (4, 0)
    assert "majority_class_size" not in regression
    unknown, _ = meta_features_from_openml({"NumberOfFeatures": 5, "NumberOfNumericFeatures": 5})
    assert unknown["n_features"] == 4 and "n_numeric_features" not in unknown  # target kind unknown


def test_the_same_configuration_from_two_sources_is_one_row(sqlite_store: TraceStore) -> None:
    a = sqlite_store.ensure_source("metadata", "one")
    b = sqlite_store.ensure_source("openml", "two")
    assert configuration_fingerprint("x", {"b": 1.0, "a": "s"}) == configuration_fingerprint(
        "x", {"a": "s", "b": 1}
    )
    assert configuration_fingerprint("x", {"a": 1}) != configuration_fingerprint("y", {"a": 1})
    with sqlite_store.begin() as conn:
        (first,) = store_configurations(
            conn, [("autogluon.lightgbm", {"num_leaves": 31, "learning_rate": 0.1})]
        )
        second, third = store_configurations(
            conn,
            [
                ("autogluon.lightgbm", {"learning_rate": 0.1, "num_leaves": 31.0}),
                ("flaml.lightgbm", {"num_leaves": 31, "learning_rate": 0.1}),
            ],
        )
        for source, cid in ((a, first), (b, second)):
            upsert(
                conn,
                t.source_configurations,
                [
                    {
                        "source_id": source,
                        "external_id": "c",
                        "name": None,
                        "flow_external_id": None,
                        "configuration_id": cid,
                    }
                ],
                keys=("source_id", "external_id"),
            )
    assert first == second != third  # another framework's defaults: another configuration
    with sqlite_store.connect() as conn:
        assert len(conn.execute(select(t.configurations)).all()) == 2
        assert conn.execute(
            select(t.configurations.c.params).where(t.configurations.c.id == first)
        ).scalar_one() == {
            "learning_rate": 0.1,
            "num_leaves": 31,
        }
