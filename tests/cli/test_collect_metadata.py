"""``mileage collect metadata`` end to end on the shared reference data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mileage.cli import app
from mileage.testing import require_shared_data

FOLDERS = {
    "tabrepo-lightgbm": "tabrepo-lightgbm",
    "autosklearn": "autosklearn-metadata",
    "flaml-zeroshot": "flaml-zeroshot",
    "lcdb": "lcdb",
}


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for key in ("MILEAGE_DB_URL", "MILEAGE_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    return CliRunner()


@pytest.mark.slow
def test_every_source_imports_with_its_counts_in_status(cli: CliRunner) -> None:
    for name, folder in FOLDERS.items():
        result = cli.invoke(
            app,
            ["collect", "metadata", "--source", name, "--path", str(require_shared_data(folder))],
        )
        assert result.exit_code == 0, result.output
        assert "imported from" in result.stdout
    again = cli.invoke(
        app,
        [
            "collect",
            "metadata",
            "--source",
            "tabrepo-lightgbm",
            "--path",
            str(require_shared_data("tabrepo-lightgbm")),
            "--json",
        ],
    )
    assert json.loads(again.stdout)["unchanged"] is True
    status = json.loads(cli.invoke(app, ["status", "--json"]).stdout)
    counts = {
        s["uri"]: (s["tasks"], s["configurations"], s["runs"], s["scored_runs"])
        for s in status["sources"]
    }
    assert counts == {
        "tabrepo-lightgbm": (93, 104, 9672, 9672),
        "autosklearn": (319, 9178, 8622, 6600),
        "flaml-zeroshot": (60, 168, 2563, 2563),
        "lcdb": (248, 20, 4367, 4367),
    }
    assert status["counts"]["portfolio_members"] == 768 + 168


def test_usage_errors_name_the_fix(cli: CliRunner, tmp_path: Path) -> None:
    unknown = cli.invoke(app, ["collect", "metadata", "--source", "openml100"])
    assert (
        unknown.exit_code == 2
        and "known: autosklearn, flaml-zeroshot, lcdb, tabrepo-lightgbm" in unknown.stderr
    )
    no_pypi = cli.invoke(app, ["collect", "metadata", "--source", "tabrepo-lightgbm"])
    assert no_pypi.exit_code == 2 and "pass --path" in no_pypi.stderr
    wrong = cli.invoke(app, ["collect", "metadata", "--source", "lcdb", "--path", str(tmp_path)])
    assert wrong.exit_code == 2 and "lcdb_curves_agg.parquet" in wrong.stderr
