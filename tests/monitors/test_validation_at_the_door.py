"""Bad values are refused where they enter: suites on import (numbers, finite, min <= max),
and references with infinite values (left out of the bounds, or refused when all are)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mileage.cli import app
from mileage.monitors.checks._suite import check_suite
from mileage.platform.errors import ConfigError


def _suite(**bounds: object) -> dict[str, object]:
    column = {"kind": "numeric", "type": "numeric", **bounds}
    return {"format": 1, "columns": {"alcohol": column}}


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ({"min": "abc", "max": 15}, "'min' must be a finite number, got 'abc'"),
        ({"min": math.nan, "max": 15}, "'min' must be a finite number, got nan"),
        ({"min": 0, "max": math.inf}, "'max' must be a finite number, got inf"),
        ({"min": True, "max": 15}, "'min' must be a finite number, got True"),
        ({"min": 100, "max": 1}, "'min' (100) is above 'max' (1)"),
    ],
    ids=["text", "nan", "inf", "bool", "min-above-max"],
)
def test_suite_import_rejects_bad_bounds(bounds: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_suite(_suite(**bounds))
    assert message in str(caught.value) and "alcohol" in str(caught.value)


def test_suite_import_accepts_sound_and_open_bounds() -> None:
    check_suite(_suite(min=0, max=15.5))
    check_suite(_suite(min=None, max=3))


def _frames(tmp_path: Path, ref: pd.DataFrame, batch: pd.DataFrame) -> list[str]:
    ref.to_parquet(tmp_path / "ref.parquet")
    batch.to_parquet(tmp_path / "batch.parquet")
    return ["monitor", "check", "--reference", "ref.parquet", "--batch", "batch.parquet"]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MILEAGE_DB_URL", f"sqlite:///{tmp_path / 'm.db'}")
    return CliRunner()


def test_a_few_inf_values_in_a_reference_keep_the_range_check(
    cli: CliRunner, tmp_path: Path
) -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(12.0, 1.0, 89)
    values[:3] = np.inf
    ref = pd.DataFrame({"alcohol": values, "ph": rng.normal(3.3, 0.1, 89)})
    batch = pd.DataFrame(
        {"alcohol": rng.normal(12.0, 1.0, 53) * 1000, "ph": rng.normal(3.3, 0.1, 53)}
    )
    result = cli.invoke(app, _frames(tmp_path, ref, batch))
    assert "Traceback" not in result.output
    assert result.exit_code != 0 and "alcohol" in result.output  # the 1000x change is caught


def test_a_few_inf_values_in_a_reference_keep_the_drift_check(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: one inf made the reference's standard deviation NaN, so the column was skipped
    as constant and a shift of two standard deviations went unseen."""
    from mileage.monitors import check_once

    rng = np.random.default_rng(11)
    values = rng.normal(12.0, 1.0, 400)
    values[:3], values[3] = np.inf, -np.inf
    ref = pd.DataFrame({"alcohol": values, "ph": rng.normal(3.3, 0.1, 400)})
    batch = pd.DataFrame({"alcohol": rng.normal(14.0, 1.0, 300), "ph": rng.normal(3.3, 0.1, 300)})
    ref.to_parquet(tmp_path / "ref.parquet")
    batch.to_parquet(tmp_path / "batch.parquet")
    caplog.set_level("WARNING")
    report, suite = check_once(str(tmp_path / "ref.parquet"), str(tmp_path / "batch.parquet"))
    spec = suite["columns"]["alcohol"]
    assert spec["non_finite_excluded"] == 4 and math.isfinite(spec["max"])
    effects = {
        s.column: s.value
        for s in report.statistics
        if s.check_kind == "drift" and s.statistic == "effect"
    }
    effect = effects.get("alcohol")
    assert effect is not None and math.isfinite(effect)
    assert any(f.check == "value_drift" and f.column == "alcohol" for f in report.findings)
    assert any("'alcohol'" in n and "4 infinite value(s)" in n for n in report.notes)
    assert "reference column 'alcohol'" in caplog.text


