"""``mileage warmstart train`` and ``mileage warmstart`` end to end: real data, real store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from typer.testing import CliRunner

from mileage.cli import app
from mileage.testing import require_shared_data


def _run(db: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--db-url", f"sqlite:///{db}", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with TabRepo imported and a model trained, both through the CLI."""
    folder = tmp_path_factory.mktemp("cli-warmstart")
    db = folder / "trace.db"
    code, out, err = _run(db, "train", "warmstart")
    assert code == 1 and "tabrepo-lightgbm" in err  # nothing to learn yet: says how to fix
    path = str(require_shared_data("tabrepo-lightgbm"))
    code, out, err = _run(db, "collect", "metadata", "--source", "tabrepo-lightgbm", "--path", path)
    assert code == 0, err
    code, out, err = _run(db, "warmstart", "train", "--json", "--model-dir", str(folder / "model"))
    assert code == 0, err
    report = json.loads(out)
    assert (report["tasks"], report["configurations"], report["scores"]) == (93, 104, 9672)
    assert {Path(p).name for p in report["output"]} >= {"warmstart.json", "surrogate.txt"}
    return db


@pytest.fixture
def db(trained: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "trace.db"
    shutil.copy2(trained, copy)
    for suffix in ("-wal", "-shm"):
        if Path(str(trained) + suffix).exists():
            shutil.copy2(str(trained) + suffix, str(copy) + suffix)
    return copy


def test_ranks_a_csv_dataset(db: Path, tmp_path: Path) -> None:
    data = tmp_path / "cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(data, index=False)
    code, out, err = _run(db, "warmstart", str(data), "--target", "target", "--k", "4", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["problem_type"] == "binary"
    assert doc["meta_features"]["n_instances"] == 569
    configs = doc["configurations"]
    assert len(configs) == 4 and len({c["name"] for c in configs}) == 4
    assert all(c["name"].startswith("LightGBM_") for c in configs)
    regrets = [c["expected_regret"] for c in configs]
    assert regrets == sorted(regrets, reverse=True) and 0 <= regrets[-1] <= regrets[0] <= 1
    code, human, err = _run(db, "warmstart", str(data), "--target", "target", "--k", "4")
    assert code == 0 and configs[0]["name"] in human and "expected regret" in human


def test_meta_features_file_gives_names_and_params_in_rank_order(
    db: Path, trained: Path, tmp_path: Path
) -> None:
    tabrepo = require_shared_data("tabrepo-lightgbm", "configs_lightgbm_20221004.json")
    known = json.loads(tabrepo.read_text())
    qualities = tmp_path / "q.json"
    qualities.write_text(
        json.dumps(
            {
                "NumberOfInstances": 5000,
                "NumberOfFeatures": 21,
                "NumberOfClasses": 2,
                "problem_type": "binary",
            }
        )
    )
    code, out, err = _run(
        db,
        "warmstart",
        "--meta-features",
        str(qualities),
        "--candidates",
        "tabrepo-lightgbm",
        "--k",
        "5",
        "--json",
    )
    assert code == 0, err
    configs = json.loads(out)["configurations"]
    assert len(configs) == 5
    for c in configs:
        hyper = {k: v for k, v in known[c["name"]]["hyperparameters"].items() if k != "ag_args"}
        assert c["params"] == pytest.approx(hyper)
    # the same through the model folder written by 'warmstart train --model-dir'
    model = trained.parent / "model"
    code, again, err = _run(
        db,
        "warmstart",
        "--meta-features",
        str(qualities),
        "--candidates",
        "tabrepo-lightgbm",
        "--k",
        "5",
        "--json",
        "--model",
        str(model),
    )
    assert code == 0, err
    assert [c["name"] for c in json.loads(again)["configurations"]] == [c["name"] for c in configs]


def test_bad_input_gets_clear_errors(db: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("a,b,target\n")
    code, _, err = _run(db, "warmstart", str(empty), "--target", "target")
    assert code == 1 and "no rows" in err
    constant = tmp_path / "constant.csv"
    pd.DataFrame({"x": np.arange(10.0), "target": 1}).to_csv(constant, index=False)
    code, _, err = _run(db, "warmstart", str(constant), "--target", "target")
    assert code == 1 and "at least two distinct values" in err
    code, _, err = _run(db, "warmstart", str(constant), "--target", "nope")
    assert code == 1 and "'nope' is not in the data" in err
    text = tmp_path / "text.json"
    text.write_text('{"NumberOfInstances": "many", "problem_type": "binary"}')
    code, _, err = _run(db, "warmstart", "--meta-features", str(text))
    assert code == 1 and "'NumberOfInstances' is 'many'" in err
    good = tmp_path / "good.json"
    good.write_text('{"NumberOfInstances": 100, "problem_type": "binary"}')
    code, _, err = _run(db, "warmstart", "--meta-features", str(good), "--candidates", "nope")
    assert code == 2 and "unknown candidate source 'nope'; known: tabrepo-lightgbm" in err
    code, _, err = _run(db, "warmstart", "recommend")
    assert code == 2 and "either DATA.csv" in err
    code, _, err = _run(db, "warmstart")  # the group alone lists its verbs
    assert code == 2 and "recommend" in err and "train" in err


def test_no_model_answers_from_the_embedded_default(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"NumberOfInstances": 100, "problem_type": "regression"}')
    code, out, err = _run(tmp_path / "fresh.db", "warmstart", "--meta-features", str(good))
    assert code == 0, err
    assert "embedded default v1" in out and "mileage warmstart train" in out
