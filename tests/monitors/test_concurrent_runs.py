"""Exactly one check per (monitor, batch): any number of ``monitor run`` processes and daemons
may race on the same batches, the store keeps one check of each (a unique key on the run's
number), so findings and statistics are never doubled."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from mileage.monitors import MonitorConfig, MonitorRunner, create_monitor
from mileage.monitors._registry import checked_batches
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t

COLUMNS = ["id", "mean_radius", "mean_area", "worst_texture"]


@pytest.fixture(scope="module")
def batch_files(cancer: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A reference and two batches of the real breast-cancer data: one has a 1000x unit
    change (blocking findings, drift statistics), one is half-written (a read error that
    counts towards the bounded retries). Two batches keep it quick: each is checked by both
    runners."""
    root = tmp_path_factory.mktemp("concurrent")
    ref = root / "ref.parquet"
    cancer.reference[COLUMNS].to_parquet(ref)
    batches = root / "batches"
    batches.mkdir()
    part = cancer.held_out[COLUMNS].iloc[:60].copy()
    part["mean_area"] = part["mean_area"] * 1000
    part.to_parquet(batches / "2026-11-10.parquet")
    (batches / "2026-11-11.parquet").write_bytes(b"PAR1 and the producer is still writing")
    return {"ref": ref, "batches": batches}


@pytest.fixture
def files(batch_files: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    return {**batch_files, "home": tmp_path / "home"}


def _config(files: dict[str, Path]) -> MonitorConfig:
    return MonitorConfig(
        name="cancer",
        reference_uri=str(files["ref"]),
        batches_uri=str(files["batches"]),
        id_column="id",
    )


def _stored(store: TraceStore) -> dict[str, Any]:
    """Per batch: check runs, findings and statistics stored."""
    runs, findings, stats = t.monitor_runs, t.monitor_findings, t.monitor_statistics
    with store.connect() as conn:
        checks: dict[str, int] = dict(
            conn.execute(
                select(runs.c.batch_id, func.count())
                .where(runs.c.kind == "check")
                .group_by(runs.c.batch_id)
            ).all()
        )
        n_findings: dict[str, int] = dict(
            conn.execute(
                select(findings.c.batch_id, func.count()).group_by(findings.c.batch_id)
            ).all()
        )
        stat_runs: dict[str, int] = dict(
            conn.execute(
                select(runs.c.batch_id, func.count(func.distinct(stats.c.run_id)))
                .select_from(stats)
                .join(runs, runs.c.id == stats.c.run_id)
                .group_by(runs.c.batch_id)
            ).all()
        )
        declared = dict(conn.execute(select(runs.c.batch_id, runs.c.n_findings)).all())
        errors: dict[str, int] = dict(
            conn.execute(
                select(runs.c.batch_id, func.count())
                .where(runs.c.status == "error")
                .group_by(runs.c.batch_id)
            ).all()
        )
    return {
        "checks": checks,
        "findings": n_findings,
        "stat_runs": stat_runs,
        "declared": declared,
        "read_errors": errors,
    }


def test_two_monitor_runs_at_once_check_each_batch_exactly_once(
    any_store: TraceStore, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runners, each with its own store connection, plan the same two batches (a barrier
    holds both until both have read what is checked), then check and store them at once."""
    create_monitor(any_store, _config(files))
    url = any_store.engine.url.render_as_string(hide_password=False)
    planned = threading.Barrier(2, timeout=60)
    plan = checked_batches

    def plan_together(*args: Any, **kwargs: Any) -> Any:
        out = plan(*args, **kwargs)
        planned.wait()  # neither stores anything before both have planned
        return out

    monkeypatch.setattr("mileage.monitors._runner.checked_batches", plan_together)
    results: dict[int, tuple[list[str], list[str]]] = {}
    errors: list[BaseException] = []
    stores = [TraceStore.open(url) for _ in range(2)]  # one engine (connections) each

    def one_run(i: int) -> None:
        try:
            runner = MonitorRunner(stores[i], "cancer", home=files["home"])
            reports = runner.run()
            results[i] = ([r.batch_id for r in reports], list(runner.raced))
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
            planned.abort()

    threads = [threading.Thread(target=one_run, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    for store in stores:
        store.close()
    assert not errors, errors
    batches = sorted(p.stem for p in files["batches"].iterdir())
    reported = sorted(results[0][0] + results[1][0])
    raced = sorted(results[0][1] + results[1][1])
    assert reported == batches  # each batch reported by exactly one of the two runs
    assert raced == batches  # and lost by the other, which stored nothing for it
    stored = _stored(any_store)
    assert stored["checks"] == dict.fromkeys(batches, 1)
    assert stored["findings"] == {b: n for b, n in stored["declared"].items() if n}
    assert stored["findings"]["2026-11-10"] >= 1  # the unit change was found, once
    assert stored["stat_runs"] == {"2026-11-10": 1}  # statistics of one check
    assert stored["read_errors"] == {"2026-11-11": 1}  # one try of five used, not two
    monkeypatch.setattr("mileage.monitors._runner.checked_batches", plan)
    # a later run checks nothing again but the unreadable batch, on its second try
    (later,) = MonitorRunner(any_store, "cancer", home=files["home"]).run()
    assert later.batch_id == "2026-11-11" and "try 2 of 5" in later.findings[0].message
