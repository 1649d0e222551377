"""``pip install mileage`` with no extra, in a fresh virtual environment: a LightGBM training
with MLflow autologging and the plugin on keeps every autologging entry and gets the plugin's
tags and dataset input.

The environment (the package's own dependencies, resolved from the registry as a user's installer
would) is made once under the test cache (mileage.testing.venvs), in a folder keyed by the
interpreter and the dependency list; the package itself is reinstalled from this tree, without
its dependencies, on every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from mileage.platform.extras import EXTRA_OF_MODULE
from mileage.testing.venvs import cached_venv, install

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import mlflow, numpy as np, pandas as pd, lightgbm as lgb
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(sys.argv[1])
    mlflow.lightgbm.autolog()
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(800, 4)), columns=list("abcd"))
    y = (X.a > 0).astype(int)
    with mlflow.start_run() as run:
        lgb.train({"objective": "binary", "num_leaves": 7, "num_threads": 1, "verbose": -1},
                  lgb.Dataset(X, y), num_boost_round=6,
                  valid_sets=[lgb.Dataset(X[:200], y[:200])], valid_names=["valid"])
    r = MlflowClient().get_run(run.info.run_id)
    print(json.dumps({
        "params": r.data.params, "metrics": r.data.metrics, "tags": r.data.tags,
        "inputs": sorted([i.dataset.name, i.dataset.digest] for i in r.inputs.dataset_inputs),
        "artefacts": sorted(a.path for a in MlflowClient().list_artifacts(run.info.run_id)),
    }))
    """
)


def _environment() -> Path:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    key = hashlib.sha256(json.dumps(project["dependencies"]).encode()).hexdigest()[:12]
    name = f"fresh-install/py{sys.version_info[0]}{sys.version_info[1]}-{key}"
    venv = cached_venv(name, str(ROOT))  # `pip install .`: the dependencies a user's resolve
    install(venv, str(ROOT), reinstall="mileage")  # this tree's code, as it is now
    return venv


def _train(venv: Path, workdir: Path, plugin: str) -> dict[str, dict[str, object]]:
    """One run of the training script; both runs share one store (one schema migration)."""
    (workdir / "train.py").write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [str(venv / "bin" / "python"), "train.py", f"sqlite:///{workdir / 'mlflow.db'}"],
        cwd=workdir,
        env={
            **env,
            "MILEAGE_PLUGIN_ENABLED": plugin,
            # Inferring the logged model's pip requirements starts a Python process; on timeout
            # MLflow falls back to the flavour's default requirements, the same off and on.
            "MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT": "1",
        },
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    recorded: dict[str, dict[str, object]] = json.loads(result.stdout.strip().splitlines()[-1])
    return recorded


@pytest.mark.slow
def test_a_plain_install_keeps_autologging_and_adds_the_plugin(tmp_path: Path) -> None:
    venv = _environment()
    extras = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.util, sys; "
            "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m)))",
            *EXTRA_OF_MODULE,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert extras.stdout.split() == [], (
        f"the plain install brought extras' libraries: {extras.stdout}"
    )
    without, with_ = _train(venv, tmp_path, "0"), _train(venv, tmp_path, "1")
    assert without["params"] and without["metrics"] and without["artefacts"]
    assert without["params"].items() <= with_["params"].items()
    assert without["metrics"].keys() <= with_["metrics"].keys()
    assert without["tags"].keys() <= with_["tags"].keys()
    assert set(map(tuple, without["inputs"])) <= set(map(tuple, with_["inputs"]))
    assert set(without["artefacts"]) <= set(with_["artefacts"])
    assert "mileage.env.fingerprint" in with_["tags"]
    assert with_["params"]["lightgbm.num_leaves"] == "7"
