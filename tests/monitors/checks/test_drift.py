"""Drift: shift injected in k of F features is detected in exactly those k;
a large sample of unchanged data does not alarm; small effects alarm only when they persist.

Data: the RAND health insurance experiment (statsmodels, 20,190 real records)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mileage.monitors import BatchReport, DriftOptions, Severity, drift_batch


@pytest.fixture(scope="module")
def randhie() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    import statsmodels.api as sm

    data = sm.datasets.randhie.load_pandas().data.sample(frac=1.0, random_state=0)
    data["health"] = np.select(
        [data.hlthg == 1, data.hlthf == 1, data.hlthp == 1], ["good", "fair", "poor"], "excellent"
    )
    data = data.drop(columns=["hlthg", "hlthf", "hlthp"]).reset_index(drop=True)
    columns = {c: "numeric" for c in data.columns if c != "health"} | {"health": "categorical"}
    half = len(data) // 2
    return data.iloc[:half].reset_index(drop=True), data.iloc[half:].reset_index(drop=True), columns


def _named(report: BatchReport) -> set[str]:
    return report.columns_named(Severity.WARNING)


def test_shift_in_k_of_f_features_is_found_in_exactly_those(randhie) -> None:
    ref, pool, columns = randhie
    batch = pool.sample(n=2000, random_state=1).reset_index(drop=True)
    shifted = ["lncoins", "lpi", "disea"]
    for c in shifted:  # half a standard deviation
        batch[c] = batch[c] + 0.5 * ref[c].std()
    report = BatchReport("t", "b")
    levels = drift_batch(ref, batch, columns, report, where="b")
    assert _named(report) == set(shifted)
    assert set(levels) == set(columns)  # every column was tested
    finding = next(f for f in report.findings if f.column == "lpi")
    assert finding.statistic == "wasserstein_normed" and (finding.value or 0) >= 0.1
    assert finding.evidence["p_adjusted"] < 0.01 and finding.evidence["columns_tested"] == len(
        columns
    )
    assert "mean" in finding.message and "Holm" in finding.message


def test_large_unchanged_sample_does_not_alarm(randhie) -> None:
    ref, pool, columns = randhie
    # 100,000 rows of the same population: every p-value test would call this drift
    batch = pool.sample(n=100_000, replace=True, random_state=2).reset_index(drop=True)
    report = BatchReport("t", "b")
    drift_batch(ref, batch, columns, report, where="b")
    assert _named(report) == set()
    effects = {s.column: s.value or 0.0 for s in report.statistics if s.statistic == "effect"}
    assert max(effects.values()) < 0.05


def test_category_share_change_is_found(randhie) -> None:
    ref, pool, _ = randhie
    poor = pool[pool.health == "poor"]
    batch = pd.concat(
        [pool.sample(n=1500, random_state=3), poor.sample(n=500, replace=True, random_state=4)]
    )
    report = BatchReport("t", "b")
    drift_batch(ref, batch, {"health": "categorical", "lpi": "numeric"}, report, where="b")
    (finding,) = report.findings
    assert finding.column == "health" and finding.statistic == "jensenshannon"
    assert finding.evidence["batch"]["top"]["poor"] > finding.evidence["reference"]["top"]["poor"]


def test_small_effect_alarms_only_when_it_persists(randhie) -> None:
    ref, pool, _ = randhie
    batch = pool.sample(n=20_000, replace=True, random_state=5).reset_index(drop=True)
    batch["lpi"] = batch["lpi"] + 0.07 * ref["lpi"].std()  # between watch (0.05) and 0.1
    options = DriftOptions(persistence=3)
    first = BatchReport("t", "b1")
    levels = drift_batch(ref, batch, {"lpi": "numeric"}, first, where="b1", options=options)
    assert levels == {"lpi": 1} and first.findings == []
    third = BatchReport("t", "b3")
    drift_batch(
        ref, batch, {"lpi": "numeric"}, third, where="b3", options=options, history={"lpi": [1, 1]}
    )
    (finding,) = third.findings
    assert finding.severity == Severity.WARNING and finding.evidence["consecutive_batches"] == 3
    assert finding.threshold == options.watch


def test_sustained_large_drift_becomes_blocking(randhie) -> None:
    ref, pool, _ = randhie
    batch = pool.sample(n=2000, random_state=6).reset_index(drop=True)
    batch["lpi"] = batch["lpi"] + 0.5 * ref["lpi"].std()
    report = BatchReport("t", "b")
    drift_batch(ref, batch, {"lpi": "numeric"}, report, where="b", history={"lpi": [0, 2, 2]})
    (finding,) = report.findings
    assert finding.severity == Severity.BLOCKING and "sustained" in finding.message
    broken = BatchReport("t", "b")
    drift_batch(ref, batch, {"lpi": "numeric"}, broken, where="b", history={"lpi": [2, 0]})
    assert broken.findings[0].severity == Severity.WARNING


def test_columns_that_cannot_be_compared_are_skipped(randhie) -> None:
    ref, pool, columns = randhie
    batch = pool.head(500).drop(columns=["lpi"]).assign(disea="n/a")
    report = BatchReport("t", "b")
    levels = drift_batch(ref, batch, columns, report, where="b")
    assert "lpi" not in levels and "disea" not in levels and "lncoins" in levels


def test_direct_stat_tests_give_the_report_scores(randhie) -> None:
    """The check calls Evidently's stat tests without a Report (no figures rendered); the
    scores are exactly those of ``ValueDrift`` in a Report, shifted columns and missing values
    included."""
    from mileage.monitors.checks._drift import evidently_report_scores, evidently_scores

    ref, pool, columns = randhie
    batch = pool.sample(n=3000, random_state=2).reset_index(drop=True)
    batch["lpi"] = batch["lpi"] + ref["lpi"].std()
    batch.loc[::5, "idp"] = np.nan
    batch.loc[::4, "health"] = "unknown"
    chosen = {c: columns[c] for c in ("lpi", "idp", "lncoins", "health")}
    options = DriftOptions()
    direct = evidently_scores(ref, batch, chosen, options)
    via_report = evidently_report_scores(ref, batch, chosen, options)
    assert set(direct) == set(chosen)
    assert direct == pytest.approx(via_report, abs=1e-12)
    assert direct["lpi"] > 0.5 and direct["health"] > 0.1
