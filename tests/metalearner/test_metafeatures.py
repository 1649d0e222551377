"""Meta-features: equal to OpenML's recorded qualities, deterministic, clear errors."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from mileage.metalearner.metafeatures import (
    compute_meta_features,
    infer_problem_type,
    meta_features_from_json,
    openml_qualities,
)
from mileage.platform.errors import DataError, MileageError
from mileage.platform.vocabulary import META_FEATURES_BY_NAME, meta_features_from_openml
from mileage.testing import require_shared_data


def _anneal() -> tuple[pd.DataFrame, dict[str, float]]:
    """OpenML dataset 2 (anneal) as recorded from the test server: ARFF data and qualities."""
    import arff

    folder: Path = require_shared_data("openml-responses", "org", "openml", "test", "datasets", "2")
    data = arff.loads((folder / "dataset.arff").read_text())
    columns = {}
    for i, (name, kind) in enumerate(data["attributes"]):
        values = [row[i] for row in data["data"]]
        columns[name] = (
            pd.Categorical(values, categories=kind)
            if isinstance(kind, list)
            else pd.Series(values, dtype=float)
        )
    xml = (folder / "qualities.xml").read_text()
    qualities = {
        name: float(value)
        for name, value in re.findall(
            r"<oml:name>(\w+)</oml:name>\s*<oml:value>([^<]*)</oml:value>", xml
        )
    }
    return pd.DataFrame(columns), qualities


def test_counts_equal_openml_recorded_qualities() -> None:
    frame, recorded = _anneal()
    features, problem = compute_meta_features(frame, "class")
    ours = openml_qualities(features, problem)
    assert problem == "multiclass"
    for name in (
        "NumberOfInstances",
        "NumberOfFeatures",
        "NumberOfClasses",
        "NumberOfNumericFeatures",
        "NumberOfMissingValues",
        "NumberOfInstancesWithMissingValues",
        "MajorityClassSize",
        "MinorityClassSize",  # class 4 is declared but has no row: OpenML counts it too
    ):
        assert ours[name] == recorded[name], name
    # The recording says 32 symbolic features, but 6 numeric + 32 = 38 of its 39 features:
    # the ARFF declares 33 nominal attributes (with the target), and so do we.
    assert ours["NumberOfSymbolicFeatures"] == 33
    assert (
        ours["NumberOfNumericFeatures"] + ours["NumberOfSymbolicFeatures"]
        == ours["NumberOfFeatures"]
    )
    # Moments of the numeric columns: OpenML's own estimator differs in the last digits.
    assert ours["MeanSkewnessOfNumericAtts"] == pytest.approx(
        recorded["MeanSkewnessOfNumericAtts"], rel=2e-3
    )
    assert ours["MeanKurtosisOfNumericAtts"] == pytest.approx(
        recorded["MeanKurtosisOfNumericAtts"], rel=2e-3
    )
    assert features["symbols_max"] == recorded["MaxNominalAttDistinctValues"]
    assert features["symbols_mean"] == pytest.approx(recorded["MeanNominalAttDistinctValues"])
    # and through the vocabulary's own OpenML mapping, the stored form matches too
    stored, _ = meta_features_from_openml(recorded, "multiclass")
    for name in (
        "n_instances",
        "n_features",
        "n_classes",
        "n_missing_values",
        "majority_class_ratio",
    ):
        assert features[name] == pytest.approx(stored[name]), name


def test_names_are_the_vocabulary_and_reruns_are_identical() -> None:
    frame = load_breast_cancer(as_frame=True).frame
    first, problem = compute_meta_features(frame, "target")
    second, _ = compute_meta_features(frame.copy(), "target")
    assert first == second
    assert problem == "binary"
    assert set(first) <= set(META_FEATURES_BY_NAME)
    assert first["n_instances"] == 569 and first["n_features"] == 30
    assert first["class_entropy"] == pytest.approx(0.9526, abs=1e-4)
    assert first["majority_class_size"] == 357 and first["minority_class_size"] == 212


def test_regression_target_has_no_classes() -> None:
    features, problem = compute_meta_features(load_diabetes(as_frame=True).frame, "target")
    assert problem == "regression"
    assert features["n_classes"] == 0
    assert "majority_class_size" not in features and "class_entropy" not in features


def test_problem_type_inference() -> None:
    assert infer_problem_type(pd.Series([0, 1, 1, 0])) == "binary"
    assert infer_problem_type(pd.Series(["a", "b", "c"])) == "multiclass"
    assert infer_problem_type(pd.Series(np.linspace(0, 1, 50))) == "regression"
    assert infer_problem_type(pd.Series(np.arange(100) % 30)) == "regression"


@pytest.mark.parametrize(
    ("frame", "target", "message"),
    [
        (pd.DataFrame({"x": [], "y": []}), "y", "no rows"),
        (pd.DataFrame({"x": [1.0, 2.0], "y": [1, 1]}), "y", "at least two distinct values"),
        (pd.DataFrame({"x": [1.0, 2.0], "y": [None, None]}), "y", "every row is missing"),
        (pd.DataFrame({"x": [1.0, 2.0]}), "y", "is not in the data"),
        (pd.DataFrame({"y": [0, 1]}), "y", "only the target column"),
    ],
)
def test_bad_frames_get_clear_errors(frame: pd.DataFrame, target: str, message: str) -> None:
    with pytest.raises(DataError, match=message) as info:
        compute_meta_features(frame, target)
    assert isinstance(info.value, ValueError) and isinstance(info.value, MileageError)


def test_pymfe_groups_need_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymfe", None)
    monkeypatch.setitem(sys.modules, "pymfe.mfe", None)
    frame = load_breast_cancer(as_frame=True).frame
    with pytest.raises(ImportError, match=r"mileage\[metafeatures\]"):
        compute_meta_features(frame, "target", pymfe_groups=["general"])


def test_meta_features_from_json() -> None:
    features, problem = meta_features_from_json(
        {
            "NumberOfInstances": 1000,
            "NumberOfFeatures": 11,
            "NumberOfClasses": 2,
            "problem_type": "binary",
        }
    )
    assert problem == "binary"
    assert features["n_features"] == 10  # OpenML counts the target
    assert features["log_n_instances"] == pytest.approx(np.log(1000))
    assert "n_missing_values" not in features  # missing qualities stay unknown
    unknown, _ = meta_features_from_json(
        {
            "NumberOfInstances": float("nan"),
            "NumberOfClasses": None,
            "NumberOfFeatures": 11,
            "problem_type": "regression",
        }
    )
    assert "n_instances" not in unknown and "n_classes" not in unknown  # unknown, not an error
    assert unknown["n_features"] == 10
    with pytest.raises(DataError, match="'NumberOfInstances' is inf"):
        meta_features_from_json({"NumberOfInstances": float("inf"), "problem_type": "binary"})
    with pytest.raises(DataError, match="problem_type"):
        meta_features_from_json({"NumberOfInstances": 10})
    with pytest.raises(DataError, match="finite number"):
        meta_features_from_json({"NumberOfInstances": "many", "problem_type": "binary"})


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("NumberOfInstances", -5, "'NumberOfInstances' is -5; it is a count"),
        ("NumberOfFeatures", -1, "'NumberOfFeatures' is -1; it is a count"),
        ("NumberOfClasses", -2, "'NumberOfClasses' is -2; it is a count"),
        ("MajorityClassSize", -0.5, "'MajorityClassSize' is -0.5; it is a count"),
        (
            "PercentageOfMissingValues",
            120,
            "'PercentageOfMissingValues' is 120; it is a percentage",
        ),
        ("DatasetRatio", -0.1, "'DatasetRatio' is -0.1; it is a ratio"),
    ],
)
def test_negative_meta_feature_counts_are_refused(
    tmp_path: Path, key: str, value: float, says: str
) -> None:
    from typer.testing import CliRunner

    from mileage.cli import app

    document = {
        "NumberOfInstances": 100,
        "NumberOfClasses": 2,
        key: value,
        "problem_type": "binary",
    }
    with pytest.raises(DataError, match=re.escape(says)):
        meta_features_from_json(document)
    path = tmp_path / "q.json"
    path.write_text(json.dumps(document))
    result = CliRunner().invoke(
        app,
        [
            "--db-url",
            f"sqlite:///{tmp_path / 't.db'}",
            "warmstart",
            "recommend",
            "--meta-features",
            str(path),
        ],
    )
    assert result.exit_code == 1 and says in result.stderr
    assert "Traceback" not in result.output + result.stderr and len(result.stderr.splitlines()) == 1
    # A log is anything finite: LogDatasetRatio < 0 is a dataset with more rows than columns.
    features, _ = meta_features_from_json({"LogDatasetRatio": -3.2, "problem_type": "binary"})
    assert all(v == v for v in features.values())


def test_negative_meta_feature_counts_are_refused_by_the_python_api() -> None:
    from mileage.metalearner.warmstart import load_default, recommend

    loaded = load_default()
    for features, says in (
        ({"n_instances": -5.0, "n_classes": 2.0}, "n_instances=-5"),
        ({"n_instances": 100.0, "n_classes": -2.0}, "n_classes=-2"),
        ({"n_instances": 100.0, "minority_class_size": -1}, "minority_class_size=-1"),
        ({"n_instances": 100.0, "missing_values_ratio": -0.25}, "missing_values_ratio=-0.25"),
    ):
        with pytest.raises(DataError, match=re.escape(says) + ".*must be 0 or more"):
            recommend(loaded, features, "binary", k=3)
    assert len(recommend(loaded, {"n_instances": 0.0, "n_classes": 2.0}, "binary", k=3)) == 3
