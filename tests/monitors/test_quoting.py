"""Text from data never runs in a shell or pings a Slack channel: printed commands are quoted
with shlex, webhook mrkdwn is escaped."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mileage.cli import app
from mileage.monitors.alerts._routing import _text

HOSTILE = "$(touch PWNED)"
PING = "<!channel> <https://evil.example/login|click to fix>"


def test_suggested_command_quotes_a_hostile_column_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MILEAGE_DB_URL", f"sqlite:///{tmp_path / 'm.db'}")
    pd.DataFrame({"a": [1.0, 2.0, 3.0] * 10, HOSTILE: [1.0, 2.0, 3.0] * 10}).to_parquet(
        tmp_path / "ref.parquet"
    )
    pd.DataFrame({"a": [1.0, 2.0, 3.0] * 10}).to_parquet(tmp_path / "batch.parquet")
    result = CliRunner().invoke(
        app,
        ["monitor", "check", "--reference", "ref.parquet", "--batch", "batch.parquet", "--json"],
    )
    assert "Traceback" not in result.output
    start = result.output.index("monitor edit NAME --drop-column ")
    command = result.output[start:].split("\n")[0].split('",')[0].rstrip('"')
    # Paste the suggested command into a real shell, with printf standing in for mileage.
    shell = subprocess.run(
        ["bash", "-c", "printf '%s\\n' " + command.replace("\\\\", "\\")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout.splitlines()[-1] == HOSTILE
    assert not (tmp_path / "PWNED").exists()


def test_slack_mrkdwn_escapes_mentions_and_links() -> None:
    text = _text(f"column {PING} & more")
    assert "<" not in text and ">" not in text
    assert text == (
        "column &lt;!channel&gt; &lt;https://evil.example/login|click to fix&gt; &amp; more"
    )