@pytest.mark.parametrize(
    "column",
    [[np.inf] * 20, [np.inf, -np.inf, np.nan, np.inf] * 5],
    ids=["all-inf", "inf-minus-inf-and-nan"],
)
def test_all_inf_reference_column_is_one_line_not_a_crash(
    cli: CliRunner, tmp_path: Path, column: list[float]
) -> None:
    ref = pd.DataFrame({"alcohol": column, "ph": np.linspace(3, 4, 20)})
    batch = pd.DataFrame({"alcohol": [12.0] * 10, "ph": np.linspace(3, 4, 10)})
    result = cli.invoke(app, _frames(tmp_path, ref, batch))
    assert result.exit_code in (1, 2) and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert "'alcohol'" in result.stderr and "no finite value" in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--slo", "nan", "--slo must be a finite number"),
        ("--slo", "inf", "--slo must be a finite number"),
        ("--slo", "1.5", "--slo for accuracy must be in [0, 1]"),
        ("--drift-threshold", "-1", "drift threshold must be a finite number above 0"),
    ],
)
def test_monitor_options_are_validated_on_add(
    cli: CliRunner, tmp_path: Path, option: str, value: str, message: str
) -> None:
    pd.DataFrame({"x": np.linspace(0, 1, 40)}).to_parquet(tmp_path / "ref.parquet")
    result = cli.invoke(
        app,
        ["monitor", "add", "m", "--reference", "ref.parquet", "--owner", "t", option, value],
    )
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_slice_naming_a_missing_column_is_refused_on_add_and_edit(
    cli: CliRunner, tmp_path: Path
) -> None:
    """Before: accepted, and the slice silently matched no row in every batch."""
    rng = np.random.default_rng(5)
    pd.DataFrame({"x": rng.normal(size=40), "region": ["north", "south"] * 20}).to_parquet(
        tmp_path / "ref.parquet"
    )
    add = ["monitor", "add", "m", "--reference", "ref.parquet", "--owner", "t"]
    refused = cli.invoke(app, [*add, "--slice", "north: regoin == north"])
    assert refused.exit_code == 2, refused.output
    assert "'regoin'" in refused.stderr and "region" in refused.stderr
    assert "Traceback" not in refused.output
    assert cli.invoke(app, ["monitor", "list", "--json"]).stdout.strip() in ("[]", "")
    added = cli.invoke(app, [*add, "--slice", "north: region == north"])
    assert added.exit_code == 0, added.output
    edited = cli.invoke(app, ["monitor", "edit", "m", "--slice", "big: x > 1 and size > 3"])
    assert edited.exit_code == 2 and "'size'" in edited.stderr
    shown = cli.invoke(app, ["monitor", "show", "m", "--json"]).stdout
    assert "north: region == north" in shown and "size > 3" not in shown


