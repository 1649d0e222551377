"""Retraining cadence on replays with a known decay.

The replays are SYNTHETIC decay built from real data: a logistic regression trained on the
breast cancer reference rows scores held-out rows, and a batch served by a model ``a`` days
old has each prediction flipped with a probability that grows with ``a``, so the expected
accuracy is ``acc0 - rate * a`` exactly. The oracle cadence is then the longest grid cadence
whose expected accuracy at that age meets the SLO (never below training plus validation)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mileage.cli import app
from mileage.monitors import BatchReport, MonitorConfig, create_monitor
from mileage.monitors._registry import get_monitor, save_report
from mileage.monitors.checks.cadence import (
    DAY,
    GRID,
    HOUR,
    METHODS,
    DecayPoint,
    cadence_for_monitor,
    recommend_cadence,
)
from mileage.platform.store import TraceStore, utcnow

MARGIN = 0.05  # the SLO sits this far below a fresh model's accuracy


@pytest.fixture(scope="module")
def scored(cancer) -> pd.DataFrame:
    """Held-out rows with a real model's predictions (accuracy about 0.95)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    model.fit(cancer.reference[cancer.features], cancer.reference["label"])
    rows = cancer.held_out.copy()
    rows["prediction"] = model.predict(rows[cancer.features])
    return rows


def decaying_replay(
    scored: pd.DataFrame, rate_per_day: float, ages_days: np.ndarray, *, rows: int, seed: int
) -> tuple[list[DecayPoint], float]:
    """SYNTHETIC: one batch per age whose accuracy decays by ``rate_per_day`` per day of age.

    Each batch samples ``rows`` real rows; each prediction is flipped with probability
    ``rate * age / (2 * acc0 - 1)``, so E[accuracy] = acc0 - rate * age (until it saturates).

    Returns:
        The points and ``acc0``, the model's accuracy on all held-out rows.
    """
    rng = np.random.default_rng(seed)
    right = (scored["prediction"] == scored["label"]).to_numpy()
    acc0 = float(right.mean())
    points = []
    for i, age in enumerate(ages_days):
        picked = right[rng.integers(0, len(right), rows)]
        flip = rng.random(rows) < min(1.0, rate_per_day * age / (2 * acc0 - 1))
        accuracy = float(np.where(flip, ~picked, picked).mean())
        points.append(DecayPoint(age * DAY, accuracy, rows, f"b{i}", "m/1"))
    return points, acc0


def oracle(acc0: float, rate: float, slo: float, training_hours: float) -> int:
    """Grid index of the longest allowed cadence whose expected accuracy meets the SLO."""
    allowed = [i for i, (_, sec) in enumerate(GRID) if sec >= training_hours * HOUR]
    ok = [i for i in allowed if acc0 - rate * GRID[i][1] / DAY >= slo]
    return ok[-1] if ok else allowed[0]


RATES = (0.001, 0.004, 0.02, 0.08, 0.5)  # per day: oracles 30d, 1w, 2d, 6h, the 6h floor


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("rate", RATES)
def test_the_recommendation_is_within_one_grid_step_of_the_oracle(scored, rate, method) -> None:
    horizon = max(3 * MARGIN / rate, 2.0)  # model ages well past the oracle's
    points, acc0 = decaying_replay(
        scored, rate, np.linspace(0, horizon, 40), rows=200, seed=int(rate * 1000)
    )
    slo = acc0 - MARGIN
    rec = recommend_cadence(points, slo=slo, method=method)
    labels = [label for label, _ in GRID]
    assert rec.enough and rec.cadence is not None
    want = oracle(acc0, rate, slo, 4.0)
    assert abs(labels.index(rec.cadence) - want) <= 1, (rec.cadence, labels[want], rec.reasoning)
    assert rec.cadence_seconds is not None and rec.cadence_seconds >= 4 * HOUR
    assert rec.decay_per_day is not None and rec.decay_per_day == pytest.approx(-rate, rel=0.3)


