"""Fault and fuzz suite for monitors: generated suite JSONs (``monitor suite --import``) and
generated batches (``monitor check``).

Properties held on every example:

* no traceback reaches the user: the command ends with exit 0, 1 (findings) or 2 (usage), and
  anything else is one of our errors on one line;
* a suite is stored only when it is sound: whatever was accepted passes ``check_suite``, and
  the next check with it runs; a refused one leaves the stored versions unchanged;
* a batch, however damaged, is checked: the report has a status and findings explain what is
  wrong; nothing crashes.

Same profiles as the collector fuzz suite: a few seeded examples on every ``make test``,
``MILEAGE_FUZZ_PROFILE=long`` for a longer search.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mileage.cli import app
from mileage.monitors import check_suite

settings.register_profile(
    "mileage-monitors-fast",
    max_examples=10,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "mileage-monitors-long",
    max_examples=200,
    derandomize=False,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PROFILE = (
    "mileage-monitors-long"
    if os.environ.get("MILEAGE_FUZZ_PROFILE") == "long"
    else "mileage-monitors-fast"
)

#: Values a careless edit or an attacker puts into a suite.
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(0, 3), max_size=2),
)


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A registered monitor (real columns: numbers, a category) and its exported suite."""
    root = tmp_path_factory.mktemp("fuzz-monitors")
    rng = np.random.default_rng(3)
    reference = pd.DataFrame(
        {
            "alcohol": rng.normal(12.0, 1.0, 120),
            "ph": rng.normal(3.3, 0.1, 120),
            "colour": rng.choice(["red", "white"], 120),
        }
    )
    reference.to_parquet(root / "ref.parquet")
    env = {"MILEAGE_DB_URL": f"sqlite:///{root / 'm.db'}", "MILEAGE_HOME": str(root / "home")}
    cli = CliRunner(env=env)
    added = cli.invoke(
        app, ["monitor", "add", "wine", "--reference", str(root / "ref.parquet"), "--owner", "t"]
    )
    assert added.exit_code == 0, added.output
    exported = root / "suite.json"
    done = cli.invoke(app, ["monitor", "suite", "wine", "--export", str(exported)])
    assert done.exit_code == 0, done.output
    # The batches below are checked against this reference and this fitted suite, so no
    # example infers a suite again. A clean batch passes (and loads the checks' libraries once).
    reference.iloc[:40].to_parquet(root / "clean.parquet")
    clean = cli.invoke(app, [*_check(root, root / "clean.parquet"), "--json"])
    assert clean.exit_code == 0, clean.output
    return {"root": root, "cli": cli, "suite": json.loads(exported.read_text())}


def _check(root: Path, batch: Path) -> list[str]:
    reference, suite = str(root / "ref.parquet"), str(root / "suite.json")
    return ["monitor", "check", "--reference", reference, "--suite", suite, "--batch", str(batch)]


def _no_traceback(result: Any) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}"
    )
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code == 2:
        assert result.stderr.strip(), "a refusal says why"


@st.composite
def suites(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """The exported suite with a few entries replaced by odd values, dropped or added."""
    spec = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(["column", "top", "bounds", "whole"]))
        if where == "whole":
            return draw(st.one_of(ODD, st.just([]), st.just({"columns": []})))
        if where == "top":
            key = draw(st.sampled_from(["format", "columns", "rows", "expectations", "extra"]))
            if draw(st.booleans()):
                spec.pop(key, None)
            else:
                spec[key] = draw(ODD)
            continue
        columns = spec.get("columns")
        if not isinstance(columns, dict) or not columns:
            continue
        name = draw(st.sampled_from(sorted(columns)))
        column = columns[name]
        if not isinstance(column, dict):
            continue
        if where == "bounds":
            column[draw(st.sampled_from(["min", "max"]))] = draw(ODD)
        else:
            key = draw(st.sampled_from(["kind", "type", "required", "max_null_fraction", "values"]))
            column[key] = draw(ODD)
    return spec


