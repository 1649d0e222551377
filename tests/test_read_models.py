"""The typed read models: one field per stored column, and the JSON shape the CLI prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mileage.collectors import CollectReport, WarningLog, collection_pass
from mileage.collectors._base import clean_text
from mileage.monitors import StoredFinding
from mileage.monitors.alerts import Alert, AlertEvent, Suggestion
from mileage.platform.records import Record, field_names
from mileage.platform.store import CollectionPass, TraceStore, store_status
from mileage.platform.store import schema as t


@pytest.mark.parametrize(
    ("record", "table"),
    [
        (Alert, t.alerts),
        (AlertEvent, t.alert_events),
        (Suggestion, t.suggestions),
        (StoredFinding, t.monitor_findings),
        (CollectionPass, t.collector_passes),
    ],
)
def test_a_row_model_has_one_field_per_column(record: type[Record], table: object) -> None:
    # A column added to the schema must be added to its model too, or it never reaches --json.
    assert field_names(record) == [c.name for c in table.columns]  # type: ignore[attr-defined]


def test_a_collection_pass_is_stored_as_failed_or_succeeded(tmp_path: Path) -> None:
    uri = "file:///nowhere/mlruns"
    with TraceStore.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        source_id = store.ensure_source("mlflow", uri)
        warnings = WarningLog()
        failed = CollectReport(source=uri, reader="filestore")
        with (
            pytest.raises(KeyboardInterrupt),
            collection_pass(store, source_id, failed, warnings),
        ):
            warnings.add("NaN metric kept as missing", "run a1")
            failed.runs_written = 3
            raise KeyboardInterrupt  # interrupts are recorded too, then propagate
        (source,) = store_status(store).sources
        assert source.last_pass is not None
        assert (source.last_pass.status, source.last_pass.error) == (
            "failed",
            "KeyboardInterrupt: ",
        )
        assert source.last_pass.runs_written == 3
        assert source.last_pass.warnings == ["NaN metric kept as missing (1x, e.g. run a1)"]
        assert failed.warnings == source.last_pass.warnings

        done = CollectReport(source=uri, reader="filestore")
        with collection_pass(store, source_id, done, WarningLog()):
            done.runs_unchanged = 3
        status = store_status(store)
        (source,) = status.sources
        assert source.last_pass is not None
        assert (source.last_pass.status, source.last_pass.error) == ("succeeded", None)
        assert source.last_pass.runs_unchanged == 3 and done.seconds > 0
        assert done.warnings == []

        shown = json.loads(json.dumps(status.to_dict(), default=str))
        assert list(shown) == ["db_url", "counts", "sources", "quarantine"]
        assert list(shown["sources"][0]) == [
            "id",
            "kind",
            "uri",
            "runs",
            "scored_runs",
            "quarantined",
            "tasks",
            "datasets",
            "configurations",
            "cursor",
            "last_pass_started",
            "last_pass_finished",
            "last_pass_status",
            "last_pass_error",
        ]
        assert shown["sources"][0]["last_pass_status"] == "succeeded"
        assert shown["sources"][0]["last_pass_finished"] == (
            source.last_pass.finished_at.isoformat() if source.last_pass.finished_at else None
        )


def test_text_for_postgres_loses_only_the_nul_byte() -> None:
    assert clean_text("a\x00b", 10) == "a\ufffdb"
    assert clean_text(12345, 3) == "123"
    assert clean_text(None) is None
