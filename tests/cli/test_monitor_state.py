"""Paths and state through the CLI: relative paths stored absolute, an old batch re-checked
changes nothing of a later batch's alert, a mistyped batch id is a usage problem (exit 1),
and an unset webhook variable is a warning at configuration time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mileage.cli import app
from mileage.monitors import absolute_source
from mileage.testing.monitoring import cancer_data


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with a reference and two batches (clean, then a x1000 unit change)."""
    from sklearn.linear_model import LogisticRegression

    for key in ("MILEAGE_DB_URL", "MILEAGE_CONFIG", "MLFLOW_TRACKING_URI", "MILEAGE_WEBHOOK_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("CANCER_HOOK_NOT_SET", raising=False)
    monkeypatch.setenv("MILEAGE_ROUTERS", '["webhook"]')
    monkeypatch.setenv("MILEAGE_DB_URL", f"sqlite:///{tmp_path / 'trace.db'}")
    project = tmp_path / "project"
    (project / "batches").mkdir(parents=True)
    data = cancer_data()
    model = LogisticRegression(max_iter=5000).fit(
        data.reference[data.features], data.reference["label"]
    )
    data.reference.assign(prediction=model.predict(data.reference[data.features])).to_parquet(
        project / "ref.parquet"
    )
    held = data.held_out.drop(columns=["label"])
    held = held.assign(prediction=model.predict(held[data.features]))
    held.iloc[:100].to_parquet(project / "batches" / "2026-11-20.parquet")
    bad = held.iloc[100:].copy()
    bad["mean_radius"] = bad["mean_radius"] * 1000
    bad.to_parquet(project / "batches" / "2026-11-21.parquet")
    monkeypatch.chdir(project)
    return project


def _json(result: Any) -> Any:
    assert result.stdout.strip(), result.output
    return json.loads(result.stdout)


def test_absolute_source_leaves_urls_and_makes_paths_absolute(tmp_path: Path) -> None:
    assert absolute_source("ref.parquet", tmp_path) == str(tmp_path.resolve() / "ref.parquet")
    assert absolute_source("../b/", tmp_path / "a") == str(tmp_path.resolve() / "b")
    assert absolute_source("sqlite:///scores.db#scores", tmp_path) == (
        f"sqlite:///{tmp_path.resolve() / 'scores.db'}#scores"
    )
    for url in (
        "sqlite:////abs/scores.db#scores",
        "postgresql://monitor@db/shop#scores",
        "https://example.org/ref.parquet",
        "models:/churn@champion",
    ):
        assert absolute_source(url, tmp_path) == url


@pytest.mark.slow
def test_paths_old_batches_and_typos(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = CliRunner()
    added = cli.invoke(
        app,
        [
            *("monitor", "add", "cancer", "--reference", "ref.parquet"),
            *("--batches", "batches/", "--owner", "oncology-ml"),
            *("--webhook-env", "CANCER_HOOK_NOT_SET", "--json"),
        ],
    )
    assert added.exit_code == 0, added.output
    (warning,) = _json(added)["warnings"]
    assert "CANCER_HOOK_NOT_SET" in warning and "is not set" in warning
    assert "warning: --webhook-env CANCER_HOOK_NOT_SET" in added.stderr

    # a daemon (or anyone) working from another folder reads the same files
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = _json(cli.invoke(app, ["monitor", "show", "cancer", "--json"]))["config"]
    assert config["reference_uri"] == str(work.resolve() / "ref.parquet")
    assert config["batches_uri"] == str(work.resolve() / "batches")
    run = cli.invoke(app, ["monitor", "run", "cancer", "--json"])
    assert run.exit_code == 1, run.output  # the second batch broke a column
    assert {b["batch_id"] for b in _json(run)["batches"]} == {"2026-11-20", "2026-11-21"}
    (alert,) = [
        a
        for a in _json(cli.invoke(app, ["alerts", "list", "--json"]))
        if a["kind"] == "broken_column"
    ]
    assert alert["status"] == "open" and alert["batches"] == 1

    # the clean older batch checked again, twice (what would resolve an alert of the latest
    # batch): the later batch's alert stays as it was
    for _ in range(2):
        again = cli.invoke(app, ["monitor", "run", "cancer", "--batch", "2026-11-20", "--json"])
        assert again.exit_code == 0, again.output
    after = {a["id"]: a for a in _json(cli.invoke(app, ["alerts", "list", "--json"]))}
    assert after[alert["id"]] == alert  # still open, same level, batches and cause

    # a mistyped id: exit 1 naming the nearest ids; nothing is checked, nothing pages
    typo = cli.invoke(app, ["monitor", "run", "cancer", "--batch", "2026-11-2l"])
    assert typo.exit_code == 1
    assert "batch '2026-11-2l' is not in" in typo.stderr and "2026-11-21" in typo.stderr
    shown = _json(cli.invoke(app, ["monitor", "show", "cancer", "--json"]))
    assert {r["batch_id"] for r in shown["recent_runs"]} == {"2026-11-20", "2026-11-21"}
    assert len(_json(cli.invoke(app, ["alerts", "list", "--json"]))) == len(after)
