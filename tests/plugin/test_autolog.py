"""The plugin never takes away what MLflow autologging records.

The same training script runs with the plugin off and on, for every way of turning autologging
on (none; ``mlflow.autolog()`` before the libraries are imported; the libraries' own
``autolog()`` with no run open, so autologging starts the runs; ``autolog()`` inside a run the
script opened) and every library it patches (LightGBM's two APIs, scikit-learn, XGBoost if
installed). Every param, metric, tag, dataset input, artefact and logged model that MLflow
records without the plugin must be recorded, with the same value, with it.

The eight script runs (four ways x plugin off/on, each training every library) start from one
migrated store and run two at a time: the whole matrix costs about 75 s of CPU, so about 40 s on
two idle cores.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

FRAMEWORKS = ["lightgbm", "lightgbm_sklearn", "sklearn"] + (
    ["xgboost"] if importlib.util.find_spec("xgboost") else []
)
MODES = ["off", "before_import", "managed", "inside_run"]
#: Tags whose values name the run or the moment it was logged, not what was trained.
VOLATILE_TAGS = {"mlflow.runName", "mlflow.log-model.history"}

SCRIPT = textwrap.dedent(
    """
    import sys
    import mlflow

    mode, frameworks = sys.argv[1], sys.argv[2].split(",")
    if mode == "before_import":
        mlflow.autolog()

    import numpy as np, pandas as pd, lightgbm as lgb
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, 4)), columns=["a", "b", "c", "d"])
    y = (X.a + rng.normal(scale=0.5, size=600) > 0).astype(int)
    Xv, yv = X[:150], y[:150]

    def turn_on():
        mlflow.lightgbm.autolog()
        mlflow.sklearn.autolog()
        if "xgboost" in frameworks:
            mlflow.xgboost.autolog()

    def fit(name):
        if name == "lightgbm":
            lgb.train({"objective": "binary", "num_leaves": 7, "num_threads": 1, "verbose": -1},
                      lgb.Dataset(X, y), num_boost_round=8,
                      valid_sets=[lgb.Dataset(Xv, yv)], valid_names=["valid"])
        elif name == "lightgbm_sklearn":
            lgb.LGBMClassifier(n_estimators=8, num_leaves=7, n_jobs=1, verbose=-1).fit(
                X, y, eval_X=(Xv,), eval_y=(yv,))
        elif name == "sklearn":
            Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
        elif name == "xgboost":
            import xgboost as xgb
            xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(X, label=y), num_boost_round=8,
                      evals=[(xgb.DMatrix(Xv, label=yv), "valid")])

    if mode == "managed":
        turn_on()
    for name in frameworks:
        mlflow.set_experiment(name)
        if mode == "managed":
            fit(name)  # autologging opens and closes the run
            continue
        with mlflow.start_run(run_name=name):
            if mode == "inside_run":
                turn_on()
            fit(name)
    """
)


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty MLflow SQLite store, copied for each script run."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("autolog-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def _train(workdir: Path, template: Path, mode: str, plugin: str) -> str:
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(template, workdir / "mlflow.db")
    (workdir / "train.py").write_text(SCRIPT)
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "MILEAGE_PLUGIN_ENABLED": plugin,
        # Inferring a logged model's pip requirements starts a Python process per model and
        # costs minutes on a busy machine; on timeout MLflow falls back to the flavour's
        # default requirements, the same with and without the plugin.
        "MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT": "1",
    }
    result = subprocess.run(
        [sys.executable, "train.py", mode, ",".join(FRAMEWORKS)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return uri


@pytest.fixture(scope="module")
def stores(empty_store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The store of every script run, ``{"<mode>-<plugin>": uri}``, two runs at a time."""
    root = tmp_path_factory.mktemp("autolog-runs")
    jobs = [(mode, plugin) for mode in MODES for plugin in ("0", "1")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        uris = pool.map(lambda job: _train(root / f"{job[0]}-{job[1]}", empty_store, *job), jobs)
        return {f"{mode}-{plugin}": uri for (mode, plugin), uri in zip(jobs, uris)}


def _recorded(uri: str, experiment: str) -> list[dict[str, Any]]:
    """Everything MLflow holds about each run of ``experiment``, oldest run first."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} in {uri}"
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    out = []
    for run in runs:
        run_id = run.info.run_id

        def artefacts(path: str | None = None, run_id: str = run_id) -> set[str]:
            found: set[str] = set()
            for item in client.list_artifacts(run_id, path):
                found |= artefacts(item.path) if item.is_dir else {item.path}
            return found

        models = client.search_logged_models(
            experiment_ids=[exp.experiment_id], filter_string=f"source_run_id = '{run_id}'"
        )
        out.append(
            {
                "status": run.info.status,
                "params": dict(run.data.params),
                "metrics": dict(run.data.metrics),
                "tags": dict(run.data.tags),
                "inputs": {
                    (
                        i.dataset.name,
                        i.dataset.digest,
                        tuple(sorted((t.key, t.value) for t in i.tags)),
                    )
                    for i in (run.inputs.dataset_inputs if run.inputs else [])
                },
                "artefacts": artefacts(),
                "models": {m.name: dict(m.params or {}) for m in models},
            }
        )
    return out


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("mode", MODES)
def test_autologging_records_the_same_with_the_plugin_on(mode: str, stores: dict[str, str]) -> None:
    off_uri, on_uri = stores[f"{mode}-0"], stores[f"{mode}-1"]
    for framework in FRAMEWORKS:
        off, on = _recorded(off_uri, framework), _recorded(on_uri, framework)
        where = f"{framework}, autolog {mode}"
        assert len(off) == len(on) == 1, f"{where}: runs {len(off)} without, {len(on)} with"
        without, with_ = off[0], on[0]
        assert with_["status"] == without["status"] == "FINISHED"
        assert without["params"].items() <= with_["params"].items(), where
        missing = without["metrics"].keys() - with_["metrics"].keys()
        assert not missing, f"{where}: metrics lost with the plugin: {sorted(missing)}"
        for key, value in without["metrics"].items():
            assert with_["metrics"][key] == pytest.approx(value, rel=1e-9), f"{where}: {key}"
        lost_tags = without["tags"].keys() - with_["tags"].keys()
        assert not lost_tags, f"{where}: tags lost with the plugin: {sorted(lost_tags)}"
        for key, value in without["tags"].items():
            if key not in VOLATILE_TAGS:
                assert with_["tags"][key] == value, f"{where}: tag {key}"
        assert without["inputs"] <= with_["inputs"], where
        assert without["artefacts"] <= with_["artefacts"], where
        # A logged model copies the run's params, so it gains the plugin's: compare by subset.
        assert without["models"].keys() == with_["models"].keys(), where
        for name, params in without["models"].items():
            assert params.items() <= with_["models"][name].items(), f"{where}: model {name}"
        if mode != "off":
            assert without["params"] or framework == "sklearn", (
                f"{where}: autologging logged nothing"
            )
            assert without["metrics"], f"{where}: autologging logged no metric"
        # The plugin is there too: the environment on every run, and the LightGBM hook in the
        # runs the script opened itself.
        assert "mileage.env.fingerprint" in with_["tags"], where
        assert not any(k.startswith("mileage.") for k in without["tags"]), where
        if framework.startswith("lightgbm") and mode != "managed":
            assert with_["params"]["lightgbm.num_leaves"] == "7", where
            assert with_["metrics"]["lightgbm.num_trees"] == 8, where
