"""Package layout guarantees, as rules over paths: no shadowed standard library, imports that
point one way, no reaching into another package's private modules, a light CLI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "mileage"

#: Top-level subpackage -> the subpackages it may import (besides itself). The entry points,
#: ``cli`` and ``daemon``, may import everything and nothing imports them.
ALLOWED: dict[str, set[str]] = {
    "platform": set(),
    "collectors": {"platform"},
    "metalearner": {"platform"},
    "monitors": {"platform", "metalearner"},
    "dashboards": {"platform"},
    "plugin": {"platform", "metalearner", "monitors"},
    "testing": {"platform", "collectors", "metalearner", "monitors"},
    "cli": {"*"},
    "daemon": {"*"},
}


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


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every ``mileage`` module a file imports (``from x import y`` as ``x.y`` too)."""
    tree = ast.parse(path.read_text())
    names: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append((node.module, node.lineno))
            names += [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return [(n, line) for n, line in names if n == "mileage" or n.startswith("mileage.")]


def _package(path: Path) -> str:
    parts = path.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 else ""


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


def test_every_subpackage_has_a_layering_rule() -> None:
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(ALLOWED)


def test_imports_point_one_way() -> None:
    wrong = []
    for path in _modules():
        home = _package(path)
        allowed = ALLOWED.get(home, {"*"})  # mileage/__init__.py: the lazy public surface
        for name, line in _imports(path):
            parts = name.split(".")
            if len(parts) < 2 or parts[1] == home or "*" in allowed:
                continue
            if parts[1] not in allowed and parts[1] in ALLOWED:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_another_packages_private_module() -> None:
    wrong = []
    for path in _modules():
        home = _package(path)
        for name, line in _imports(path):
            parts = name.split(".")
            if len(parts) > 2 and parts[1] != home and any(p.startswith("_") for p in parts[2:]):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_no_import_hides_in_a_string() -> None:
    for path in _modules():
        text = path.read_text()
        assert 'import_module("mileage' not in text and "import_module('mileage" not in text, (
            f"{path.relative_to(ROOT)} imports a Mileage module by name; import it normally"
        )


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from mileage.cli import app\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = {'mlflow', 'sqlalchemy', 'pandas', 'numpy', 'lightgbm', 'evidently', 'great_expectations', 'openml', 'sklearn', 'dask', 'distributed'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
