"""The CLI without the optional extras: help works, a command that needs one names it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXTRA_MODULES = [
    "great_expectations",
    "evidently",
    "apscheduler",
    "grafana_foundation_sdk",
    "psycopg",
    "openml",
    "optuna",
    "statsmodels",
]


def _cli_without(modules: list[str], args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh interpreter in which ``modules`` cannot be imported, as in an
    installation without the extras that bring them."""
    code = (
        "import sys\n"
        f"for m in {modules!r}: sys.modules[m] = None\n"
        f"sys.argv = ['mileage', *{args!r}]\n"
        "from mileage.cli import main\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )


def test_help_works_without_any_extra() -> None:
    result = _cli_without(EXTRA_MODULES, ["--help"])
    assert result.returncode == 0, result.stderr
    assert "monitor" in result.stdout and "dashboards" in result.stdout


def test_a_command_needing_a_missing_extra_names_it_in_one_line(tmp_path: Path) -> None:
    result = _cli_without(
        EXTRA_MODULES, ["dashboards", "build", "--out", str(tmp_path / "dashboards")]
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: 'mileage dashboards build' needs the optional extra 'dashboards' "
        "(grafana_foundation_sdk is not installed): pip install 'mileage[dashboards]'"
    ]


def test_the_evaluator_names_its_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['great_expectations'] = None\n"
        "from mileage.plugin._evaluator import MileageEvaluator\n"  # importing never fails
        "from mileage.platform.extras import MissingExtraError, require\n"
        "try:\n"
        "    require('great_expectations', \"the 'mileage' evaluator\")\n"
        "except MissingExtraError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "the 'mileage' evaluator needs the optional extra 'monitors' (great_expectations is not "
        "installed): pip install 'mileage[monitors]'"
    )
