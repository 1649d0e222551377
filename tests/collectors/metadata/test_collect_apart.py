"""A meta-data import read apart (files parsed and checked where a worker would, written
here) refuses a damaged file exactly as a local import does. The read crosses a pickle round
trip, as it does from a worker.

Data: TabRepo's LightGBM results from ../shared/data, one copy cut short.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from mileage.collectors.metadata import MetadataCollector, MetadataRead
from mileage.platform.errors import PartialFileError
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.testing import require_shared_data

RESULTS = "lightgbm_results_ranked_by_dataset_valid.csv"


def _quarantine(store: TraceStore) -> list[tuple[str, str, str, str]]:
    q = t.quarantine
    with store.connect() as conn:
        rows = conn.execute(select(q.c.kind, q.c.record_id, q.c.field, q.c.problem)).all()
    return [tuple(r) for r in rows]


def test_a_damaged_file_read_apart_is_refused_and_recorded_as_locally(tmp_path: Path) -> None:
    copy = tmp_path / "tr"
    shutil.copytree(require_shared_data("tabrepo-lightgbm"), copy)
    data = (copy / RESULTS).read_bytes()
    (copy / RESULTS).write_bytes(data[: len(data) // 2])  # cut inside a row
    collector = MetadataCollector("tabrepo-lightgbm", copy)

    local = TraceStore.open(f"sqlite:///{tmp_path / 'local.db'}")
    with pytest.raises(PartialFileError, match="refused as a whole") as locally:
        collector.collect(local)
    apart = TraceStore.open(f"sqlite:///{tmp_path / 'apart.db'}")
    read = pickle.loads(
        pickle.dumps(collector.read_apart(collector.apart_inputs(apart, frozenset())))
    )
    assert isinstance(read, MetadataRead) and read.batch is None and read.refused
    with pytest.raises(PartialFileError) as caught:
        collector.write_apart(apart, read)
    assert str(caught.value) == str(locally.value)
    assert _quarantine(apart) == _quarantine(local) != []
    assert apart.counts()["runs"] == 0
