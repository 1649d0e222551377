"""``mileage collect openml`` end to end: recorded server on 127.0.0.1, real store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mileage.cli import app
from mileage.testing import free_port, require_shared_data
from mileage.testing.openml import RecordedOpenmlServer


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for key in ("MILEAGE_DB_URL", "MILEAGE_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    return CliRunner()


@pytest.fixture
def server() -> Iterator[RecordedOpenmlServer]:
    with RecordedOpenmlServer(require_shared_data("openml-responses")) as recorded:
        yield recorded


ALL = [
    *("--run", "1", "--run", "12", "--task", "1", "--task", "3", "--task", "1882"),
    *("--flow", "4024", "--flow", "6742", "--flow", "5873", "--uploader", "1", "--uploader", "2"),
    *("--setup", "1", "--dataset", "2", "--dataset", "-1", "--dataset", "61"),
]


def test_collect_twice_then_status(cli: CliRunner, server: RecordedOpenmlServer) -> None:
    first = cli.invoke(app, ["collect", "openml", "--server", server.url, *ALL, "--json"])
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert (data["runs_written"], data["chains_rebuilt"]) == (2, 2)
    assert data["selection"].startswith("tasks 1,3,1882; flows 4024,6742,5873; uploaders 1,2")
    second = cli.invoke(app, ["collect", "openml", "--server", server.url, *ALL])
    assert second.exit_code == 0
    assert "2 runs seen, 0 written, 2 unchanged" in second.stdout
    assert "warning: OpenML answered with another object than asked" in second.stderr
    status = json.loads(cli.invoke(app, ["status", "--json"]).stdout)
    (source,) = status["sources"]
    assert (source["kind"], source["runs"], source["scored_runs"]) == ("openml", 2, 2)
    assert (source["tasks"], source["configurations"]) == (4, 4)
    assert source["cursor"]["passes"] == 2 and source["cursor"]["aliases"] == {"1": 100}


def test_cache_folder_offline(cli: CliRunner) -> None:
    folder = require_shared_data("openml-responses")
    result = cli.invoke(
        app,
        ["collect", "openml", "--cache-dir", str(folder), "--run", "1", "--dataset", "2", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["source"], data["reader"], data["runs_written"]) == ("test.openml.org", "cache", 1)


def test_bad_usage_exits_2_and_a_dead_server_exits_1(cli: CliRunner, tmp_path: Path) -> None:
    nothing = cli.invoke(app, ["collect", "openml"])
    assert nothing.exit_code == 2 and "nothing selected" in nothing.stderr
    ftp = cli.invoke(app, ["collect", "openml", "--server", "ftp://example.org", "--task", "1"])
    assert ftp.exit_code == 2 and "not an http(s) URL" in ftp.stderr
    missing = cli.invoke(
        app, ["collect", "openml", "--cache-dir", str(tmp_path / "nope"), "--task", "1"]
    )
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    down = cli.invoke(
        app,
        [
            "collect",
            "openml",
            "--server",
            f"http://127.0.0.1:{free_port()}/api/v1/xml",
            "--task",
            "31",
        ],
        env={"MILEAGE_HTTP_RETRIES": "2", "MILEAGE_HTTP_TIMEOUT_SECONDS": "1"},
    )
    assert down.exit_code == 1
    assert "task 31: OpenML server" in down.stderr and "after 2 attempts" in down.stderr
    assert "run the same command again" in down.stderr