@pytest.fixture
def named_reference(tmp_path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    ref = pd.DataFrame({"x": rng.normal(size=40), "region": ["north", "south"] * 20})
    ref.to_parquet(tmp_path / "ref.parquet")
    return ref


def _one_line(result: Any, code: int, says: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(result.stderr.strip().splitlines()) == 1 and says in result.stderr


def test_an_empty_column_name_in_a_reference_is_one_line_not_a_traceback(
    cli: CliRunner, tmp_path: Path, named_reference: pd.DataFrame
) -> None:
    """Before: Great Expectations' 'ensure this value has at least 1 characters' traceback."""
    unnamed = named_reference.rename(columns={"region": ""})
    unnamed.to_parquet(tmp_path / "unnamed.parquet")
    says = "column 2 of 2 has an empty name"
    check = ["monitor", "check", "--reference", "unnamed.parquet", "--batch", "ref.parquet"]
    _one_line(cli.invoke(app, check), 2, says)
    add = ["monitor", "add", "m", "--reference", "unnamed.parquet", "--owner", "t"]
    _one_line(cli.invoke(app, add), 2, says)


def test_an_empty_column_name_in_a_batch_is_an_ignored_column(
    cli: CliRunner, tmp_path: Path, named_reference: pd.DataFrame
) -> None:
    named_reference.assign(**{"": 1.0}).to_parquet(tmp_path / "batch.parquet")
    check = ["monitor", "check", "--reference", "ref.parquet", "--batch", "batch.parquet"]
    result = cli.invoke(app, [*check, "--json"])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    (batch,) = json.loads(result.stdout)["batches"]
    (extra,) = [f for f in batch["findings"] if f["check"] == "unexpected_columns"]
    assert extra["evidence"]["columns"] == [""] and "ignored: ''" in extra["message"]


@pytest.mark.parametrize(
    ("option", "says"),
    [
        (["--key", ""], "--key '' names no column"),
        (["--key", "x", "--key", " "], "--key ' ' names no column"),
        (["--slice-column", ""], "--slice-column '' names no column"),
        (["--slice", ""], "slice '' must look like 'NAME: COLUMN OP VALUE"),
        (["--slice", "a:  == 1"], "slice 'a': condition '== 1' must be 'COLUMN OP VALUE'"),
        (["--id-column", ""], "--id-column '' names no column"),
        (["--prediction-column", ""], "--prediction-column '' names no column"),
        (["--label-column", ""], "--label-column '' names no column"),
        (["--timestamp-column", ""], "--timestamp-column '' names no column"),
        (["--labeler-columns", "a,,b"], "--labeler-columns 'a,,b' has an empty column name"),
    ],
    ids=[
        "key",
        "key-blank",
        "slice-column",
        "slice",
        "slice-condition",
        "id-column",
        "prediction-column",
        "label-column",
        "timestamp-column",
        "labeler-columns",
    ],
)
def test_an_empty_column_name_in_a_cli_option_is_a_usage_error(
    cli: CliRunner, named_reference: pd.DataFrame, option: list[str], says: str
) -> None:
    """Before: ``--id-column ''`` was stored and silently meant "no id column"."""
    add = ["monitor", "add", "m", "--reference", "ref.parquet", "--owner", "t", *option]
    _one_line(cli.invoke(app, add), 2, says)
    assert cli.invoke(app, ["monitor", "list", "--json"]).stdout.strip() in ("[]", "")
    if option[0] != "--key":  # monitor check has no --key
        check = ["monitor", "check", "--reference", "ref.parquet", "--batch", "ref.parquet"]
        _one_line(cli.invoke(app, [*check, *option]), 2, says)


def test_an_empty_column_name_in_a_suite_is_refused_on_import(
    cli: CliRunner, tmp_path: Path, named_reference: pd.DataFrame
) -> None:
    assert cli.invoke(app, ["monitor", "add", "m", "--reference", "ref.parquet"]).exit_code == 0
    assert cli.invoke(app, ["monitor", "suite", "m", "--export", "s.json"]).exit_code == 0
    suite = json.loads((tmp_path / "s.json").read_text())
    custom = {
        **suite,
        "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": ""}}],
    }
    pair = {
        **suite,
        "expectations": [
            {
                "type": "expect_column_pair_values_a_to_be_greater_than_b",
                "kwargs": {"column_A": "x", "column_B": " "},
            }
        ],
    }
    renamed = {
        **suite,
        "columns": {"": suite["columns"]["x"], "region": suite["columns"]["region"]},
    }
    for name, spec, says in (
        ("custom", custom, "expectation #1 (expect_column_values_to_not_be_null): 'column' is ''"),
        ("pair", pair, "'column_B' is ' '"),
        ("renamed", renamed, "a column is named ''"),
    ):
        (tmp_path / f"{name}.json").write_text(json.dumps(spec))
        _one_line(cli.invoke(app, ["monitor", "suite", "m", "--import", f"{name}.json"]), 2, says)
    check = ["monitor", "check", "--reference", "ref.parquet", "--batch", "ref.parquet"]
    _one_line(cli.invoke(app, [*check, "--suite", "custom.json"]), 2, "'column' is ''")
    sound = {
        **suite,
        "expectations": [
            {"type": "expect_column_to_exist", "kwargs": {"column": "x", "column_index": 0}}
        ],
    }
    (tmp_path / "sound.json").write_text(json.dumps(sound))
    imported = cli.invoke(app, ["monitor", "suite", "m", "--import", "sound.json"])
    assert imported.exit_code == 0, imported.output  # column_index is no column name
    shown = cli.invoke(app, ["monitor", "suite", "m", "--json"])
    assert '""' not in shown.stdout
