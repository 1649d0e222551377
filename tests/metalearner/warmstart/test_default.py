"""The embedded default warm-start model: shipped, rebuildable, used only when nothing better is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from sklearn.datasets import load_wine
from typer.testing import CliRunner

from mileage.cli import app
from mileage.cli.warmstart import build_default_files
from mileage.metalearner.warmstart import (
    DEFAULT_DIR,
    DEFAULT_VERSION,
    known_meta_features,
    load_default,
    recommend,
    resolve_warmstart,
)
from mileage.platform.errors import DataError
from mileage.platform.store import TraceStore


@pytest.mark.slow
def test_shipped_artefact_is_what_the_build_makes(tabrepo_dir: Path) -> None:
    files = build_default_files(tabrepo_dir)
    shipped = {p.name: p.read_text(encoding="utf-8") for p in DEFAULT_DIR.glob("*.*")}
    assert set(files) <= set(shipped)
    for name, text in files.items():
        assert shipped[name] == text, f"{name} differs from a rebuild"
    size = sum(p.stat().st_size for p in DEFAULT_DIR.iterdir())
    assert size < 2_000_000
    assert not list(DEFAULT_DIR.glob("*.pkl")) and not list(DEFAULT_DIR.glob("*.pickle"))
    notice = (DEFAULT_DIR / "NOTICE").read_text()
    assert "27aa88f" in notice and "Apache License" in notice
    assert "Apache License" in (DEFAULT_DIR / "LICENSE-tabrepo").read_text()
    root_notice = Path(__file__).resolve().parents[3] / "NOTICE"
    assert "27aa88f" in root_notice.read_text()


def test_default_loads_without_pickle_and_ranks() -> None:
    loaded = load_default()
    assert loaded.origin == "embedded" and loaded.metadata["version"] == DEFAULT_VERSION
    assert loaded.metadata["tasks_by_source"] == {"tabrepo-lightgbm": 93}
    assert "embedded default v1" in loaded.describe()
    recs = recommend(loaded, {"log_n_instances": np.log(5000.0)}, "binary", k=5)
    assert len({r.name for r in recs}) == 5
    regrets = [r.expected_regret for r in recs]
    assert regrets == sorted(regrets, reverse=True)


def test_empty_store_answers_from_the_default_and_a_store_model_takes_over(
    tmp_path: Path, tabrepo_db: Path
) -> None:
    data = tmp_path / "wine.csv"
    load_wine(as_frame=True).frame.to_csv(data, index=False)
    runner = CliRunner()
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    for command in (["warmstart", "recommend"], ["warmstart"]):
        result = runner.invoke(
            app,
            ["--db-url", fresh, *command, str(data), "--target", "target", "--k", "5", "--json"],
        )
        assert result.exit_code == 0, result.stderr
        doc = json.loads(result.stdout)
        assert doc["model"]["origin"] == "embedded" and len(doc["configurations"]) == 5
        assert doc["problem_type"] == "multiclass"
    human = runner.invoke(app, ["--db-url", fresh, "warmstart", str(data), "--target", "target"])
    assert human.exit_code == 0 and "embedded default v1" in human.stdout
    # A store with a trained model (TabRepo imported and trained): that model answers.
    result = runner.invoke(
        app,
        ["--db-url", f"sqlite:///{tabrepo_db}", "warmstart", str(data), "--target", "target"],
    )
    assert result.exit_code == 0, result.stderr
    assert "in the trace store" in result.stdout and "embedded" not in result.stdout


@pytest.mark.slow
def test_traces_without_a_model_train_one(tmp_path: Path, tabrepo_dir: Path) -> None:
    from mileage.collectors.metadata import import_metadata

    store = TraceStore.open(f"sqlite:///{tmp_path / 'trace.db'}")
    try:
        assert resolve_warmstart(store).origin == "embedded"
        import_metadata(store, "tabrepo-lightgbm", tabrepo_dir)
        loaded = resolve_warmstart(store)
        assert loaded.origin == "store" and loaded.model_id > 0
        assert resolve_warmstart(store).model_id == loaded.model_id  # trained once
    finally:
        store.close()


def test_unknown_meta_features_are_none_nan_or_absent() -> None:
    assert known_meta_features({"a": None, "b": float("nan"), "c": 3}) == {"c": 3.0}
    for bad in (float("inf"), "many", True, [1]):
        with pytest.raises(DataError, match="not finite numbers"):
            known_meta_features({"a": bad})
    loaded = load_default()
    with_unknowns = recommend(
        loaded, {"log_n_instances": 7.0, "n_classes": None, "class_entropy": np.nan}, "regression"
    )
    without = recommend(loaded, {"log_n_instances": 7.0}, "regression")
    assert [r.name for r in with_unknowns] == [r.name for r in without]


def test_meta_features_file_with_nulls_cli(tmp_path: Path) -> None:
    qualities = tmp_path / "q.json"
    qualities.write_text(
        '{"NumberOfInstances": 1000, "NumberOfFeatures": NaN, "NumberOfClasses": null,'
        ' "MaxNominalAttDistinctValues": null, "problem_type": "regression"}'
    )
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    runner = CliRunner()
    result = runner.invoke(
        app, ["--db-url", fresh, "warmstart", "--meta-features", str(qualities), "--json"]
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["meta_features"]["n_instances"] == 1000 and "n_features" not in doc["meta_features"]
    qualities.write_text('{"NumberOfInstances": Infinity, "problem_type": "regression"}')
    result = runner.invoke(app, ["--db-url", fresh, "warmstart", "--meta-features", str(qualities)])
    assert result.exit_code == 1 and "'NumberOfInstances' is inf" in result.stderr


@pytest.mark.slow
def test_demo_warm_start_runs_from_the_default_without_shared_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mileage.cli.demo import warmstart as demo
    from mileage.cli.demo._run import DemoContext
    from mileage.platform.settings import Settings

    monkeypatch.setattr(demo, "SEEDS", 1)  # the race itself is the demo's business; keep it short
    monkeypatch.setattr(demo, "TRIALS", 2)
    monkeypatch.setattr(demo, "ROUNDS", 30)
    empty = tmp_path / "no-shared-data"
    empty.mkdir()
    monkeypatch.setenv("MILEAGE_SHARED_DATA", str(empty))
    settings = Settings.load(home=tmp_path / "home")
    assert settings.shared_data_dir() == empty
    store = TraceStore.open(f"sqlite:///{tmp_path / 'trace.db'}")
    console = Console(record=True, width=160)
    try:
        demo.step_warmstart(
            DemoContext(settings=settings, workdir=tmp_path, console=console, store=store)
        )
    finally:
        store.close()
    text = console.export_text()
    assert "embedded default v1" in text and "skipped" not in text
    assert "try these first on digits" in text
    assert "Optuna race on digits" in text and "cold TPE" in text
    assert "Model that answered: embedded default v1" in " ".join(text.split())
