"""The examples in the docstrings run and print what they say.

Each module whose source holds an example (``>>>``) is imported under its package name (as a
user imports it, so no module is loaded twice) and its examples run with :mod:`doctest`.
Examples that need a network, a server or minutes carry ``# doctest: +SKIP``; every other
example must pass. A second test imports every module of the package, so that no module needs
an optional extra (``pymfe``, ``flaml``) at import time.
"""

from __future__ import annotations

import doctest
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import mileage

SRC = Path(mileage.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runs_an_example(path: Path) -> bool:
    """Whether the file holds an example that is not marked ``+SKIP``."""
    return any(
        line.lstrip().startswith(">>>") and "doctest: +SKIP" not in line
        for line in path.read_text(encoding="utf-8").splitlines()
    )


WITH_EXAMPLES = sorted(_module_name(p) for p in SRC.rglob("*.py") if _runs_an_example(p))


def test_examples_are_found() -> None:
    assert "mileage.platform.settings" in WITH_EXAMPLES
    assert "mileage.metalearner.warmstart._ranker" in WITH_EXAMPLES
    assert "mileage.testing.servers" not in WITH_EXAMPLES  # every example there is +SKIP


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples_pass(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    monkeypatch.setenv("MILEAGE_HOME", str(tmp_path / "home"))
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.FAIL_FAST
    )
    for test in tests:  # only docstrings defined in this module (DocTestFinder checks)
        runner.run(test, out=print)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0, f"no example ran in {name}"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"


IMPORT_ALL = """
import importlib, json, pkgutil, sys
import mileage
failed = {}
for info in pkgutil.walk_packages(mileage.__path__, prefix="mileage."):
    if info.name.endswith((".__main__", ".migrations.env")):
        continue  # the command line, and Alembic's script (run by Alembic only)
    try:
        importlib.import_module(info.name)
    except ImportError as exc:
        failed[info.name] = repr(exc)
extras = ("pymfe", "flaml")
print(json.dumps({"failed": failed, "extras": [m for m in extras if m in sys.modules]}))
"""


@pytest.mark.slow
def test_every_module_imports_without_the_optional_extras() -> None:
    """``mileage`` imports the optional extras only inside the functions that use them: in a
    fresh interpreter, every module imports and none of the extras gets loaded."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}
    assert result["extras"] == [], f"imported at module level: {result['extras']}"
