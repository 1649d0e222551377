"""Fault and fuzz suite: generated mlruns trees, MLflow SQLite databases and meta-data CSVs.

Properties held on every example:

* no traceback: a collect either succeeds or raises one of our errors (one line for users);
* the good records of a source are all ingested, whatever is wrong with the others;
* no file outside the store root is read (a planted link to a secret never lands);
* a re-run after the faults are fixed converges to the content of a clean run.

Examples are seeded (``derandomize``) and few, so the suite runs on every ``make test``; set
``MILEAGE_FUZZ_PROFILE=long`` for a longer search.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from mileage.collectors.metadata import read_csv_rows
from mileage.collectors.mlflow import MlflowCollector
from mileage.platform.errors import MileageError, PartialFileError
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.testing import require_shared_data
from mileage.testing.dump import dump_store

settings.register_profile(
    "mileage-fast",
    max_examples=8,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time on every run
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "mileage-long",
    max_examples=200,
    derandomize=False,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = "mileage-long" if os.environ.get("MILEAGE_FUZZ_PROFILE") == "long" else "mileage-fast"
SECRET = "TOP-SECRET-VALUE-0xC0FFEE"
N_RUNS = 6


# -- mlruns trees ---------------------------------------------------------------------------


def _write_run(root: Path, i: int) -> str:
    run_id = f"abc{i:029x}"  # hex with letters: an all-digit id would be read as a YAML int
    run = root / "1" / run_id
    for sub in ("params", "metrics", "tags"):
        (run / sub).mkdir(parents=True)
    (run / "meta.yaml").write_text(
        f"artifact_uri: file://{run}/artifacts\nend_time: {1700000001000 + i}\n"
        f"experiment_id: '1'\nlifecycle_stage: active\nrun_id: {run_id}\nrun_name: run-{i}\n"
        f"start_time: {1700000000000 + i}\nstatus: 3\nuser_id: ana\n"
    )
    (run / "params" / "lr").write_text(str(0.1 * (i + 1)))
    (run / "metrics" / "loss").write_text(
        "".join(f"{1700000000000 + s} {1.0 / (s + 1 + i)} {s}\n" for s in range(3))
    )
    (run / "tags" / "mlflow.user").write_text("ana")
    return run_id


def _clean_tree(root: Path) -> list[str]:
    (root / "1").mkdir(parents=True)
    (root / "1" / "meta.yaml").write_text(
        "artifact_location: file:///x\nexperiment_id: '1'\nlifecycle_stage: active\nname: fuzz\n"
    )
    return [_write_run(root, i) for i in range(N_RUNS)]


def _meta(run: Path, old: str, new: str) -> None:
    text = (run / "meta.yaml").read_text()
    (run / "meta.yaml").write_text(text.replace(old, new, 1))


def _secret_link(run: Path) -> None:
    (run / "params" / "stolen").symlink_to(run.parents[2] / "secret.txt")


def _fifo(run: Path) -> None:
    os.mkfifo(run / "params" / "fifo")


def _huge(run: Path) -> None:
    with (run / "params" / "huge").open("wb") as fh:
        fh.truncate(8 * 2**20)  # sparse: over the 4 MiB cap, no disk used


#: Faults that put their run in quarantine.
RUN_FAULTS: dict[str, Callable[[Path], object]] = {
    "name_list": lambda r: _meta(r, "run_name: ", "run_name: [a, b]\nold: "),
    "start_time_words": lambda r: _meta(r, "start_time: ", "start_time: yesterday\nold: "),
    "end_time_list": lambda r: _meta(r, "end_time: ", "end_time: [1]\nold: "),
    "meta_not_yaml": lambda r: (r / "meta.yaml").write_text("run_id: [unterminated\n"),
    "meta_not_mapping": lambda r: (r / "meta.yaml").write_text("- just\n- a list\n"),
    "symlink_to_secret": _secret_link,
    "fifo": _fifo,
    "huge_param": _huge,
}
#: Faults that are tolerated: the run is kept, the damage is reported as a warning.
KEPT_FAULTS: dict[str, Callable[[Path], object]] = {
    "garbage_metric_line": lambda r: (r / "metrics" / "loss").open("a").write("garbage\n"),
    "non_utf8_param": lambda r: (r / "params" / "opt").write_bytes(b"adam\xff\xfe"),
    "empty_metric_file": lambda r: (r / "metrics" / "empty").write_text(""),
}
faults = st.lists(
    st.sampled_from([None, *RUN_FAULTS, *KEPT_FAULTS]), min_size=N_RUNS, max_size=N_RUNS
)


def _stored(store: TraceStore) -> set[str]:
    with store.connect() as conn:
        return set(conn.execute(select(t.runs.c.external_id)).scalars())


def _collect(store: TraceStore, root: Path) -> None:
    # One of our errors is one clear line for users; anything else is a bug and fails here.
    with contextlib.suppress(MileageError):
        MlflowCollector(str(root)).collect(store)


@settings(settings.get_profile(PROFILE))
@given(chosen=faults)
def test_fuzz_mlruns_tree_quarantines_bad_runs_and_converges(chosen: list[str | None]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "secret.txt").write_text(SECRET)
        clean, root = base / "clean" / "mlruns", base / "live" / "mlruns"
        run_ids = _clean_tree(clean)
        shutil.copytree(clean, root, symlinks=True)
        for run_id, fault in zip(run_ids, chosen, strict=True):
            run = root / "1" / run_id
            if fault in RUN_FAULTS:
                RUN_FAULTS[fault](run)
            elif fault in KEPT_FAULTS:
                KEPT_FAULTS[fault](run)
        good = {r for r, f in zip(run_ids, chosen, strict=True) if f not in RUN_FAULTS}
        store = TraceStore.open(f"sqlite:///{base / 'a.db'}")
        fresh = TraceStore.open(f"sqlite:///{base / 'b.db'}")
        try:
            _collect(store, root)
            assert _stored(store) == good  # every good run, no bad one
            with store.connect() as conn:
                values = list(conn.execute(select(t.params.c.value)).scalars())
                held = set(conn.execute(select(t.quarantine.c.record_id)).scalars())
            assert not any(SECRET in v for v in values)  # nothing outside the root was read
            assert held == set(run_ids) - good
            _collect(store, root)  # a replay changes nothing
            assert _stored(store) == good
            shutil.rmtree(root)  # every fault fixed
            shutil.copytree(clean, root, symlinks=True)
            _collect(store, root)
            _collect(fresh, root)
            assert dump_store(store, signatures=False) == dump_store(fresh, signatures=False)
            with store.connect() as conn:
                assert conn.execute(select(t.quarantine)).all() == []
        finally:
            store.close()
            fresh.close()


# -- MLflow SQLite databases ----------------------------------------------------------------

DB_FAULTS = {
    "non_utf8_name": "UPDATE runs SET name = x'fffe41' WHERE run_uuid = ?",
    "start_time_words": "UPDATE runs SET start_time = 'yesterday' WHERE run_uuid = ?",
    "end_time_words": "UPDATE runs SET end_time = 'later' WHERE run_uuid = ?",
    "text_metric": "UPDATE metrics SET value = 'abc' WHERE run_uuid = ?",
    "blob_param": "UPDATE params SET value = x'00ff' WHERE run_uuid = ?",
}


@settings(settings.get_profile(PROFILE))
@given(
    picks=st.lists(
        st.tuples(st.integers(0, 124), st.sampled_from(sorted(DB_FAULTS))),
        min_size=0,
        max_size=4,
        unique_by=lambda p: p[0],
    ),
    truncate=st.sampled_from([None, 0.3, 0.9]),
)
def test_fuzz_mlflow_sqlite_database(picks: list[tuple[int, str]], truncate: float | None) -> None:
    source = require_shared_data("mlflow-history-peco602", "mlflow.db")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "mlflow.db"
        shutil.copyfile(source, db)
        with sqlite3.connect(db) as con:
            ids = [r[0] for r in con.execute("SELECT run_uuid FROM runs ORDER BY run_uuid")]
            bad = set()
            for index, fault in picks:
                con.execute(DB_FAULTS[fault], (ids[index],))
                with_rows = (
                    fault not in ("text_metric", "blob_param")
                    or con.execute("SELECT changes()").fetchone()[0]
                )
                if with_rows:
                    bad.add(ids[index])
        if truncate is not None:
            data = db.read_bytes()
            db.write_bytes(data[: int(len(data) * truncate)])
        store = TraceStore.open(f"sqlite:///{Path(tmp) / 'a.db'}")
        try:
            try:
                MlflowCollector(str(db)).collect(store)
            except PartialFileError as exc:
                assert truncate is not None and str(db.resolve()) in str(exc)
                assert _stored(store) == set()  # refused as a whole
                return
            assert truncate is None
            assert _stored(store) == set(ids) - bad
        finally:
            store.close()


# -- meta-data CSVs -------------------------------------------------------------------------

cells = st.text(alphabet=st.characters(codec="utf-8"), max_size=6)


@settings(settings.get_profile(PROFILE))
@given(
    header=st.lists(
        st.text("abcxyz_", min_size=1, max_size=5), min_size=1, max_size=5, unique=True
    ),
    rows=st.lists(st.lists(cells, min_size=0, max_size=6), max_size=8),
    cut=st.one_of(st.none(), st.integers(0, 400)),
)
def test_fuzz_metadata_csv(header: list[str], rows: list[list[str]], cut: int | None) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8")
    if cut is not None:
        data = data[:cut]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        path.write_bytes(data)
        try:
            parsed = read_csv_rows(path)
        except MileageError:
            return  # refused with one line: a partial or malformed file
        # Accepted: complete, and every row has exactly the header's fields.
        assert not data or data.endswith((b"\n", b"\r"))
        assert all(list(r) == list(dict.fromkeys(header)) for r in parsed)
