"""The conventions every command follows (docs/reference/cli-conventions.md), checked over
the whole command tree: -h, exit codes, choices, --yes off a terminal, output formats."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer.main
from typer.testing import CliRunner

from mileage.cli import app


def _leaves(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for name, sub in sorted(subcommands.items()):
            if not getattr(sub, "hidden", False):
                yield from _leaves(sub, [*path, name])
    else:
        yield path, command


COMMANDS = list(_leaves(typer.main.get_command(app), []))
IDS = [" ".join(path) for path, _ in COMMANDS]

#: Every command that names one thing, with a name or id that does not exist.
NOT_FOUND: dict[str, list[str]] = {
    "alerts ack": ["alerts", "ack", "999", "--by", "ana"],
    "alerts resolve": ["alerts", "resolve", "999", "--by", "ana"],
    "alerts unack": ["alerts", "unack", "999", "--by", "ana"],
    "alerts show": ["alerts", "show", "999"],
    "jobs": ["jobs", "monitor:nope"],
    "monitor cadence": ["monitor", "cadence", "nope"],
    "monitor edit": ["monitor", "edit", "nope", "--owner", "ana"],
    "monitor findings": ["monitor", "findings", "nope"],
    "monitor remove": ["monitor", "remove", "nope", "--yes"],
    "monitor run": ["monitor", "run", "nope"],
    "monitor show": ["monitor", "show", "nope"],
    "monitor suite": ["monitor", "suite", "nope"],
    "nextstep show": ["nextstep", "show", "--chain", "nope"],
    "pipeline run": ["pipeline", "run", "nope"],
    "suggestions accept": ["suggestions", "accept", "999", "--by", "ana"],
    "suggestions ack": ["suggestions", "ack", "999", "--by", "ana"],
    "suggestions dismiss": ["suggestions", "dismiss", "999", "--by", "ana"],
    "suggestions show": ["suggestions", "show", "999"],
}
#: Options whose values are a fixed set: a wrong value is bad usage naming the option.
CHOICES: list[tuple[list[str], str]] = [
    (["monitor", "findings"], "--severity"),
    (["monitor", "findings"], "--kind"),
    (["monitor", "run", "x"], "--fail-on"),
    (["monitor", "check", "--reference", "r", "--batch", "b"], "--fail-on"),
    (["monitor", "cadence", "x"], "--fit"),
    (["monitor", "add", "x", "--reference", "r"], "--rollback-policy"),
    (["monitor", "edit", "x"], "--rollback-policy"),
    (["pipeline", "run", "fair"], "--policy"),
    (["jobs"], "--output"),
]


#: Commands with a name argument that create the thing rather than look it up.
CREATES = {"monitor add"}


@pytest.fixture(scope="module")
def empty_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised, empty trace store for the read-only cases (created once)."""
    home = tmp_path_factory.mktemp("conventions") / ".mileage"
    result = CliRunner().invoke(app, ["init"], env={"MILEAGE_HOME": str(home)})
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def cli(empty_home: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner on the shared empty store (tests that write use :func:`fresh`)."""
    for key in ("MILEAGE_DB_URL", "MILEAGE_CONFIG", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MILEAGE_HOME", str(empty_home))
    return CliRunner()


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner on a store of its own, in a folder of its own."""
    monkeypatch.chdir(tmp_path)
    for key in ("MILEAGE_DB_URL", "MILEAGE_CONFIG", "MLFLOW_TRACKING_URI", "MILEAGE_HOME"):
        monkeypatch.delenv(key, raising=False)
    return CliRunner()


def test_version(cli: CliRunner) -> None:
    for flag in ("--version", "-V"):
        result = cli.invoke(app, [flag])
        assert result.exit_code == 0
        assert re.fullmatch(r"mileage \S+\n", result.stdout), result.stdout


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_short_help_and_bad_usage(cli: CliRunner, path: list[str], command: Any) -> None:
    short = cli.invoke(app, [*path, "-h"])
    assert short.exit_code == 0 and short.stdout.startswith("Usage: mileage")
    assert short.stdout == cli.invoke(app, [*path, "--help"]).stdout
    bad = cli.invoke(app, [*path, "--no-such-option"])
    assert bad.exit_code == 2, bad.output
    assert "No such option" in bad.stderr and "--no-such-option" in bad.stderr


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_unknown_names_exit_1(cli: CliRunner, path: list[str], command: Any) -> None:
    names_one_thing = (
        any(
            p.param_type_name == "argument" and p.name in {"name", "alert_id", "suggestion_id"}
            for p in command.params
        )
        or " ".join(path) in NOT_FOUND
    )
    if not names_one_thing or " ".join(path) in CREATES:
        pytest.skip("names nothing")
    argv = NOT_FOUND.get(" ".join(path))
    assert argv is not None, f"add 'mileage {' '.join(path)}' with an unknown name to NOT_FOUND"
    result = cli.invoke(app, argv)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: no "), result.stderr
    assert "nope" in result.stderr or "999" in result.stderr


@pytest.mark.parametrize(
    ("argv", "option"), CHOICES, ids=[f"{' '.join(a[:2])} {o}" for a, o in CHOICES]
)
def test_choices_are_checked_and_named(cli: CliRunner, argv: list[str], option: str) -> None:
    result = cli.invoke(app, [*argv, option, "bogus"])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.stderr, result.stderr
    assert "'bogus' is not one of" in result.stderr


def _monitor(cli: CliRunner, tmp_path: Path, name: str) -> None:
    ref = tmp_path / "ref.parquet"
    pd.DataFrame({"x": [1.0, 2.0, 3.0] * 20, "y": ["a", "b", "c"] * 20}).to_parquet(ref)
    (tmp_path / "batches").mkdir(exist_ok=True)
    added = cli.invoke(
        app,
        ["monitor", "add", name, "--reference", str(ref), "--batches", str(tmp_path / "batches")],
    )
    assert added.exit_code == 0, added.output


def test_remove_refuses_without_yes_off_a_terminal(fresh: CliRunner, tmp_path: Path) -> None:
    cli = fresh
    _monitor(cli, tmp_path, "keep-me")
    refused = cli.invoke(app, ["monitor", "remove", "keep-me"], input="y\n")
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr and "not a terminal" in refused.stderr
    assert cli.invoke(app, ["monitor", "show", "keep-me"]).exit_code == 0  # still there
    assert cli.invoke(app, ["monitor", "remove", "keep-me", "--yes"]).exit_code == 0
    assert cli.invoke(app, ["monitor", "show", "keep-me"]).exit_code == 1


def test_tables_are_whole_in_pipes_and_output_formats_agree(
    fresh: CliRunner, tmp_path: Path
) -> None:
    cli = fresh
    name = "broken_columns_pipeline_with_a_rather_long_name_for_a_narrow_terminal"
    _monitor(cli, tmp_path, name)
    table = cli.invoke(app, ["monitor", "list"], env={"COLUMNS": "60"})
    assert table.exit_code == 0
    assert name in table.stdout and "…" not in table.stdout  # not cut, not wrapped
    plain = cli.invoke(app, ["monitor", "list", "--output", "plain"])
    assert name in plain.stdout
    assert not set("┏━┃│└─") & set(plain.stdout), plain.stdout
    as_json = cli.invoke(app, ["monitor", "list", "--output", "json"])
    assert json.loads(as_json.stdout) == json.loads(
        cli.invoke(app, ["monitor", "list", "--json"]).stdout
    )
    assert [m["name"] for m in json.loads(as_json.stdout)] == [name]
    jobs = cli.invoke(app, ["jobs", "-o", "json"])
    assert jobs.exit_code == 0, jobs.output
    data = json.loads(jobs.stdout)
    assert [j["job"] for j in data["jobs"]] == [f"monitor:{name}"]
    assert data["jobs"][0]["last_run"] is None and data["leader"] is None
    assert data["jobs"][0]["interval_seconds"] == 86400  # the default cadence
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["jobs"][0]["next_slot"])


def test_times_print_as_iso_8601_utc(capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from mileage.cli._common import emit, iso_time

    naive = datetime(2026, 12, 5, 10, 17, 0)  # stored times are naive UTC
    paris = datetime(2026, 12, 5, 11, 17, 0, tzinfo=timezone(timedelta(hours=1)))
    assert iso_time(naive) == iso_time(paris) == "2026-12-05T10:17:00Z"
    assert iso_time(naive.replace(tzinfo=UTC).timestamp()) == "2026-12-05T10:17:00Z"
    assert iso_time("2026-12-05T10:17:00") == "2026-12-05T10:17:00Z"
    assert iso_time("never") == "never" and iso_time(None) == "-"
    emit({"opened_at": naive, "n": 1}, True, lambda: None)
    assert json.loads(capsys.readouterr().out) == {"opened_at": "2026-12-05T10:17:00Z", "n": 1}