@pytest.mark.parametrize("training_hours", [4.0, 30.0, 24 * 10.0])
def test_never_shorter_than_training_and_validation(scored, training_hours) -> None:
    points, acc0 = decaying_replay(scored, 0.5, np.linspace(0, 2, 30), rows=200, seed=3)
    rec = recommend_cadence(points, slo=acc0 - MARGIN, training_hours=training_hours)
    assert rec.cadence_seconds is not None and rec.cadence_seconds >= training_hours * HOUR
    assert rec.keeps_threshold is False  # decays faster than it can be retrained
    assert any("retraining more often cannot fix this" in r for r in rec.reasoning)
    assert rec.cadence == next(label for label, s in GRID if s >= training_hours * HOUR)


def test_without_an_slo_the_tolerated_drop_from_a_fresh_model_decides(scored) -> None:
    points, acc0 = decaying_replay(scored, 0.01, np.linspace(0, 20, 40), rows=200, seed=4)
    rec = recommend_cadence(points, tolerance=0.05)
    assert rec.threshold_from == "tolerance" and rec.fresh == pytest.approx(acc0, abs=0.02)
    assert rec.cadence in ("2d", "1w", "2w")  # the oracle is 1w (5 days of decay)


def test_not_enough_history_says_so() -> None:
    rec = recommend_cadence([DecayPoint(0, 0.9), DecayPoint(DAY, 0.89)])
    assert not rec.enough and rec.cadence is None
    assert "not enough labelled history: 2 batch(es)" in rec.reasoning[0]


def _history(store: TraceStore, scored: pd.DataFrame, rate: float) -> None:
    """Stored runs of a monitor served by one model version, ages 0-20 days (SYNTHETIC decay)."""
    record = get_monitor(store, "cancer")
    points, _ = decaying_replay(scored, rate, np.linspace(0, 20, 30), rows=200, seed=5)
    start = pd.Timestamp("2026-11-01", tz="UTC").timestamp()
    for p in points:
        report = BatchReport("cancer", p.batch_id, "cancer/1", 200, 10)
        for name, value in (
            ("predictions", 200),
            ("labelled", 200),
            ("final", 1.0),
            ("predicted_at", start + p.age_seconds),
            ("accuracy", p.value),
            ("accuracy_sum", p.value * 200),
        ):
            report.stat("performance", None, name, value)
        save_report(store, record, report, kind="check", suite_version=1, started_at=utcnow())


def test_the_cadence_command_reads_the_stored_history(
    sqlite_store: TraceStore, cancer, scored, tmp_path: Path, monkeypatch
) -> None:
    cancer.reference.to_parquet(tmp_path / "ref.parquet")
    create_monitor(
        sqlite_store,
        MonitorConfig(
            name="cancer", reference_uri=str(tmp_path / "ref.parquet"), performance={"slo": 0.9}
        ),
    )
    monkeypatch.setenv("MILEAGE_HOME", str(tmp_path / "home"))
    argv = ["--db-url", sqlite_store.url, "monitor", "cadence", "cancer"]
    empty = CliRunner().invoke(app, argv)
    assert empty.exit_code == 0, empty.output
    assert "not enough labelled history: 0 batch(es)" in empty.output
    _history(sqlite_store, scored, 0.01)
    rec = cadence_for_monitor(sqlite_store, "cancer")
    assert rec.enough and rec.points == 30
    assert any("counts from the first batch it served" in r for r in rec.reasoning)
    result = CliRunner().invoke(app, [*argv, "--training-hours", "30", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["cadence"] == cadence_for_monitor(sqlite_store, "cancer", training_hours=30).cadence
    assert data["floor_seconds"] == 30 * HOUR and data["cadence_seconds"] >= 30 * HOUR
    human = CliRunner().invoke(app, argv)
    assert "per day of model age" in human.output and "recommended cadence: every" in human.output


@pytest.mark.parametrize("text", ["0.001s", "0.5", "1000000d", "99999999999d", "53w"])
def test_a_cadence_outside_a_second_to_a_year_is_refused(text: str) -> None:
    from mileage.monitors import cadence_seconds
    from mileage.platform.errors import ConfigError

    with pytest.raises(ConfigError, match=r"between 1s and 365d"):
        cadence_seconds(text)


@pytest.mark.parametrize(("text", "seconds"), [("1s", 1.0), ("1", 1.0), ("365d", 31_536_000.0)])
def test_the_bounds_themselves_are_cadences(text: str, seconds: float) -> None:
    from mileage.monitors import cadence_seconds

    assert cadence_seconds(text) == seconds
