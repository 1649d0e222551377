"""``pip install mileage`` with no extra, in a fresh virtual environment: a LightGBM training
with MLflow autologging and the plugin on keeps every autologging entry and gets the plugin's
tags and dataset input.

The environment (the package's own dependencies, resolved from the registry) is made once under
a cache folder keyed by the dependency list; the package itself is reinstalled from this tree on
every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

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

#: Builds virtual environments from the package registries (minutes each on 2 cores): run with
#: MILEAGE_LONG_TESTS=1 (as a release check) until its cost fits the CI budget.
long_test = pytest.mark.skipif(
    os.environ.get("MILEAGE_LONG_TESTS") != "1",
    reason="builds environments from the registries; set MILEAGE_LONG_TESTS=1 to run it",
)


def _environment() -> Path:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    key = hashlib.sha256(json.dumps(project["dependencies"]).encode()).hexdigest()[:12]
    root = Path(os.environ.get("MILEAGE_TEST_CACHE", Path.home() / ".cache" / "mileage-tests"))
    folder = root / "fresh-install" / f"py{sys.version_info[0]}{sys.version_info[1]}-{key}"
    if not (folder / "bin" / "python").exists():
        building = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(building, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(building)], check=True, timeout=300)
        _pip(building, str(ROOT))  # the dependencies, resolved as a user's pip would
        building.rename(folder)
    _pip(folder, "--no-deps", "--force-reinstall", str(ROOT))  # this tree's code
    return folder


def _pip(venv: Path, *args: str) -> None:
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _train(venv: Path, workdir: Path, plugin: str) -> dict[str, dict[str, object]]:
    workdir.mkdir()
    (workdir / "train.py").write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [str(venv / "bin" / "python"), "train.py", f"sqlite:///{workdir / 'mlflow.db'}"],
        cwd=workdir,
        env={**env, "MILEAGE_PLUGIN_ENABLED": plugin},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    recorded: dict[str, dict[str, object]] = json.loads(result.stdout.strip().splitlines()[-1])
    return recorded


@long_test
@pytest.mark.slow
def test_a_plain_install_keeps_autologging_and_adds_the_plugin(tmp_path: Path) -> None:
    venv = _environment()
    check = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import great_expectations"],
        capture_output=True,
        check=False,
    )
    assert check.returncode != 0, "the plain install brought an extra's library"
    without, with_ = _train(venv, tmp_path / "off", "0"), _train(venv, tmp_path / "on", "1")
    assert without["params"] and without["metrics"] and without["artefacts"]
    assert without["params"].items() <= with_["params"].items()
    assert without["metrics"].keys() <= with_["metrics"].keys()
    assert without["tags"].keys() <= with_["tags"].keys()
    assert set(map(tuple, without["inputs"])) <= set(map(tuple, with_["inputs"]))
    assert set(without["artefacts"]) <= set(with_["artefacts"])
    assert "mileage.env.fingerprint" in with_["tags"]
    assert with_["params"]["lightgbm.num_leaves"] == "7"
