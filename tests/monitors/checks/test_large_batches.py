"""Large batches checked in row groups give the findings of the in-memory check.

Data: synthetic (numeric, categorical, integer and id columns drawn with numpy), written as
Parquet with small row groups so one batch has many parts.
"""

from __future__ import annotations

import pytest

from mileage.monitors import MonitorConfig, check_batch
from mileage.monitors.checks._large import check_parquet

pytestmark = pytest.mark.slow  # starts servers or clusters, or checks big batches

#: Checks the in-memory path runs and a batch checked in parts does not (duplicates, keys).
NOT_IN_PARTS = {"repeated_row", "duplicate_rows", "key_unique"}


def kinds(report) -> set[tuple[str, str, str | None, str]]:
    return {
        (f.check_kind, f.check, f.column, f.severity.label)
        for f in report.findings
        if f.check not in NOT_IN_PARTS
    }


@pytest.mark.parametrize("name", ["clean", "bad"])
def test_row_groups_find_what_the_whole_batch_shows(large_batches, name: str) -> None:
    reference, suite, config, folder, frames = large_batches
    whole, _ = check_batch(
        frames[name], reference=reference, suite=suite, config=config, batch_id=name
    )
    parts = check_parquet(
        folder / f"{name}.parquet",
        reference=reference,
        suite=suite,
        config=config,
        batch_id=name,
        rows_per_part=3_000,
    )
    assert kinds(parts) == kinds(whole)
    assert parts.n_rows == 60_000
    assert any("checked in 9 part(s)" in note for note in parts.notes)
    if name == "bad":
        found = {(f.check, f.column) for f in parts.findings}
        assert {
            ("expect_column_values_to_be_between", "x0"),
            ("value_drift", "x1"),
            ("expect_column_values_to_be_in_set", "cat"),
            ("expect_column_values_to_not_be_null", "x2"),
            ("expect_column_values_to_be_unique", "id"),
        } <= found
        by_check = {(f.check, f.column): f for f in parts.findings}
        whole_by = {(f.check, f.column): f for f in whole.findings}
        for key in [
            ("expect_column_values_to_be_between", "x0"),
            ("expect_column_values_to_be_in_set", "cat"),
            ("expect_column_values_to_not_be_null", "x2"),
            ("expect_column_values_to_be_unique", "id"),
        ]:  # counts merged over parts equal the whole batch's
            assert by_check[key].value == pytest.approx(whole_by[key].value), key
    else:
        assert not [f for f in parts.findings if f.severity.label != "info"]


def test_the_drift_sample_does_not_depend_on_the_partitioning(large_batches) -> None:
    reference, suite, _config, folder, _ = large_batches
    small = MonitorConfig(
        name="big", reference_uri="r", id_column="id", drift={"sample_rows": 5_000}
    )
    a = check_parquet(
        folder / "bad.parquet",
        reference=reference,
        suite=suite,
        config=small,
        batch_id="b",
        rows_per_part=2_000,
    )
    b = check_parquet(
        folder / "bad.parquet",
        reference=reference,
        suite=suite,
        config=small,
        batch_id="b",
        rows_per_part=50_000,
    )

    def effects(r):
        return {(s.column, s.statistic): s.value for s in r.statistics if s.check_kind == "drift"}

    assert effects(a) == effects(b)
    assert ("x1", "effect") in effects(a)
