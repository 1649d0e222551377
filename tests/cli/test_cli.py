"""The command line, end to end on a real store and real data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mileage.cli import app
from mileage.testing import free_port


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for key in ("MILEAGE_DB_URL", "MILEAGE_CONFIG", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(key, raising=False)
    return CliRunner()


def _json(output: str) -> dict:
    return json.loads(output)


def test_init_creates_the_default_store(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["init", "--json"])
    assert result.exit_code == 0, result.output
    data = _json(result.stdout)
    assert data["db_url"].endswith(".mileage/mileage.db")
    assert (tmp_path / ".mileage" / "mileage.db").is_file()


def test_collect_twice_then_status_and_stats(cli: CliRunner, agnias47: Path) -> None:
    first = cli.invoke(app, ["collect", "mlflow", "--tracking-uri", str(agnias47), "--json"])
    assert first.exit_code == 0, first.output
    assert _json(first.stdout)["runs_written"] == 106
    second = cli.invoke(app, ["collect", "mlflow", "--tracking-uri", str(agnias47), "--json"])
    assert _json(second.stdout)["runs_written"] == 0
    status = _json(cli.invoke(app, ["status", "--json"]).stdout)
    assert status["counts"]["runs"] == 106
    (source,) = status["sources"]
    assert source["runs"] == 106 and source["last_pass_status"] == "succeeded"
    assert source["cursor"]["passes"] == 2
    stats = _json(cli.invoke(app, ["iterations", "stats", "--json"]).stdout)
    assert stats["chains"] == 4 and stats["links"] == 102
    human = cli.invoke(app, ["iterations", "stats"])
    assert "4 chains, 102 links" in human.stdout


def test_human_output_names_what_happened(cli: CliRunner, agnias47: Path) -> None:
    result = cli.invoke(app, ["collect", "mlflow", "--tracking-uri", str(agnias47)])
    assert result.exit_code == 0
    assert "106 written" in result.stdout
    assert "another machine" in result.stderr


def test_bad_usage_exits_2_and_failures_exit_1(cli: CliRunner) -> None:
    bad = cli.invoke(app, ["collect", "mlflow", "--tracking-uri", "/no/such/store"])
    assert bad.exit_code == 2 and "is not a tracking server" in bad.stderr
    down = cli.invoke(
        app,
        ["collect", "mlflow", "--tracking-uri", f"http://127.0.0.1:{free_port()}"],
        env={"MILEAGE_HTTP_RETRIES": "1", "MILEAGE_HTTP_TIMEOUT_SECONDS": "2"},
    )
    assert down.exit_code == 1 and "did not answer" in down.stderr
    missing = cli.invoke(app, ["collect", "mlflow"])
    assert missing.exit_code == 2
    assert cli.invoke(app, ["--db-url", "oracle://x", "status"]).exit_code == 2
