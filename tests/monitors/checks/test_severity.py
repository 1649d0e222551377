"""Severity from evidence (validation): unseen categories and constant columns are judged
against what the reference's own sampling noise explains at the batch's size.

Rows are real (scikit-learn's breast cancer and wine sets); the categorical column is the
real ``mean_area`` cut into bands, and the rare band, the renaming and the stuck or
near-constant columns are constructed from those rows as described in each test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mileage.monitors import BatchReport, Severity, infer_suite, validate_batch
from mileage.monitors.checks._evidence import ALPHA, miss_probability, share_lower
from mileage.monitors.checks._suite import constant_rows, plan_checks
from mileage.monitors.checks._validation import PLAUSIBLE, domain_severity

BANDS = ["small", "medium", "large"]


def _band(area: pd.Series) -> pd.Series:
    return pd.Series(
        np.select([area < 500, area < 900], BANDS[:2], BANDS[2]), index=area.index, dtype=object
    )


@pytest.fixture(scope="module")
def banded(cancer):
    cols = ["mean_radius", "mean_texture", "mean_area"]
    ref = cancer.reference[cols].copy()
    ref["band"] = _band(ref["mean_area"])
    held = cancer.held_out[cols]
    batch = held.sample(n=5000, replace=True, random_state=1).reset_index(drop=True)
    batch["band"] = _band(batch["mean_area"])
    return ref, batch, infer_suite(ref)


def _domain_findings(batch: pd.DataFrame, suite: dict) -> list:
    report = BatchReport("t", "b")
    validate_batch(batch, suite, report, where="b", monitor="cancer")
    return [f for f in report.findings if f.check == "expect_column_values_to_be_in_set"]


def test_rare_legitimate_category_is_info_with_a_widen_suggestion(banded) -> None:
    ref, batch, suite = banded
    rare = batch.copy()
    # the largest tumours (1 row in 500) get a band of their own the reference never needed
    rare.loc[rare["mean_area"].nlargest(10).index, "band"] = "very large"
    (finding,) = _domain_findings(rare, suite)
    assert finding.severity == Severity.INFO
    assert finding.share == pytest.approx(10 / 5000) and finding.sample_size == 5000
    assert finding.evidence["reference_rows"] == len(ref)
    assert finding.evidence["basis"]["share"] == pytest.approx(0.002)
    assert "probably legitimate but rare; widen the domain" in finding.message
    assert "mileage monitor suite cancer --export" in finding.message


def test_renamed_frequent_category_is_blocking(banded) -> None:
    _, batch, suite = banded
    renamed = batch.assign(band=batch["band"].replace({"medium": "mid"}))
    (finding,) = _domain_findings(renamed, suite)
    assert finding.severity == Severity.BLOCKING
    assert finding.evidence["reference_values_absent"] == ["medium"]
    assert finding.evidence["new_values"] == {"mid": int((batch["band"] == "medium").sum())}
    assert "while medium no longer appear" in finding.message
    assert finding.evidence["reference_miss_probability"] < ALPHA


@pytest.mark.parametrize(
    ("new_rows", "n", "reference_rows"),
    [(10, 5000, 341), (1, 60, 341), (30, 200, 341), (3, 40, 178), (400, 5000, 341)],
)
def test_domain_severity_follows_the_documented_rule(new_rows, n, reference_rows) -> None:
    severity, low, missed = domain_severity(new_rows, n, reference_rows)
    assert low == share_lower(new_rows, n)
    assert missed == pytest.approx((1 - low) ** reference_rows)
    expected = (
        Severity.INFO
        if missed >= PLAUSIBLE
        else Severity.WARNING
        if missed >= ALPHA
        else Severity.BLOCKING
    )
    assert severity == expected


def test_domain_severity_boundaries() -> None:
    # walk the new-row count of a 2,000-row batch against a 341-row reference: the severity
    # rises exactly where the reference's miss probability crosses 5% and then 0.1%
    levels = [domain_severity(k, 2000, 341) for k in range(1, 200)]
    severities = [s for s, _, _ in levels]
    assert severities == sorted(severities)
    first_warning = severities.index(Severity.WARNING)
    first_blocking = severities.index(Severity.BLOCKING)
    assert levels[first_warning - 1][2] >= PLAUSIBLE > levels[first_warning][2]
    assert levels[first_blocking - 1][2] >= ALPHA > levels[first_blocking][2]
    assert 0 < first_warning < first_blocking


def test_constant_rows_bound() -> None:
    # one rare value in 341 rows: its share may be as small as 3e-6, so millions of rows
    assert (constant_rows(1, 341, 1e-4) or 0) > 1_000_000
    # a varying column: a handful of rows
    assert (constant_rows(340, 341, 1e-4) or 99) <= 3
    rows = constant_rows(40, 341, 1e-4)
    assert rows is not None
    low = share_lower(40, 341)
    assert miss_probability(low, rows) < 1e-4 <= miss_probability(low, rows - 1)
    assert constant_rows(0, 341, 1e-4) is None


@pytest.fixture(scope="module")
def wine():
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.drop(columns=["target"])
    return frame[["alcohol", "magnesium", "proline"]].copy()


def test_near_constant_column_quiet_on_a_large_clean_batch(wine) -> None:
    ref = wine.copy()
    # near-constant: 1 for the single wine with the highest proline, else 0
    ref["premium"] = (ref["proline"] == ref["proline"].max()).astype(int)
    suite = infer_suite(ref)
    assert suite["columns"]["premium"]["observed"]["distinct"] == 2
    batch = wine.sample(n=200_000, replace=True, random_state=2).reset_index(drop=True)
    batch["premium"] = 0  # a clean batch that happens to hold only the common value
    checks, _ = plan_checks(suite, batch)
    assert "cardinality:premium" not in {c.key for c in checks}
    report = BatchReport("t", "b")
    validate_batch(batch, suite, report, where="b")
    assert [f for f in report.findings if f.severity >= Severity.WARNING] == []


def test_stuck_varying_column_is_blocking(wine) -> None:
    suite = infer_suite(wine)
    batch = wine.sample(n=40, random_state=3).reset_index(drop=True)
    quiet = BatchReport("t", "b")
    validate_batch(batch, suite, quiet, where="b")
    assert quiet.findings == []  # a clean batch of a few dozen rows
    stuck = batch.assign(magnesium=batch["magnesium"].iloc[0])
    report = BatchReport("t", "b")
    validate_batch(stuck, suite, report, where="b")
    (finding,) = report.findings
    assert (finding.check, finding.column) == (
        "expect_column_unique_value_count_to_be_between",
        "magnesium",
    )
    assert finding.severity == Severity.BLOCKING
    assert finding.evidence["clean_batch_probability"] < 1e-4
    assert finding.sample_size == 40 and (finding.reference_bound or 0) > 0.5
    assert "constant with probability" in finding.message


def test_old_findings_and_suites_still_load(banded) -> None:
    _, batch, suite = banded
    # a suite stored before the evidence fields: no observed rows on its columns
    old = {**suite, "columns": {k: dict(v) for k, v in suite["columns"].items()}}
    old["columns"]["band"].pop("observed")
    renamed = batch.assign(band=batch["band"].replace({"medium": "mid"}))
    (finding,) = _domain_findings(renamed, old)
    assert finding.evidence["reference_rows"] == suite["reference"]["rows"]
    assert finding.severity == Severity.BLOCKING
