"""The XML parsers on the real recorded documents, intact and mutated."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mileage.collectors.openml import _parse as p
from mileage.platform.errors import DataError
from mileage.testing.openml import RecordedOpenml

RECORDED: dict[str, tuple[str, Callable[[str], Any]]] = {
    "run/1": ("run", p.parse_run),
    "flow/4024": ("flow", p.parse_flow),
    "flow/6742": ("flow", p.parse_flow),
    "setup/1": ("setup", p.parse_setup),
    "task/1882": ("task", p.parse_task),
    "data/2": ("dataset", p.parse_dataset),
    "data/-1": ("dataset", p.parse_dataset),
    "data/61": ("dataset", p.parse_dataset),
    "data/qualities/2": ("qualities", p.parse_qualities),
    "evaluation/list/run/12": ("evaluations", p.parse_evaluation_list),
    "setup/list/flow/5873": ("setups", p.parse_setup_list),
    "flow/list/uploader/1": ("flows", p.parse_flow_list),
    "user/list/user_id/1": ("users", p.parse_user_list),
}


@pytest.fixture(scope="module")
def documents(openml_responses: Path) -> dict[str, str]:
    recorded = RecordedOpenml(openml_responses)
    out = {}
    for call in RECORDED:
        body = recorded.answer(call)
        assert body is not None, f"the recordings no longer answer {call}"
        out[call] = body.decode("utf-8")
    return out


def test_run_description_keeps_parameters_and_every_fold(documents: dict[str, str]) -> None:
    run = p.parse_run(documents["run/1"])
    assert (run.run_id, run.task_id, run.flow_id, run.setup_id) == (100, 28, 67, 12)
    assert (run.uploader, run.uploader_name, run.dataset_id) == (1, "Jan van Rijn", 28)
    assert [(s.name, s.value) for s in run.parameters] == [
        ("D", "true"),
        ("Q", "weka.classifiers.bayes.net.search.local.K2"),
        ("P", "1"),
        ("S", "BAYES"),
    ]
    assert run.evaluations["area_under_roc_curve"] == 0.990288
    folds = run.fold_evaluations["area_under_roc_curve"]
    assert sorted(folds) == [(0, f) for f in range(10)]
    assert len(run.fold_evaluations) == 18 and run.problems == []
    assert run.arrays["area_under_roc_curve"].startswith("[0.99724,")


def test_flow_components_nest(documents: dict[str, str]) -> None:
    flow = p.parse_flow(documents["flow/4024"])
    assert [(path, f.flow_id, f.full_name) for path, f in flow.walk()] == [
        ("", 4024, "weka.FilteredClassifier(1)"),
        ("W", 4025, "weka.MultiSearch(1)"),
        ("W/X", 4026, "weka.LogitBoost(1)"),
        ("W/X/Y", 1724, "weka.REPTree(1)"),
    ]
    assert flow.parameters["F"] == "weka.filters.supervised.instance.Resample"
    assert p.parse_flow(documents["flow/6742"]).components[0][1].components[0][0] == "E"


def test_setup_task_dataset_and_lists(documents: dict[str, str]) -> None:
    setup = p.parse_setup(documents["setup/1"])
    assert (setup.setup_id, setup.flow_id) == (100, 60)
    assert [(q.name, q.value, q.default_value) for q in setup.parameters] == [
        ("C", "0.9", "0.25"),
        ("M", "2", "2"),
    ]
    task = p.parse_task(documents["task/1882"])
    assert (task.dataset_id, task.target, task.measures) == (2, "class", ["predictive_accuracy"])
    assert task.estimation["number_repeats"] == "10" and task.estimation["number_folds"] == "10"
    assert p.parse_dataset(documents["data/-1"]).name == "dexter"
    qualities = p.parse_qualities(documents["data/qualities/2"])
    assert len(qualities) == 106 and qualities["NumberOfInstances"] == 898
    (entry,) = p.parse_evaluation_list(documents["evaluation/list/run/12"])
    assert (entry.run_id, entry.value, entry.upload_time) == (12, 0.9876, "2014-10-06T23:38:13")
    assert [s.setup_id for s in p.parse_setup_list(documents["setup/list/flow/5873"])] == [
        1001,
        1002,
    ]
    assert [f.flow_id for f in p.parse_flow_list(documents["flow/list/uploader/1"])] == [100]
    assert p.parse_user_list(documents["user/list/user_id/1"]) == {1: "MockUser"}


def test_error_documents_and_wrong_roots(openml_responses: Path) -> None:
    error = p.parse_error(
        (openml_responses / "mock_responses/runs/run_delete_not_exist.xml").read_bytes()
    )
    assert error is not None and (error.code, error.message) == (392, "Run does not exist")
    assert p.parse_error(b"<html>502 Bad Gateway</html>") is None
    with pytest.raises(DataError, match="expected an <oml:flow>"):
        p.parse_flow(b'<oml:run xmlns:oml="http://openml.org/openml"/>')
    with pytest.raises(DataError, match="run_id> must be an integer, got 'abc'"):
        p.parse_run(
            "<oml:run xmlns:oml='http://openml.org/openml'><oml:run_id>abc</oml:run_id></oml:run>"
        )
    with pytest.raises(DataError, match="not UTF-8"):
        p.parse_task(b"<oml:task>\xff\xfe</oml:task>")


def test_unreadable_measures_are_left_out_and_reported(documents: dict[str, str]) -> None:
    text = documents["run/1"].replace(
        "<oml:value>0.990288</oml:value>", "<oml:value>n/a</oml:value>", 1
    )
    run = p.parse_run(text)
    assert "area_under_roc_curve" not in run.evaluations
    assert run.problems == [
        "measure 'area_under_roc_curve': unreadable value or fold 'n/a' was left out"
    ]
    assert run.fold_evaluations["area_under_roc_curve"][(0, 0)] == 0.993338


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """A recorded document cut, spliced, or with a stretch replaced by arbitrary text."""
    n = len(text)
    a = draw(st.integers(0, n))
    b = draw(st.integers(a, min(n, a + 400)))
    op = draw(st.sampled_from(["truncate", "delete", "insert", "replace", "duplicate"]))
    junk = draw(st.text(max_size=40))
    if op == "truncate":
        return text[:a]
    if op == "delete":
        return text[:a] + text[b:]
    if op == "insert":
        return text[:a] + junk + text[a:]
    if op == "replace":
        return text[:a] + junk + text[b:]
    return text[:b] + text[a:b] + text[b:]


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_recordings_parse_or_raise_data_error(
    documents: dict[str, str], data: st.DataObject
) -> None:
    call = data.draw(st.sampled_from(sorted(RECORDED)))
    _, parser = RECORDED[call]
    text = data.draw(mutated(documents[call]))
    try:
        record = parser(text)
    except DataError as exc:
        assert str(exc)  # a message naming the document
        return
    assert record is not None


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_parsed_runs_from_mutations_stay_typed(
    documents: dict[str, str], data: st.DataObject
) -> None:
    text = data.draw(mutated(documents["run/1"]))
    try:
        run = p.parse_run(text)
    except DataError:
        return
    assert isinstance(run.run_id, int) and isinstance(run.task_id, int)
    for values in run.fold_evaluations.values():
        assert all(isinstance(k[0], int) and isinstance(k[1], int) for k in values)
        assert all(isinstance(v, float) for v in values.values())
    assert all(isinstance(v, float) for v in run.evaluations.values())
    assert all(isinstance(s.name, str) and isinstance(s.value, str) for s in run.parameters)
