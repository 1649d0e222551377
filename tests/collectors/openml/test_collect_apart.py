"""An OpenML pass read apart (fetched and parsed where a worker would, written here) writes
what a local pass writes: in bounded parts, when the recording lacks a call, and when the
source fails mid-pass. Reads cross a pickle round trip, as they do from a worker.

Data: recorded real OpenML answers served on 127.0.0.1.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from sqlalchemy import select

from mileage.collectors.openml import OpenmlCollector, Selection
from mileage.collectors.openml._apart import OpenmlRead
from mileage.platform.errors import SourceUnavailableError
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.testing.dump import dump_store
from mileage.testing.openml import RecordedOpenmlServer

SELECTION = Selection(runs=(12, 1), tasks=(1882,), uploaders=(7,))


def _collector(server: RecordedOpenmlServer, settings: Settings) -> OpenmlCollector:
    return OpenmlCollector(SELECTION, server=server.url, settings=settings, backoff=0, batch_size=1)


def _store(tmp_path: Path, name: str) -> TraceStore:
    return TraceStore.open(f"sqlite:///{tmp_path / name}")


def _read(collector: OpenmlCollector, store: TraceStore, skip: frozenset[str]) -> OpenmlRead:
    read = collector.read_apart(collector.apart_inputs(store, skip))
    copy = pickle.loads(pickle.dumps(read))
    assert isinstance(copy, OpenmlRead)
    return copy


def test_a_pass_read_in_parts_of_one_run_writes_the_rows_of_one_local_pass(
    openml_server: RecordedOpenmlServer, fast_settings: Settings, tmp_path: Path
) -> None:
    local = _store(tmp_path, "local.db")
    _collector(openml_server, fast_settings).collect(local)
    collector = _collector(openml_server, fast_settings.model_copy(update={"collect_task_runs": 1}))
    apart = _store(tmp_path, "apart.db")
    first = _read(collector, apart, frozenset())
    assert first.more and len(first.attempted) == 1
    assert collector.write_apart(apart, first).runs_written == 1
    second = _read(collector, apart, frozenset(first.attempted))
    assert not second.more and second.attempted and second.attempted != first.attempted
    assert collector.write_apart(apart, second).runs_written == 1
    assert dump_store(apart) == dump_store(local)
    # a new pass reads again only what is stored incomplete, and writes nothing
    skip: frozenset[str] = frozenset()
    written, parts = 0, 0
    while True:
        part = _read(collector, apart, skip)
        written += collector.write_apart(apart, part).runs_written
        skip, parts = skip | frozenset(part.attempted), parts + 1
        if not part.more:
            break
    assert written == 0 and parts <= 2
    assert dump_store(apart) == dump_store(local)


def test_a_call_the_worker_did_not_read_is_asked_of_the_source(
    openml_server: RecordedOpenmlServer, fast_settings: Settings, tmp_path: Path
) -> None:
    local = _store(tmp_path, "local.db")
    _collector(openml_server, fast_settings).collect(local)
    collector = _collector(openml_server, fast_settings)
    apart = _store(tmp_path, "apart.db")
    read = _read(collector, apart, frozenset())
    read.answers.clear()  # as if the store had changed since the worker read
    assert collector.write_apart(apart, read).runs_written == 2
    assert dump_store(apart) == dump_store(local)


def test_a_source_failing_on_the_worker_fails_the_pass_after_the_same_writes(
    openml_server: RecordedOpenmlServer, fast_settings: Settings, tmp_path: Path
) -> None:
    local = _store(tmp_path, "local.db")
    openml_server.fail(r"^run/1$", *["503"] * 10)
    with pytest.raises(SourceUnavailableError, match="run 1"):
        _collector(openml_server, fast_settings).collect(local)
    expected = dump_store(local)
    assert len(expected["runs"]) == 1  # run 12 was written before run 1 failed

    openml_server.clear()
    openml_server.fail(r"^run/1$", *["503"] * 10)
    collector = _collector(openml_server, fast_settings)
    apart = _store(tmp_path, "apart.db")
    read = _read(collector, apart, frozenset())
    openml_server.clear()  # the source answers again: the replay must still fail as it did
    with pytest.raises(SourceUnavailableError, match="run 1"):
        collector.write_apart(apart, read)
    assert dump_store(apart) == expected
    with apart.connect() as conn:
        status = conn.execute(select(t.collector_passes.c.status)).scalars().all()
    assert status == ["failed"]
