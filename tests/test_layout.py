"""Package layout guarantees: no shadowed standard library, one-way imports, a light CLI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "mileage"


def test_nothing_shadows_the_standard_library() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import platform, uuid; platform.system(); print(platform.__file__)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert str(ROOT) not in result.stdout.strip()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_no_other_subpackage() -> None:
    core = [
        SRC / "platform" / n
        for n in (
            "errors.py",
            "settings.py",
            "fingerprint.py",
            "progress.py",
            "pipelines.py",
            "vocabulary.py",
            "configurations.py",
        )
    ]
    core += sorted((SRC / "platform" / "store").rglob("*.py"))
    for path in core:
        for name in _imports(path):
            assert not name.startswith(
                (
                    "mileage.collectors",
                    "mileage.metalearner",
                    "mileage.monitors",
                    "mileage.dashboards",
                    "mileage.plugin",
                )
            ), f"{path.relative_to(ROOT)} imports {name}"


def test_nothing_imports_the_entry_points() -> None:
    for path in SRC.rglob("*.py"):
        # The CLI entry point is cli.py with its _cli_* and _demo* modules.
        if path.name in ("cli.py", "daemon.py") or path.name.startswith(("_cli_", "_demo")):
            continue
        for name in _imports(path):
            assert name not in ("mileage.platform.cli", "mileage.platform.daemon"), (
                f"{path} imports {name}"
            )


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from mileage.platform.cli import app\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = {'mlflow', 'sqlalchemy', 'pandas', 'numpy', 'lightgbm', 'evidently', 'great_expectations', 'openml', 'sklearn'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
