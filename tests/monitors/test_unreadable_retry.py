"""A batch that could not be read (half-written by its producer) is read again by later runs,
with a growing pause, and stops being retried after a bounded number of tries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from mileage.monitors import MonitorConfig, MonitorRunner, create_monitor
from mileage.monitors._registry import MAX_READ_TRIES, checked_batches
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t


@pytest.fixture
def files(cancer, tmp_path: Path) -> dict[str, Path]:
    """A reference and three batches of the real breast-cancer data, no model."""
    ref = tmp_path / "ref.parquet"
    cancer.reference.drop(columns=["label"]).to_parquet(ref)
    batches = tmp_path / "batches"
    batches.mkdir()
    held = cancer.held_out.drop(columns=["label"])
    for i in range(3):
        held.iloc[i * 75 : (i + 1) * 75].to_parquet(batches / f"2026-11-{20 + i}.parquet")
    return {"ref": ref, "batches": batches}


def _config(files: dict[str, Path]) -> MonitorConfig:
    return MonitorConfig(
        name="cancer",
        reference_uri=str(files["ref"]),
        batches_uri=str(files["batches"]),
        id_column="id",
        owner="oncology-ml",
    )


def _age_runs(store: TraceStore, hours: float) -> None:
    """Move recorded runs into the past, as if the next run came later."""
    with store.begin() as conn:
        for run_id, started in conn.execute(
            select(t.monitor_runs.c.id, t.monitor_runs.c.started_at)
        ):
            conn.execute(
                update(t.monitor_runs)
                .where(t.monitor_runs.c.id == run_id)
                .values(started_at=started - timedelta(hours=hours))
            )


def test_half_written_batch_is_retried_on_later_runs(
    sqlite_store: TraceStore, files: dict[str, Path], tmp_path: Path
) -> None:
    good = files["batches"] / "2026-11-22.parquet"
    complete = good.read_bytes()
    late = files["batches"] / "2026-11-23.parquet"
    late.write_bytes(complete[:3000])  # the producer is still writing
    create_monitor(sqlite_store, _config(files))
    first = {r.batch_id: r for r in MonitorRunner(sqlite_store, "cancer", home=tmp_path).run()}
    (finding,) = first["2026-11-23"].findings
    assert finding.check == "read_batch" and f"try 1 of {MAX_READ_TRIES}" in finding.message
    late.write_bytes(complete)  # the write finished
    second = MonitorRunner(sqlite_store, "cancer", home=tmp_path).run()
    assert [r.batch_id for r in second] == ["2026-11-23"]
    assert not any(f.check == "read_batch" for f in second[0].findings)
    assert checked_batches(sqlite_store, 1)["2026-11-23"]["checked"]


def test_unreadable_batch_backs_off_then_stops_after_bounded_tries(
    sqlite_store: TraceStore, files: dict[str, Path], tmp_path: Path
) -> None:
    (files["batches"] / "2026-11-23.parquet").write_bytes(b"never a parquet file")
    create_monitor(sqlite_store, _config(files))
    runner = MonitorRunner(sqlite_store, "cancer", home=tmp_path)
    assert len(runner.run()) == 4  # three good batches and the unreadable one
    messages = []
    for _ in range(MAX_READ_TRIES - 1):
        again = MonitorRunner(sqlite_store, "cancer", home=tmp_path).run()
        assert [r.batch_id for r in again] == ["2026-11-23"]
        messages.append(again[0].findings[0].message)
        # right after a failed try the pause has not passed: nothing to do
        if len(messages) > 1:
            assert MonitorRunner(sqlite_store, "cancer", home=tmp_path).run() == []
        _age_runs(sqlite_store, hours=24)
    assert "no longer retried" in messages[-1] and "--batch 2026-11-23" in messages[-1]
    assert MonitorRunner(sqlite_store, "cancer", home=tmp_path).run() == []


def _corrupt_row_group(path: Path, good: Path, row_group: int) -> None:
    """A copy of ``good`` whose one row group's page header is overwritten (bytes flipped on
    disk), the others intact."""
    import pyarrow.parquet as pq

    column = pq.ParquetFile(good).metadata.row_group(row_group).column(1)
    data = bytearray(good.read_bytes())
    start = column.data_page_offset
    data[start : start + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


def test_a_corrupt_row_group_in_a_large_batch_is_an_unreadable_batch_not_a_stuck_monitor(
    sqlite_store: TraceStore, cancer, files: dict[str, Path], tmp_path: Path
) -> None:
    import pandas as pd

    held = cancer.held_out.drop(columns=["label"])
    big = tmp_path / "big.parquet"
    pd.concat([held] * 4, ignore_index=True).to_parquet(big, row_group_size=100)
    _corrupt_row_group(files["batches"] / "2026-11-21.parquet", big, row_group=3)
    create_monitor(sqlite_store, _config(files))
    # checked in row groups (more rows than large_batch_rows): the bad group is met mid-check
    runs = MonitorRunner(sqlite_store, "cancer", home=tmp_path, large_batch_rows=200).run()
    by_batch = {r.batch_id: r for r in runs}
    assert set(by_batch) == {"2026-11-20", "2026-11-21", "2026-11-22"}  # the next one ran too
    (finding,) = by_batch["2026-11-21"].findings
    assert finding.check == "read_batch"
    assert (
        "2026-11-21.parquet" in finding.message and "cannot be read as parquet" in finding.message
    )
    assert f"try 1 of {MAX_READ_TRIES}" in finding.message
    assert not any(f.check == "read_batch" for f in by_batch["2026-11-22"].findings)


def test_a_corrupt_row_group_checked_once_is_a_blocking_finding(
    cancer, files: dict[str, Path], tmp_path: Path
) -> None:
    import pandas as pd

    from mileage.monitors import check_once

    big = tmp_path / "big.parquet"
    held = cancer.held_out.drop(columns=["label"])
    pd.concat([held] * 4, ignore_index=True).to_parquet(big, row_group_size=100)
    bad = tmp_path / "bad.parquet"
    _corrupt_row_group(bad, big, row_group=2)
    report, _ = check_once(str(files["ref"]), str(bad), large_batch_rows=200)
    (finding,) = report.findings
    assert finding.check == "read_batch" and finding.severity.name == "BLOCKING"
    assert "bad.parquet" in finding.message and "re-export it" in finding.message


def test_a_corrupt_row_group_read_directly_is_a_data_error_naming_it(
    cancer, files: dict[str, Path], tmp_path: Path
) -> None:
    """check_parquet (what the row-group path and Dask tasks call) says which row group of
    which file is damaged, instead of pyarrow's thrift message."""
    import pandas as pd

    from mileage.monitors import MonitorConfig, infer_suite
    from mileage.monitors.checks._large import check_parquet
    from mileage.platform.errors import DataError

    big = tmp_path / "big.parquet"
    held = cancer.held_out.drop(columns=["label"])
    pd.concat([held] * 4, ignore_index=True).to_parquet(big, row_group_size=100)
    bad = tmp_path / "bad.parquet"
    _corrupt_row_group(bad, big, row_group=2)
    reference = pd.read_parquet(files["ref"])
    config = MonitorConfig(name="bad", reference_uri=str(files["ref"]))
    suite = infer_suite(reference, exclude=config.excluded)
    with pytest.raises(DataError, match=r"row group 2 of batch file .*bad\.parquet.* damaged"):
        check_parquet(bad, reference=reference, suite=suite, config=config, batch_id="b")
