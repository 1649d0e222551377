"""The ``mileage`` evaluator inside ``mlflow.models.evaluate`` on a real MLflow store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mileage.testing import MlflowServer


@pytest.fixture
def tracking(tmp_path: Path) -> Iterator[str]:
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


def _data() -> tuple[Any, Any]:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.sample(frac=1.0, random_state=0)
    return frame.iloc[:380].reset_index(drop=True), frame.iloc[380:].reset_index(drop=True)


def _evaluate(
    train: Any, test: Any, *, default_reference: bool = False, **config: Any
) -> tuple[Any, str]:
    import mlflow
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with mlflow.start_run() as run:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        model.fit(train.drop(columns="target"), train.target)
        logged = mlflow.sklearn.log_model(model, name="model")
        result = mlflow.models.evaluate(
            logged.model_uri,
            test,
            targets="target",
            model_type="classifier",
            evaluators=["mileage"],
            evaluator_config={
                "mileage": config if default_reference else {"reference": train, **config}
            },
        )
    return result, run.info.run_id


@pytest.mark.slow
def test_clean_evaluation_logs_metrics_and_artefacts(tracking: str) -> None:
    from mlflow import MlflowClient

    train, test = _data()
    result, run_id = _evaluate(train, test)
    assert result.metrics["mileage_findings_blocking"] == 0
    assert result.metrics["mileage_drifted_columns"] == 0
    run = MlflowClient().get_run(run_id)
    assert run.data.metrics["mileage_findings_blocking"] == 0
    paths = {a.path for a in MlflowClient().list_artifacts(run_id, "mileage")}
    assert paths == {"mileage/mileage_findings.json", "mileage/mileage_findings.html"}


@pytest.mark.slow
def test_a_broken_column_is_found_and_blocks_only_when_asked(tracking: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from mileage.plugin import EvaluationBlockedError

    train, test = _data()
    broken = test.copy()
    broken["mean radius"] = broken["mean radius"] * 1000
    result, run_id = _evaluate(train, broken)
    assert result.metrics["mileage_findings_blocking"] >= 1
    local = MlflowClient().download_artifacts(
        run_id, "mileage/mileage_findings.json", str(tmp_path)
    )
    findings = json.loads(Path(local).read_text())["findings"]
    assert any(f["column"] == "mean radius" and f["severity"] == "blocking" for f in findings)
    with pytest.raises(EvaluationBlockedError, match="mean radius"):
        _evaluate(train, broken, block_on="blocking")


@pytest.mark.slow
def test_the_reference_defaults_to_the_runs_training_data(tracking: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    train, test = _data()
    broken = test.copy()
    broken["mean radius"] = broken["mean radius"] * 1000
    # The pipeline fitted in the run is what the plugin saw: the reference without being told.
    result, run_id = _evaluate(train, broken, default_reference=True)
    assert result.metrics["mileage_findings_blocking"] >= 1
    page = Path(
        MlflowClient().download_artifacts(run_id, "mileage/mileage_findings.html", str(tmp_path))
    ).read_text()
    assert page.count("<tr style=") == train.shape[1]  # one row per feature and the prediction
    assert "mean radius" in page and "blocking" in page
    # Evidently's data-drift report, embedded whole: its own page in the frame's srcdoc.
    frame = page.split("<iframe class='evidently-report'", 1)[1]
    assert 'srcdoc="' in frame and "&lt;!DOCTYPE html&gt;" in frame
    assert "Dataset Drift" in frame  # a heading of the report
    assert "mean radius" in frame.split("</iframe>", 1)[0]


@pytest.mark.slow
def test_the_evidently_report_can_be_left_out(tracking: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    train, test = _data()
    _, run_id = _evaluate(train, test, evidently_report=False)
    page = Path(
        MlflowClient().download_artifacts(run_id, "mileage/mileage_findings.html", str(tmp_path))
    ).read_text()
    assert "<iframe" not in page
    assert (
        "Evidently report: left out (evaluator_config &#x27;evidently_report&#x27;: False)" in page
    )
    assert page.count("<tr style=") == train.shape[1]  # the column table is there all the same


def test_without_evidently_the_page_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    import pandas as pd

    from mileage.plugin import _evaluator

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "evidently" else real(name, *a),
    )
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    page = _evaluator._html({}, [], [], _evaluator._evidently_page(frame, frame, 1000))
    assert "<iframe" not in page
    assert "pip install &#x27;mileage[monitors]&#x27;" in page


@pytest.mark.slow
def test_the_reference_is_read_from_a_loadable_training_input(
    tracking: str, tmp_path: Path
) -> None:
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    train, test = _data()
    path = tmp_path / "train.parquet"
    features = train.drop(columns="target")
    features.to_parquet(path)
    with mlflow.start_run() as run:  # no fit in this process: the input's source is read
        mlflow.log_input(from_pandas(features, source=str(path)), context="train")
        result = mlflow.models.evaluate(
            data=test.assign(pred=0),
            targets="target",
            predictions="pred",
            model_type="classifier",
            evaluators=["mileage"],
        )
    assert result.metrics["mileage_findings_blocking"] == 0
    assert mlflow.get_run(run.info.run_id).data.metrics["mileage_drifted_columns"] == 0


@pytest.mark.slow
def test_missing_reference_and_bad_options_are_usage_errors(tracking: str) -> None:
    from mileage.platform.errors import ConfigError

    train, test = _data()
    import mlflow

    with mlflow.start_run(), pytest.raises(ConfigError, match="needs the training reference"):
        mlflow.models.evaluate(
            data=test.assign(pred=0),
            targets="target",
            predictions="pred",
            model_type="classifier",
            evaluators=["mileage"],
            evaluator_config={"mileage": {}},
        )
    with pytest.raises(ConfigError, match="block_on"):
        _evaluate(train, test, block_on="sometimes")


@pytest.mark.slow
def test_evaluator_through_a_tracking_server(tmp_path: Path) -> None:
    import mlflow
    from mlflow import MlflowClient

    with MlflowServer(f"sqlite:///{tmp_path / 'srv.db'}", tmp_path / "artifacts") as server:
        mlflow.set_tracking_uri(server.url)
        try:
            train, test = _data()
            result, run_id = _evaluate(train, test)
            assert "mileage_drifted_columns_ratio" in MlflowClient().get_run(run_id).data.metrics
            assert result.metrics["mileage_findings_blocking"] == 0
        finally:
            mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
