"""Partial meta-data files are refused as a whole: stored scores are never overwritten from a
cut-off row (a stored 2.17177 must not become 2.1)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mileage.cli import app
from mileage.collectors.metadata import MetadataReport, import_metadata
from mileage.platform.errors import DataError, PartialFileError
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.testing import require_shared_data
from mileage.testing.dump import dump_store

SOURCE = FOLDER = "tabrepo-lightgbm"
RESULTS = "lightgbm_results_ranked_by_dataset_valid.csv"
ROW = b"359944,LightGBM_r25,"


def _copy(tmp_path: Path) -> Path:
    copy = tmp_path / "tr"
    shutil.copytree(require_shared_data(FOLDER), copy)
    return copy


def _rmse(store: TraceStore) -> float:
    with store.connect() as conn:
        return float(
            conn.execute(
                select(t.metric_histories.c.last_value)
                .join(t.runs, t.runs.c.id == t.metric_histories.c.run_id)
                .where(t.runs.c.external_id == "359944/LightGBM_r25")
                .where(t.metric_histories.c.key == "rmse")
            ).scalar_one()
        )


def test_truncated_tabrepo_csv_never_overwrites_stored_scores(
    imported: tuple[TraceStore, MetadataReport], tmp_path: Path
) -> None:
    store, _ = imported
    assert _rmse(store) == pytest.approx(2.17177)
    before = dump_store(store)
    copy = _copy(tmp_path)
    data = (copy / RESULTS).read_bytes()
    (copy / RESULTS).write_bytes(data[: data.index(ROW) + 52])  # cut inside the row
    with pytest.raises(PartialFileError, match="last line is cut short") as caught:
        import_metadata(store, SOURCE, copy)
    assert RESULTS in str(caught.value)
    after = dump_store(store)
    for bookkeeping in ("collector_passes", "quarantine"):  # the refusal is recorded
        after.pop(bookkeeping, None)
        before.pop(bookkeeping, None)
    assert after == before and _rmse(store) == pytest.approx(2.17177)
    with store.connect() as conn:
        row = conn.execute(select(t.quarantine)).one()
    assert (row.kind, row.record_id, row.field) == ("file", RESULTS, "its last line")


def test_csv_row_with_wrong_field_count_refuses_the_file(
    imported: tuple[TraceStore, MetadataReport], tmp_path: Path
) -> None:
    store, _ = imported
    copy = _copy(tmp_path)
    lines = (copy / RESULTS).read_bytes().splitlines(keepends=True)
    lines[100] = b",".join(lines[100].split(b",")[:5]) + b"\n"  # a row cut short mid-file
    (copy / RESULTS).write_bytes(b"".join(lines))
    with pytest.raises(PartialFileError, match="line 101 has 5 fields, the header has 11"):
        import_metadata(store, SOURCE, copy)
    assert _rmse(store) == pytest.approx(2.17177)


def test_non_utf8_task_metadata_csv_is_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = _copy(tmp_path)
    path = copy / "task_metadata_244.csv"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\xff\n", 3))
    store = TraceStore.open(f"sqlite:///{tmp_path / 'direct.db'}")
    try:
        with pytest.raises(DataError, match="is not UTF-8"):
            import_metadata(store, SOURCE, copy)
    finally:
        store.close()
    monkeypatch.setenv("MILEAGE_DB_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    result = CliRunner().invoke(
        app, ["collect", "metadata", "--source", SOURCE, "--path", str(copy)]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert "task_metadata_244.csv" in result.stderr