def _versions(root: Path) -> int:
    from mileage.monitors import get_monitor, list_suites
    from mileage.platform.store import TraceStore

    with TraceStore.open(f"sqlite:///{root / 'm.db'}") as store:
        return len(list_suites(store, get_monitor(store, "wine").id))


def test_fuzz_suite_import(monitored: dict[str, Any]) -> None:
    cli, base, root = monitored["cli"], monitored["suite"], monitored["root"]

    @settings(settings.get_profile(PROFILE))
    @given(spec=suites(base), as_text=st.booleans())
    def check(spec: Any, as_text: bool) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "suite.json"
            # NaN and Infinity as Python's json writes them, or a truncated file
            text = json.dumps(spec)
            path.write_text(text[: max(1, len(text) // 2)] if as_text else text)
            before = _versions(root)
            result = cli.invoke(app, ["monitor", "suite", "wine", "--import", str(path)])
            _no_traceback(result)
            after = _versions(root)
            if result.exit_code == 0:
                assert after == before + 1
                stored = json.loads(cli.invoke(app, ["monitor", "suite", "wine"]).stdout)
                check_suite(stored)  # whatever was accepted is sound
            else:
                assert after == before and len(result.stderr.strip().splitlines()) == 1

    check()


@st.composite
def batches(draw: st.DrawFn) -> pd.DataFrame:
    """Batches with the reference's columns damaged: odd numbers, text in numbers, missing,
    extra or empty columns, no rows."""
    n = draw(st.integers(0, 30))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    frame = pd.DataFrame(
        {
            "alcohol": rng.normal(12.0, 1.0, n),
            "ph": rng.normal(3.3, 0.1, n),
            "colour": rng.choice(["red", "white"], n),
        }
    )
    for _ in range(draw(st.integers(0, 3))):
        column = draw(st.sampled_from(["alcohol", "ph", "colour", "extra", ""]))
        fault = draw(st.sampled_from(["odd", "text", "drop", "null", "scale"]))
        if fault == "drop":
            frame = frame.drop(columns=[column], errors="ignore")
        elif fault == "null":
            frame[column] = None
        elif fault == "scale" and column in ("alcohol", "ph") and column in frame:
            frame[column] = frame[column] * 1000
        elif fault == "text":
            frame[column] = draw(st.text(max_size=6))
        elif n:
            values = st.floats(allow_nan=True, allow_infinity=True)
            frame[column] = draw(st.lists(values, min_size=n, max_size=n))
    return frame


#: Always tried first: the cases found by hand (infinite values, an unnamed column).
HOSTILE_BATCH = pd.DataFrame(
    {
        "alcohol": [12.0, np.inf, -np.inf, np.nan, 11.5],
        "ph": [3.3, 3.2, 3.4, 3.1, 3.3],
        "colour": ["red", "white", "red", "red", "white"],
        "": [1, 2, 3, 4, 5],
    }
)


def test_fuzz_batches(monitored: dict[str, Any]) -> None:
    cli, root = monitored["cli"], monitored["root"]
    fast = PROFILE.endswith("fast")  # each example is a whole check (validation, drift)

    @settings(settings.get_profile(PROFILE), max_examples=3 if fast else 200)
    @given(batch=batches(), fmt=st.sampled_from(["parquet", "csv"]))
    @example(batch=HOSTILE_BATCH, fmt="parquet")
    def check(batch: pd.DataFrame, fmt: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"batch.{fmt}"
            try:
                batch.to_parquet(path) if fmt == "parquet" else batch.to_csv(path, index=False)
            except (ValueError, TypeError):  # a frame pandas itself cannot write
                return
            result = cli.invoke(app, [*_check(root, path), "--json"])
            _no_traceback(result)
            if result.exit_code in (0, 1):
                report = json.loads(result.stdout)
                status = report.get("status") or report["batches"][0]["status"]
                assert status in ("ok", "warning", "failed", "blocking", "passed")
                values = [f.get("value") for f in report.get("findings", []) if "value" in f]
                assert all(v is None or math.isfinite(v) for v in values)

    check()
