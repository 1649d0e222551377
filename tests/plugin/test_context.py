"""The MLflow plugin against real MLflow (a SQLite store and a tracking server on loopback),
driven by an unmodified training script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from mileage.testing import MlflowServer

SCRIPT = textwrap.dedent(
    """
    import numpy as np, pandas as pd, mlflow, lightgbm as lgb
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(5000, 6)), columns=[f"f{i}" for i in range(6)])
    y = (X.f0 + rng.normal(scale=0.5, size=5000) > 0).astype(int)
    mlflow.set_experiment("plugin-test")
    with mlflow.start_run(run_name="ok"):
        Pipeline([("scale", StandardScaler()), ("clf", lgb.LGBMClassifier(n_estimators=15, verbose=-1))]).fit(
            X, y, clf__eval_X=(X[:500],), clf__eval_y=(y[:500],)
        )
    try:
        with mlflow.start_run(run_name="broken"):
            mlflow.log_param("depth", 3)
            mlflow.log_metric("loss", 0.25)
            raise ValueError("loss diverged")
    except ValueError:
        pass
    """
)


def _git_repo(path: Path) -> None:
    for cmd in (
        ["git", "init", "-q"],
        ["git", "add", "train.py"],
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "train"],
    ):
        subprocess.run(cmd, cwd=path, check=True, capture_output=True)


def _run_script(workdir: Path, tracking_uri: str, **env: str) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "train.py").write_text(SCRIPT)
    _git_repo(workdir)
    result = subprocess.run(
        [sys.executable, "train.py"],
        cwd=workdir,
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def _runs(tracking_uri: str) -> dict[str, Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name("plugin-test")
    assert exp is not None
    return {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}


def _check_runs(tracking_uri: str, workdir: Path) -> None:
    from mlflow import MlflowClient

    runs = _runs(tracking_uri)
    ok, broken = runs["ok"], runs["broken"]
    tags = ok.data.tags
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=workdir, capture_output=True, text=True, check=True
    ).stdout.strip()
    # MLflow records the commit; the plugin adds only whether the tree matched it.
    assert tags["mlflow.source.git.commit"] == commit and tags["mileage.code.dirty"] == "false"
    assert "mileage.code.commit" not in tags
    assert json.loads(tags["mileage.env.packages"])["lightgbm"]
    assert tags["mileage.env.python"] == sys.version.split()[0]
    # The training data is the run's MLflow dataset input, digested by its fingerprint.
    (training,) = ok.inputs.dataset_inputs if ok.inputs else []
    assert training.dataset.name == "training_data"
    assert {t.key: t.value for t in training.tags}["mlflow.data.context"] == "train"
    assert json.loads(training.dataset.profile)["num_rows"] == 5000
    assert len(json.loads(training.dataset.schema)["mlflow_colspec"]) == 6
    assert json.loads(training.dataset.source)["tags"]["mlflow.source.git.commit"] == commit
    assert not any(k.startswith("mileage.data.") for k in tags)
    operators = json.loads(tags["mileage.pipeline"])
    assert [o["name"] for o in operators] == ["scale", "clf"] and operators[1][
        "kind"
    ] == "LGBMClassifier"
    assert ok.data.params["lightgbm.learning_rate"] == "0.1"
    assert ok.data.metrics["lightgbm.num_trees"] == 15
    history = MlflowClient(tracking_uri=tracking_uri).get_metric_history(
        ok.info.run_id, "lightgbm.valid_0.binary_logloss"
    )
    assert [m.step for m in history] == list(range(1, 16))
    assert broken.info.status == "FAILED"
    summary = broken.data.tags["mileage.failure.summary"]
    assert "ValueError: loss diverged" in summary and "loss=0.25" in summary
    assert json.loads(broken.data.tags["mileage.failure.changed_params"])["depth"] == [None, "3"]


@pytest.mark.slow
def test_unmodified_script_is_tagged_on_a_sqlite_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _run_script(tmp_path / "project", uri)
    _check_runs(uri, tmp_path / "project")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    folder = tmp_path_factory.mktemp("plugin-server")
    with MlflowServer(f"sqlite:///{folder / 'mlflow.db'}", folder / "artifacts") as srv:
        yield srv


@pytest.mark.slow
def test_unmodified_script_is_tagged_through_a_tracking_server(
    tmp_path: Path, server: MlflowServer
) -> None:
    _run_script(tmp_path / "project", server.url)
    _check_runs(server.url, tmp_path / "project")


@pytest.mark.slow
def test_the_plugin_can_be_turned_off(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _run_script(tmp_path / "project", uri, MILEAGE_PLUGIN_ENABLED="0")
    runs = _runs(uri)
    assert not any(k.startswith("mileage.") for k in runs["ok"].data.tags)


def test_a_broken_provider_never_breaks_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from mileage.plugin import _context, _hooks

    def boom() -> dict[str, str]:
        raise OSError("package metadata unreadable")

    monkeypatch.setattr(_context, "environment_tags", boom)
    monkeypatch.setattr(_hooks, "_warned", set())
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with mlflow.start_run() as run:
                mlflow.log_metric("m", 1.0)
        finished = mlflow.get_run(run.info.run_id)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    assert finished.info.status == "FINISHED" and finished.data.metrics == {"m": 1.0}
    assert not any(k.startswith("mileage.env") for k in finished.data.tags)
    messages = [
        str(w.message) for w in caught if issubclass(w.category, _hooks.MileagePluginWarning)
    ]
    assert any(
        "package metadata unreadable" in m and "MILEAGE_PLUGIN_ENABLED=0" in m for m in messages
    )


def test_entry_points_are_declared() -> None:
    providers = {e.name: e.value for e in entry_points(group="mlflow.run_context_provider")}
    assert providers["mileage"] == "mileage.plugin._context:MileageRunContextProvider"
    evaluators = {e.name: e.value for e in entry_points(group="mlflow.model_evaluator")}
    assert evaluators["mileage"] == "mileage.plugin._evaluator:MileageEvaluator"
    from mlflow.models import list_evaluators

    assert "mileage" in list_evaluators()


def test_data_fingerprint_is_content_and_schema_sensitive() -> None:
    import numpy as np
    import pandas as pd

    from mileage.plugin._fingerprints import data_fingerprint

    def digest(data: object) -> str:
        found = data_fingerprint(data)
        assert found is not None
        return found.digest

    frame = pd.DataFrame({"a": np.arange(50_000), "b": np.linspace(0, 1, 50_000)})
    base = digest(frame)
    assert digest(frame.copy()) == base and len(base) <= 36  # MLflow's dataset digest limit
    changed = frame.copy()
    changed.loc[0, "b"] = 99.0
    assert digest(changed) != base
    retyped = data_fingerprint(frame.astype({"a": "float64"}))
    assert retyped is not None and retyped.schema_sha256 != base.split("-")[0]
    as_array = data_fingerprint(frame.to_numpy())
    assert as_array is not None and (as_array.rows, as_array.columns) == (50_000, 2)
    assert data_fingerprint("not data") is None
