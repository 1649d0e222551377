"""Bad values are refused where they enter: suites on import (numbers, finite, min <= max),
and references with infinite values (left out of the bounds, or refused when all are)."""

from __future__ import annotations

import math
from pathlib import Path

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


def test_reference_with_a_few_inf_values_keeps_its_range_check(
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


def test_reference_column_of_only_inf_is_one_line_error(cli: CliRunner, tmp_path: Path) -> None:
    ref = pd.DataFrame({"alcohol": [np.inf] * 20, "ph": np.linspace(3, 4, 20)})
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
