"""scikit-learn pipelines mapped onto workflows compute what scikit-learn computes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mileage.metalearner import WorkflowError
from mileage.metalearner.examples import EXAMPLES
from mileage.metalearner.executor import run
from mileage.metalearner.workflow import from_sklearn


def test_pipeline_with_column_transformer_becomes_a_dag() -> None:
    ex = EXAMPLES["fair"]
    wf = ex.workflow(ex.default_config())
    assert wf.order[0] == "split"
    assert set(wf["pre"].inputs) == {"pre__num__scale", "pre__cat__encode"}
    assert wf["pre__num__impute"].inputs == ("split", "split")
    assert wf.sinks == ["model"]
    assert wf["model"].role == "model" and wf["split"].role == "data"


@pytest.mark.parametrize("sparse", [False, True])
def test_outputs_equal_scikit_learn_on_the_same_split(sparse: bool) -> None:
    ex = EXAMPLES["fair"]
    X, y = ex.load()
    numeric = [c for c in X.columns if c not in ex.categorical]
    pipe = Pipeline(
        [
            (
                "pre",
                ColumnTransformer(
                    [
                        ("num", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
                        (
                            "cat",
                            OneHotEncoder(handle_unknown="ignore", sparse_output=sparse),
                            list(ex.categorical),
                        ),
                    ],
                    sparse_threshold=0.9 if sparse else 0.0,
                ),
            ),
            ("model", LogisticRegression(max_iter=2000)),
        ]
    )
    result = run(from_sklearn(pipe, name="t", random_state=3), (X, y), cache=False, store=False)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=3, stratify=y)
    expected = pipe.fit(X_tr, y_tr)
    assert np.array_equal(result.outputs["model"]["y_pred"], expected.predict(X_te))
    assert result.metrics["score"] == expected.score(X_te, y_te)


@pytest.mark.slow
def test_single_estimator_and_unsupported_remainder() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    wf = from_sklearn(LogisticRegression(max_iter=3000), name="lr")
    assert wf.order == ["split", "logisticregression"]
    result = run(wf, (X, y), cache=False, store=False)
    assert 0.9 < result.metrics["score"] <= 1.0
    ct = ColumnTransformer([("a", StandardScaler(), [0])], remainder="passthrough")
    with pytest.raises(WorkflowError, match="remainder"):
        from_sklearn(make_pipeline(ct, LogisticRegression()))
