"""Workflows as DAGs: validation, and fingerprints that change exactly when something did."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mileage.metalearner import WorkflowError
from mileage.metalearner.workflow import Operator, Workflow, data_fingerprint, describe


def _double(frame: pd.DataFrame, *, factor: float) -> pd.DataFrame:
    return frame * factor


def _add(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    return a + b


def _workflow(factor: float = 2.0, version: str | None = None) -> Workflow:
    return Workflow(
        [
            Operator.function("double", _double, ["data"], {"factor": factor}, version=version),
            Operator.function("half", _double, ["data"], {"factor": 0.5}),
            Operator.function("sum", _add, ["double", "half"], role="model"),
        ],
        sources=["data"],
        name="toy",
    )


def test_dag_structure() -> None:
    wf = _workflow()
    assert wf.order.index("sum") > max(wf.order.index("double"), wf.order.index("half"))
    assert wf.sinks == ["sum"]
    assert wf.ancestors("sum") == {"double", "half"}
    assert wf.descendants("double") == {"sum"}
    assert wf.depth() == {"double": 0, "half": 0, "sum": 1}


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([("a", ["data"]), ("a", ["data"])], "used twice"),
        ([("a", ["nope"])], "neither an operator nor a source"),
        ([("a", ["b"]), ("b", ["a"])], "cycle"),
        ([("data", ["data"])], "source name"),
    ],
)
def test_malformed_workflows_are_refused(ops: list[tuple[str, list[str]]], message: str) -> None:
    with pytest.raises(WorkflowError, match=message):
        Workflow([Operator.function(n, _add, ins) for n, ins in ops], sources=["data"], name="bad")


def test_fingerprints_change_exactly_with_params_code_inputs_and_data() -> None:
    data = pd.DataFrame({"x": [1.0, 2.0]})
    src = {"data": data_fingerprint(data)}
    base = _workflow().fingerprints(src)
    assert _workflow().fingerprints(src) == base  # rebuilt from scratch: identical
    params = _workflow(factor=3.0).fingerprints(src)
    assert params["double"] != base["double"] and params["sum"] != base["sum"]
    assert params["half"] == base["half"]  # untouched branch keeps its fingerprint
    code = _workflow(version="v2").fingerprints(src)
    assert code["double"] != base["double"] and code["half"] == base["half"]
    changed = pd.DataFrame({"x": [1.0, 2.5]})
    other = _workflow().fingerprints({"data": data_fingerprint(changed)})
    assert all(other[k] != base[k] for k in base)


def test_function_version_follows_the_source() -> None:
    op = Operator.function("double", _double, ["data"], {"factor": 2})
    assert op.kind.endswith("_double") and len(op.version) == 16
    assert op.spec().kind == f"{op.kind}@{op.version}"
    assert op.spec().params == {"factor": 2}


def test_data_fingerprint_sees_values_dtypes_and_index() -> None:
    a = pd.DataFrame({"x": [1, 2]})
    assert data_fingerprint(a) == data_fingerprint(a.copy())
    assert data_fingerprint(a) != data_fingerprint(a.astype(float))
    assert data_fingerprint(a) != data_fingerprint(a.set_axis([5, 6]))
    arr = np.arange(6.0)
    assert data_fingerprint(arr) != data_fingerprint(arr.reshape(2, 3))
    with pytest.raises(WorkflowError, match="cannot fingerprint"):
        data_fingerprint(object())


def test_describe_has_no_memory_addresses() -> None:
    from functools import partial

    from sklearn.feature_selection import f_classif
    from sklearn.linear_model import LogisticRegression

    text = repr(describe({"f": f_classif, "p": partial(f_classif), "e": LogisticRegression()}))
    assert " at 0x" not in text
    assert "f_classif" in text and "LogisticRegression" in text
    assert describe(float("nan")) == "NaN"


def test_with_operator_and_without() -> None:
    wf = _workflow()
    smaller = wf.without("half")
    assert smaller.order == ["double", "sum"]
    assert smaller["sum"].inputs == ("double", "data")
    replaced = wf.with_operator(Operator.function("half", _double, ["data"], {"factor": 0.25}))
    assert replaced["half"].params == {"factor": 0.25}
    with pytest.raises(KeyError, match="no operator"):
        wf["missing"]
