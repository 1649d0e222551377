"""Duplicate rows and declared keys: a join fan-out or a retried write is blocking and names
the repeated row; ids new in every batch and clean batches of any size stay quiet.

Rows are real (scikit-learn's diabetes set and the breast cancer fixture); the faults are
built from them: copies of one real row, the batch written twice, a key sent twice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mileage.monitors import BatchReport, MonitorConfig, Severity, check_batch, infer_suite
from mileage.monitors.checks import check_key_columns, duplicates_batch
from mileage.monitors.checks._duplicates import RowRepetition, shorten_row
from mileage.platform.errors import ConfigError


@pytest.fixture(scope="module")
def diabetes():
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame.drop(columns=["target"])
    rng = np.random.default_rng(0)
    order = rng.permutation(len(frame))
    return frame.iloc[order[:250]].reset_index(drop=True), frame.iloc[order[250:]].reset_index(
        drop=True
    )


def _dups(batch: pd.DataFrame, ref: pd.DataFrame, keys: tuple[str, ...] = ()) -> BatchReport:
    report = BatchReport("t", "b")
    columns = [c for c in ref.columns if c not in keys]
    duplicates_batch(batch, ref, report, where="b", columns=columns, keys=keys)
    return report


def test_join_fan_out_is_blocking_and_names_the_row(diabetes) -> None:
    ref, pool = diabetes
    row = pool.iloc[[7]]
    # 150 clean rows (row 7 among them) and 450 more copies of row 7
    batch = pd.concat([pool.iloc[:150], *[row] * 450], ignore_index=True)
    report = _dups(batch, ref)
    (finding,) = [f for f in report.findings if f.check == "repeated_row"]
    assert finding.severity == Severity.BLOCKING
    assert finding.share == pytest.approx(451 / 600) and finding.evidence["copies"] == 451
    assert not [f for f in report.findings if f.check == "duplicate_rows"]  # one fault, one finding
    assert finding.evidence["row"]["age"] == pool.iloc[7]["age"]
    assert f"age={pool.iloc[7]['age']:g}" in finding.message
    assert "copies of one row" in finding.message and finding.sample_size == 600


def test_retried_write_is_blocking(diabetes) -> None:
    ref, pool = diabetes
    batch = pd.concat([pool.iloc[:150], pool.iloc[:150]], ignore_index=True)
    report = _dups(batch, ref)
    (finding,) = [f for f in report.findings if f.check == "duplicate_rows"]
    assert finding.severity == Severity.BLOCKING
    assert finding.value == pytest.approx(0.5) and finding.evidence["duplicate_rows"] == 150
    assert (finding.reference_bound or 1) < 0.5


@pytest.mark.parametrize("size", [30, 150])
def test_clean_batches_are_quiet(diabetes, size) -> None:
    ref, pool = diabetes
    assert _dups(pool.sample(n=size, random_state=size), ref).findings == []


def test_natural_repetition_scales_with_batch_size(cancer) -> None:
    # coarse real columns repeat by nature: a large clean batch holds many equal rows
    def coarse(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "radius": (frame["mean_radius"] // 4).astype(int),
                "texture": (frame["mean_texture"] // 8).astype(int),
            }
        )

    ref = coarse(cancer.reference)
    assert RowRepetition.of(ref).duplicate_rows > 300
    batch = coarse(cancer.held_out.sample(n=20_000, replace=True, random_state=4))
    assert _dups(batch, ref).findings == []


def test_declared_key_must_be_unique(cancer) -> None:
    ref = cancer.reference.drop(columns=["label"])
    batch = cancer.held_out.drop(columns=["label"]).iloc[:100]
    assert _dups(batch, ref, keys=("id",)).findings == []
    twice = pd.concat([batch, batch.iloc[[3]]], ignore_index=True)
    (finding,) = _dups(twice, ref, keys=("id",)).findings
    assert (finding.check, finding.column, finding.severity) == (
        "key_unique",
        "id",
        Severity.BLOCKING,
    )
    assert finding.evidence["key"] == {"id": int(batch["id"].iloc[3])}
    assert finding.share == pytest.approx(2 / 101)
    assert f"id={int(batch['id'].iloc[3])} appears 2 times" in finding.message


def test_key_columns_are_checked_against_the_reference() -> None:
    check_key_columns(["id"], ["id", "x"])
    with pytest.raises(ConfigError, match=r"--key 'order_id': the reference has no such column"):
        check_key_columns(["order_id"], ["id", "x"])


def test_shorten_row_cuts_long_values() -> None:
    row = pd.Series({f"c{i}": "x" * 100 if i == 0 else i for i in range(12)}, dtype=object)
    short = shorten_row(row)
    assert len(short["c0"]) == 40 and short["…"] == "4 more columns"


def test_ids_new_in_every_batch_and_a_small_clean_batch_stay_quiet(cancer) -> None:
    ref = cancer.reference.drop(columns=["label"])
    config = MonitorConfig(name="cancer", reference_uri="reference.parquet", key_columns=["id"])
    suite = infer_suite(ref, exclude=config.excluded)
    # ids in the batch all lie beyond the reference's: new in every batch
    batch = cancer.held_out.drop(columns=["label"]).iloc[:40].assign(id=lambda f: f["id"] + 10_000)
    report, _ = check_batch(batch, reference=ref, suite=suite, config=config, batch_id="b")
    assert [f for f in report.findings if f.severity >= Severity.WARNING] == []
    fanned = pd.concat([batch, *[batch.iloc[[0]]] * 60], ignore_index=True)
    report, _ = check_batch(fanned, reference=ref, suite=suite, config=config, batch_id="b2")
    assert {f.check for f in report.findings if f.blocking} == {"repeated_row", "key_unique"}
