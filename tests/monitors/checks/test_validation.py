"""Validation with Great Expectations: each fixture fails exactly its
expectation, a clean batch passes, bad batches give findings instead of crashes.

Numeric columns are the real breast cancer measurements; the ``state`` column with 50 values
is synthetic (added to the real rows to reproduce the seed's "50 states, only 40" example).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mileage.monitors import BatchReport, Severity, infer_suite, validate_batch
from mileage.monitors.checks._suite import check_suite, plan_checks
from mileage.platform.errors import ConfigError

STATES = [f"S{i:02d}" for i in range(50)]  # synthetic


@pytest.fixture(scope="module")
def frames(cancer):
    rng = np.random.default_rng(0)
    ref = cancer.reference.drop(columns=["label"]).copy()
    ref["state"] = rng.choice(STATES, len(ref))
    # a batch large enough that every state shows up (2,000 real rows resampled)
    held = cancer.held_out.drop(columns=["label"])
    batch = held.sample(n=2000, replace=True, random_state=1).reset_index(drop=True)
    batch["id"] = np.arange(len(batch))
    batch["state"] = rng.choice(STATES, len(batch))
    suite = infer_suite(ref, id_column="id")
    return ref, batch, suite


def _failures(batch: pd.DataFrame, suite: dict) -> list[tuple[str, str | None]]:
    report = BatchReport("t", "b")
    validate_batch(batch, suite, report, where="batch b", id_column="id")
    return [(f.check, f.column) for f in report.findings if f.severity >= Severity.WARNING]


def test_clean_batch_passes(frames) -> None:
    _, batch, suite = frames
    assert _failures(batch, suite) == []


def test_missing_column_fails_only_its_existence(frames) -> None:
    _, batch, suite = frames
    report = BatchReport("churn", "2026-11-20")
    validate_batch(
        batch.drop(columns=["mean_area"]), suite, report, where="monitor 'churn' batch 2026-11-20"
    )
    assert [(f.check, f.column) for f in report.findings] == [
        ("expect_column_to_exist", "mean_area")
    ]
    message = report.findings[0].message
    assert (
        "'mean_area' is in the reference data but not in the batch (10 columns received)" in message
    )
    assert "--drop-column mean_area" in message


def test_out_of_bounds_value_fails_only_its_bounds(frames) -> None:
    _, batch, suite = frames
    bad = batch.copy()
    bad.loc[7, "mean_radius"] = 400.0
    report = BatchReport("t", "b")
    validate_batch(bad, suite, report, where="b", id_column="id")
    (finding,) = [f for f in report.findings if f.severity >= Severity.WARNING]
    assert (finding.check, finding.column) == ("expect_column_values_to_be_between", "mean_radius")
    assert finding.evidence["values"] == [400.0]
    assert finding.evidence["rows"] == [{"mean_radius": 400.0, "id": 7}]
    assert finding.threshold == 0.0 and finding.value == pytest.approx(1 / 2000)


def test_excess_nulls_fail_only_the_null_check(frames) -> None:
    _, batch, suite = frames
    bad = batch.copy()
    bad.loc[:149, "worst_texture"] = np.nan
    assert _failures(bad, suite) == [("expect_column_values_to_not_be_null", "worst_texture")]


def test_forty_of_fifty_states_fail_only_the_expected_values(frames) -> None:
    _, batch, suite = frames
    bad = batch.copy()
    bad["state"] = np.random.default_rng(3).choice(STATES[:40], len(bad))
    report = BatchReport("t", "b")
    validate_batch(bad, suite, report, where="b")
    (finding,) = report.findings
    assert (finding.check, finding.column) == (
        "expect_column_distinct_values_to_contain_set",
        "state",
    )
    # every state common enough in the 341-row reference to be required (>= 1% share)
    required = set(suite["columns"]["state"]["expected"])
    assert len(required) >= 45
    assert set(finding.evidence["missing_values"]) == required & set(STATES[40:])
    assert finding.evidence["n_missing"] == len(required & set(STATES[40:])) >= 8


def test_small_batches_do_not_require_every_state(frames) -> None:
    _, batch, suite = frames
    small = batch.head(60)  # 60 rows cannot show 50 states
    checks, _ = plan_checks(suite, small)
    assert "expected:state" not in {c.key for c in checks}
    assert _failures(small, suite) == []


def test_wrong_type_fails_the_type_check_and_skips_value_checks(frames) -> None:
    _, batch, suite = frames
    bad = batch.copy()
    bad["mean_radius"] = bad["mean_radius"].map(lambda v: f"{v:.2f} mm")
    report = BatchReport("t", "b")
    validate_batch(bad, suite, report, where="b")
    assert [(f.check, f.column) for f in report.findings] == [
        ("expect_column_values_to_be_in_type_list", "mean_radius")
    ]
    assert report.findings[0].evidence["observed_type"] == "object"
    assert any("mean_radius" in n and "skipped" in n for n in report.notes)


def test_empty_batch_gives_one_blocking_finding(frames) -> None:
    _, batch, suite = frames
    report = BatchReport("t", "b")
    validate_batch(batch.iloc[:0], suite, report, where="b")
    (finding,) = report.findings
    assert finding.severity == Severity.BLOCKING and finding.statistic == "row_count"
    assert "empty" in finding.message


def test_extra_columns_are_reported_as_info(frames) -> None:
    _, batch, suite = frames
    report = BatchReport("t", "b")
    validate_batch(batch.assign(new_feature=1.0), suite, report, where="b")
    (finding,) = report.findings
    assert finding.severity == Severity.INFO and finding.evidence["columns"] == ["new_feature"]


def test_suite_is_plain_json_and_edits_are_checked(frames) -> None:
    ref, batch, suite = frames
    assert json.loads(json.dumps(suite)) == suite
    assert suite["columns"]["id"]["kind"] == "identifier"
    assert suite["columns"]["state"]["domain"] == STATES
    assert suite["columns"]["mean_radius"]["min"] <= ref["mean_radius"].min()
    edited = json.loads(json.dumps(suite))
    edited["columns"]["mean_radius"]["max"] = 10.0  # a user tightens a bound
    report = BatchReport("t", "b")
    validate_batch(batch, edited, report, where="b")
    assert {f.column for f in report.findings} == {"mean_radius"}
    edited["columns"]["mean_radius"]["max_null_fraction"] = 2
    with pytest.raises(ConfigError, match="'max_null_fraction' must be a fraction"):
        check_suite(edited)


def test_custom_expectations_run_verbatim(frames) -> None:
    _, batch, suite = frames
    spec = {
        **suite,
        "expectations": [
            {
                "type": "expect_column_mean_to_be_between",
                "kwargs": {"column": "mean_radius", "min_value": 100, "max_value": 200},
                "severity": "warning",
            }
        ],
    }
    report = BatchReport("t", "b")
    validate_batch(batch, check_suite(spec), report, where="b")
    (finding,) = report.findings
    assert (
        finding.check == "expect_column_mean_to_be_between" and finding.severity == Severity.WARNING
    )
