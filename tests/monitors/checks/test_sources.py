"""Batch and label sources: folders of files and SQL tables (``URL#table``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from mileage.monitors import BatchSource, read_frame
from mileage.monitors._runner import read_labels
from mileage.platform.errors import DataError


def test_sql_table_batches_and_labels(cancer, tmp_path: Path) -> None:
    db = tmp_path / "serving.db"
    engine = create_engine(f"sqlite:///{db}")
    scores = cancer.held_out.drop(columns=["label"]).assign(
        day=["2026-11-20"] * 100 + ["2026-11-21"] * (len(cancer.held_out) - 100)
    )
    scores.to_sql("scores", engine, index=False)
    cancer.held_out[["id", "label"]].to_sql("labels", engine, index=False)
    engine.dispose()
    source = BatchSource(f"sqlite:///{db}#scores", batch_column="day")
    assert source.ids() == ["2026-11-20", "2026-11-21"]
    first = source.read("2026-11-20")
    assert len(first) == 100 and "day" not in first.columns
    assert list(first.columns) == [c for c in scores.columns if c != "day"]
    labels = read_labels(f"sqlite:///{db}#labels")
    assert len(labels) == len(cancer.held_out)
    with pytest.raises(DataError, match="table 'nope' does not exist"):
        read_frame(f"sqlite:///{db}#nope")
    with pytest.raises(DataError, match="no batch column 'batch_id'"):
        BatchSource(f"sqlite:///{db}#scores").ids()
    with pytest.raises(DataError, match="batch '2026-12-01' is not in 'scores'"):
        source.read("2026-12-01")


def test_folder_batches_and_unreadable_files(cancer, tmp_path: Path) -> None:
    folder = tmp_path / "batches"
    folder.mkdir()
    cancer.held_out.head(10).to_csv(folder / "b1.csv", index=False)
    cancer.held_out.head(10).to_json(folder / "b2.jsonl", orient="records", lines=True)
    (folder / "notes.txt").write_text("ignored")
    (folder / "b3.parquet").write_bytes(b"\x00" * 10)
    source = BatchSource(str(folder))
    assert source.ids() == ["b1", "b2", "b3"]
    assert source.read("b2").shape == (10, cancer.held_out.shape[1])
    with pytest.raises(DataError, match=r"batch 'b3' file .* cannot be read as parquet"):
        source.read("b3")
    with pytest.raises(DataError, match="latest batches: b1, b2, b3"):
        source.read("b9")
    with pytest.raises(DataError, match=r"has the extension '\.txt'"):
        read_frame(str(folder / "notes.txt"))
    labels = tmp_path / "labels"
    labels.mkdir()
    cancer.held_out[["id", "label"]].head(5).to_csv(labels / "day1.csv", index=False)
    cancer.held_out[["id", "label"]].iloc[5:9].to_csv(labels / "day2.csv", index=False)
    assert len(read_labels(str(labels))) == 9


def test_a_pipe_among_the_batches_is_not_a_batch_and_never_blocks(cancer, tmp_path: Path) -> None:
    import os

    batches = tmp_path / "batches"
    batches.mkdir()
    cancer.held_out.iloc[:50].to_parquet(batches / "2026-11-20.parquet")
    os.mkfifo(batches / "2026-11-21.parquet")  # opening it would wait for a writer for ever
    source = BatchSource(str(batches))
    assert source.ids() == ["2026-11-20"]
    assert len(source.read("2026-11-20")) == 50
    with pytest.raises(DataError, match=r"not a regular file \(a pipe"):
        read_frame(str(batches / "2026-11-21.parquet"), what="reference")


def test_a_batch_folder_replaced_by_a_pipe_is_a_clear_error(tmp_path: Path) -> None:
    import os

    batches = tmp_path / "batches"
    os.mkfifo(batches)
    with pytest.raises(DataError, match=r"batches' is neither a folder .* point --batches"):
        BatchSource(str(batches)).ids()
