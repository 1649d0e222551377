"""The next-change model tells modelling choices from bookkeeping: results logged as
parameters, output paths, seeds, timestamps and command lines are never ranked."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mileage.collectors.mlflow import MlflowCollector
from mileage.metalearner.nextstep import (
    MajorityBaseline,
    NextChangePredictor,
    bookkeeping_units,
    load_chains,
    modelling_only,
)
from mileage.metalearner.nextstep._bookkeeping import by_name, by_values
from mileage.platform.store import TraceStore


@pytest.fixture(scope="module")
def chains_with_bookkeeping(tmp_path_factory: pytest.TempPathFactory) -> list:
    """The real agnias47 Optuna history, each run also logging its accuracy as a parameter
    (``val_mape``: a result) and its output folder (``gn_output_dirname``), as the foreign
    stores where the model ranked those two first did."""
    from mileage.testing import require_shared_data

    root = tmp_path_factory.mktemp("bookkeeping") / "mlruns"
    shutil.copytree(require_shared_data("mlflow-history-agnias47", "mlruns"), root)
    for metric in root.glob("*/*/metrics/accuracy"):
        run = metric.parent.parent
        last = metric.read_text().strip().splitlines()[-1].split()[1]
        (run / "params" / "val_mape").write_text(last)
        (run / "params" / "gn_output_dirname").write_text(f"outputs/gn/{run.name}")
    store = TraceStore.open(f"sqlite:///{root.parent / 'store.db'}")
    try:
        MlflowCollector(str(root)).collect(store)
        return load_chains(store)
    finally:
        store.close()


def test_next_change_model_ranks_bookkeeping_params_first_no_more(
    chains_with_bookkeeping: list,
) -> None:
    chains = chains_with_bookkeeping
    assert len(chains) == 4
    found = bookkeeping_units(chains)
    assert found == {"val_mape": "result", "gn_output_dirname": "path"}
    # the case: without the filter, bookkeeping changes at every run and comes out on top
    naive = MajorityBaseline().fit(chains[1:])
    scores = naive.predict_proba_next(chains[0])
    assert scores["gn_output_dirname"] == max(scores.values())  # changes at every run
    model = NextChangePredictor(complexity="small").fit(chains[1:])
    assert model.bookkeeping_ == found
    for chain in chains:
        ranking = [u for u, _ in model.rank(chain.prefix(5))]
        assert ranking and not set(ranking) & set(found)
        assert set(ranking) <= {"gamma", "input_layer", "lr", "optimizer"}
    stripped = modelling_only(chains)
    assert all(
        "val_mape" not in s.units and not s.changed & set(found) for c in stripped for s in c.steps
    )


def test_model_saved_and_loaded_keeps_its_bookkeeping(
    chains_with_bookkeeping: list, tmp_path: Path
) -> None:
    model = NextChangePredictor(complexity="small").fit(chains_with_bookkeeping)
    loaded = NextChangePredictor.load(model.save(tmp_path / "model"))
    assert loaded.bookkeeping_ == model.bookkeeping_
    assert loaded.rank(chains_with_bookkeeping[0]) == model.rank(chains_with_bookkeeping[0])


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("val_mape", "result"),
        ("test_auc", "result"),
        ("gn_output_dirname", "path"),
        ("checkpoint_dir", "path"),
        ("seed", "seed"),
        ("random_state", "seed"),
        ("n_jobs", "execution"),
        ("verbose_eval", "execution"),
        ("created_at", "timestamp"),
        ("cmd-sys.argv", "identifier"),
        ("git_commit", "identifier"),
    ],
)
def test_bookkeeping_names(name: str, reason: str) -> None:
    assert by_name(name) == reason


@pytest.mark.parametrize(
    "name",
    # every parameter of the real stores that is a modelling choice, and near misses
    [
        "lr",
        "gamma",
        "input_layer",
        "optimizer",
        "learning_rate",
        "max_depth",
        "min_child_weight",
        "reg_alpha",
        "objective",
        "train-data-path",
        "valid-data-path",
        "oob_score",
        "warm_start",
        "loss",
        "eval_metric",
        "time_limit",
        "output_dim",
        "test_size",
    ],
)
def test_modelling_choices_are_kept(name: str) -> None:
    assert by_name(name) is None


def test_bookkeeping_learnt_from_values() -> None:
    assert by_values(["/tmp/run1/out", "/tmp/run2/out"], "where") == "path"
    assert by_values(["2026-11-20T10:00:00", "2026-11-21T09:00:00"], "when") == "timestamp"
    assert by_values(["0.01", "0.1", "1e-3"], "lr") is None
    assert by_values(["../data/train.parquet"], "train-data-path") is None  # a data choice
