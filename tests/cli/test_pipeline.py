"""``mileage pipeline`` and ``mileage nextstep`` end to end, and the demo's reuse step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from mileage.cli import app
from mileage.cli.pipeline import parse_size


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for key in ("MILEAGE_DB_URL", "MILEAGE_CONFIG", "MLFLOW_TRACKING_URI", "MILEAGE_HOME"):
        monkeypatch.delenv(key, raising=False)
    return CliRunner()


def test_examples_list(cli: CliRunner) -> None:
    result = cli.invoke(app, ["pipeline", "examples", "--json"])
    assert result.exit_code == 0, result.output
    names = {e["name"] for e in json.loads(result.stdout)}
    assert names == {"fair", "randhie", "digits"}
    assert "mileage pipeline run fair" in cli.invoke(app, ["pipeline", "examples"]).stdout


def test_run_twice_then_predict_the_next_change(cli: CliRunner, tmp_path: Path) -> None:
    args = ["pipeline", "run", "digits", "--set", "model.C=0.3", "--user", "hal", "--json"]
    first = cli.invoke(app, args)
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert 0.8 < data["metrics"]["score"] <= 1 and data["cache_hits"] == 0
    second = cli.invoke(app, [*args[:4], "model.C=0.1", *args[5:]])
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout)
    assert again["cache_hits"] >= 1
    assert {o["operator"]: o["action"] for o in again["operators"]}["model"] == "computed"
    human = cli.invoke(app, ["pipeline", "run", "digits", "--user", "hal"])
    assert human.exit_code == 0 and "loaded from the cache" in human.stdout
    listing = json.loads(cli.invoke(app, ["nextstep", "show", "--json"]).stdout)
    (chain,) = listing
    assert chain["runs"] == 3 and chain["source"] == "executor"
    missing = cli.invoke(app, ["nextstep", "show", "--chain", chain["chain"]])
    assert missing.exit_code == 1 and "mileage nextstep train" in missing.stderr
    trained = cli.invoke(app, ["nextstep", "train", "--synthetic", "15", "--json"])
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout)["chains_from_store"] == 1
    assert (tmp_path / ".mileage" / "models" / "nextstep" / "model.txt").is_file()
    shown = cli.invoke(app, ["nextstep", "show", "--chain", chain["chain"], "--json"])
    assert shown.exit_code == 0, shown.output
    probs = json.loads(shown.stdout)["next_change_probability"]
    assert set(probs) == {"split", "scale", "pca", "model"}
    assert all(0 <= p <= 1 for p in probs.values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pipeline", "run", "digits", "--set", "model"], "must look like"),
        (["pipeline", "run", "digits", "--set", "model=svm"], "alternatives"),
        (["pipeline", "run", "digits", "--set", "model.gamma=1"], "parameters"),
        (["pipeline", "run", "digits", "--budget", "lots"], "not a size"),
        (["pipeline", "run", "digits", "--policy", "greedy"], "'greedy' is not one of"),
    ],
)
def test_bad_usage_exits_2(cli: CliRunner, args: list[str], message: str) -> None:
    result = cli.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pipeline", "run", "nope"], "no example workflow 'nope'"),
        (["nextstep", "show", "--chain", "x/y"], "no chain 'x/y'"),
    ],
)
def test_unknown_names_exit_1(cli: CliRunner, args: list[str], message: str) -> None:
    result = cli.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr


def test_train_on_an_empty_store_explains_what_to_do(cli: CliRunner) -> None:
    result = cli.invoke(app, ["nextstep", "train"])
    assert result.exit_code == 2 and "--synthetic" in result.stderr


def test_parse_size() -> None:
    assert parse_size("500MB") == 500_000_000
    assert parse_size("2GiB") == 2 * 1024**3
    assert parse_size("1024") == 1024
    assert parse_size("unlimited") is None


@pytest.mark.slow  # the demo step, end to end
def test_demo_reuse_step(tmp_path: Path) -> None:
    from mileage.cli.demo._run import DemoContext
    from mileage.cli.demo.pipeline import ITERATIONS, step_reuse
    from mileage.platform.settings import Settings
    from mileage.platform.store import TraceStore

    settings = Settings.load(home=tmp_path / "home")
    store = TraceStore.open(f"sqlite:///{tmp_path / 'trace.db'}")
    console = Console(record=True, width=160)
    ctx = DemoContext(settings=settings, workdir=tmp_path, console=console, store=store)
    step_reuse(ctx)
    text = console.export_text()
    assert "predicted next change" in text and "avoided about" in text
    assert store.counts()["operator_executions"] > 0
    assert store.counts()["runs"] == ITERATIONS
    assert (settings.home / "models" / "nextstep" / "nextstep.json").is_file()
    store.close()
