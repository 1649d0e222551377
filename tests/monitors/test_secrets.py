"""Passwords of SQL sources are never stored: a URL with one is refused (redacted in the
message), and an ``env:VAR#table`` reference reads the URL from the environment."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from mileage.cli import app


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MILEAGE_DB_URL", f"sqlite:///{tmp_path / 'm.db'}")
    return CliRunner()


def test_sql_source_with_password_is_refused_and_redacted(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(
        app,
        [
            "monitor",
            "add",
            "pgwine",
            "--reference",
            "postgresql://mil:MilPw%231@127.0.0.1:9/mileage#reference",
            "--batches",
            "postgresql://mil:MilPw%231@127.0.0.1:9/mileage#scores",
            "--owner",
            "team",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "MilPw" not in result.output and "env:VAR#reference" in result.stderr
    assert b"MilPw" not in (tmp_path / "m.db").read_bytes()


def test_env_reference_reads_the_url_from_the_environment(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'scores.db'}"
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=60), "y": rng.normal(size=60)})
    frame.to_sql("reference", create_engine(url), index=False)
    monkeypatch.setenv("SCORES_URL", url)
    added = cli.invoke(
        app,
        ["monitor", "add", "envwine", "--reference", "env:SCORES_URL#reference", "--owner", "t"],
    )
    assert added.exit_code == 0, added.output
    shown = json.loads(cli.invoke(app, ["monitor", "show", "envwine", "--json"]).stdout)
    assert "env:SCORES_URL#reference" in json.dumps(shown)
    assert str(tmp_path / "scores.db") not in json.dumps(shown)
    monkeypatch.delenv("SCORES_URL")
    missing = cli.invoke(
        app,
        ["monitor", "add", "envwine2", "--reference", "env:SCORES_URL#reference", "--owner", "t"],
    )
    assert missing.exit_code == 2 and "'SCORES_URL' is not set" in missing.stderr


def test_webhook_url_is_refused_and_never_stored(cli: CliRunner, tmp_path: Path) -> None:
    reference = tmp_path / "ref.csv"
    pd.DataFrame({"x": np.arange(30.0), "y": np.arange(30.0) % 3}).to_csv(reference, index=False)
    hook = "https://hooks.slack.com/services/T0/B0/s3cretT0ken"
    common = ["--reference", str(reference), "--owner", "t"]
    for value in (hook, f"env:{hook}"):
        refused = cli.invoke(app, ["monitor", "add", "hooked", *common, "--webhook-env", value])
        assert refused.exit_code == 2, refused.output
        assert "s3cretT0ken" not in refused.output
        assert "https://hooks.slack.com/…" in refused.stderr
        assert "--webhook-env env:SLACK_WEBHOOK_URL" in refused.stderr
    bad_name = cli.invoke(app, ["monitor", "add", "hooked", *common, "--webhook-env", "1 hook"])
    assert bad_name.exit_code == 2 and "not an environment variable name" in bad_name.stderr
    added = cli.invoke(
        app, ["monitor", "add", "hooked", *common, "--webhook-env", "env:ONCOLOGY_HOOK"]
    )
    assert added.exit_code == 0, added.output
    shown = json.loads(cli.invoke(app, ["monitor", "show", "hooked", "--json"]).stdout)
    assert shown["config"]["webhook_env"] == "ONCOLOGY_HOOK"  # the name, never a URL
    edited = cli.invoke(app, ["monitor", "edit", "hooked", "--webhook-env", hook])
    assert edited.exit_code == 2 and "s3cretT0ken" not in edited.output
    assert b"s3cretT0ken" not in (tmp_path / "m.db").read_bytes()
