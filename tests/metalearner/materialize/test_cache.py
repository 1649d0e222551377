"""The cache contract: exact budget, priority eviction, integrity checks, real concurrency."""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from mileage.metalearner import CacheCorruptionWarning, CacheError
from mileage.metalearner.materialize import DirectoryCache, NullCache
from mileage.testing.workers import cache_blob, cache_key, hammer_cache

key = cache_key
blob = cache_blob


def test_put_get_and_exact_budget(tmp_path: Path) -> None:
    size = len(blob(1000))
    cache = DirectoryCache(tmp_path, budget_bytes=3 * size)
    for i in range(3):
        assert cache.put_blob(key(i), blob(1000, i), priority=float(i)).admitted
    assert cache.used_bytes() == 3 * size
    # A fourth entry evicts the lowest priority first, keeping the budget exact.
    result = cache.put_blob(key(3), blob(1000, 3), priority=5.0)
    assert result.admitted and result.evicted == (key(0),)
    assert cache.used_bytes() == 3 * size <= cache.budget_bytes  # type: ignore[operator]
    assert cache.get_blob(key(0)) is None
    assert cache.get_blob(key(3)) == blob(1000, 3)
    # Lower priority than everything stored: refused, nothing evicted.
    refused = cache.put_blob(key(4), blob(1000, 4), priority=0.5)
    assert not refused.admitted and refused.reason == "no budget"
    assert {e.key for e in cache.entries()} == {key(1), key(2), key(3)}
    # Too large for the budget at all, and an existing key.
    assert cache.put_blob(key(5), blob(5000), priority=9).reason == "too large"
    assert cache.put_blob(key(3), blob(1000, 3), priority=9).reason == "exists"
    assert cache.verify() == []


def test_priorities_decide_eviction_and_lowering_the_budget_evicts(tmp_path: Path) -> None:
    size = len(blob(500))
    cache = DirectoryCache(tmp_path, budget_bytes=2 * size)
    cache.put_blob(key(1), blob(500, 1), priority=1.0)
    cache.put_blob(key(2), blob(500, 2), priority=2.0)
    cache.set_priorities({key(1): 3.0})
    cache.put_blob(key(3), blob(500, 3), priority=2.5)
    assert {e.key for e in cache.entries()} == {key(1), key(3)}
    assert DirectoryCache(tmp_path, budget_bytes="keep").budget_bytes == 2 * size
    shrunk = DirectoryCache(tmp_path, budget_bytes=size)  # the stored budget applies to all
    assert cache.budget_bytes == size
    assert [e.key for e in shrunk.entries()] == [key(1)]
    assert len(list((tmp_path / "objects").glob("*/*.blob"))) == 1


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_damaged_entries_are_discarded_with_a_warning(tmp_path: Path, damage: str) -> None:
    cache = DirectoryCache(tmp_path)
    cache.put(key(1), {"x": np.arange(50_000.0)}, priority=1.0, workflow="w", operator="scale")
    path = next((tmp_path / "objects").glob("*/*.blob"))
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[:-100]))
    else:
        path.unlink()
    with pytest.warns(CacheCorruptionWarning, match=r"scale of workflow w.*recomputed"):
        assert cache.get(key(1)) is None
    assert cache.entries() == [] and cache.used_bytes() == 0
    assert not path.exists()


def test_null_cache_stores_nothing() -> None:
    cache = NullCache()
    assert not cache.put_blob(key(1), b"x", priority=1).admitted
    assert cache.get_blob(key(1)) is None and cache.budget_bytes == 0
    cache.record_measurement("w", "op", 1.5, 10)
    assert cache.measurements("w")["op"].compute_seconds == 1.5


def test_bad_keys_and_budgets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CacheError, match="budget"):
        DirectoryCache(tmp_path, budget_bytes=-1)
    assert DirectoryCache(tmp_path / "new", budget_bytes="keep").budget_bytes is None
    with pytest.raises(CacheError, match="hex fingerprint"):
        DirectoryCache(tmp_path).get_blob("../../etc/passwd")


def test_reservations_of_dead_writers_are_reclaimed(tmp_path: Path) -> None:
    size = len(blob(800))
    cache = DirectoryCache(tmp_path, budget_bytes=size)
    proc = mp.get_context("spawn").Process(target=time.sleep, args=(0,))
    proc.start()
    proc.join()
    con = sqlite3.connect(tmp_path / "index.db")
    con.execute(
        "INSERT INTO entries (key, state, bytes, priority, workflow, operator, compute_seconds, "
        "created, last_used, owner) VALUES (?, 'writing', ?, 1, '', '', 0, ?, ?, ?)",
        (key(9), size, time.time(), time.time(), f"{os.uname().nodename}:{proc.pid}"),
    )
    con.commit()
    con.close()
    assert cache.used_bytes() == size  # the dead writer's reservation fills the budget
    assert cache.put_blob(key(1), blob(800), priority=0.1).admitted
    assert [e.key for e in cache.entries()] == [key(1)]


def test_concurrent_processes_never_corrupt_the_cache(tmp_path: Path) -> None:
    budget = 5 * len(blob(2000))
    DirectoryCache(tmp_path, budget_bytes=budget).close()
    with mp.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(hammer_cache, [(str(tmp_path), budget, w, 25) for w in range(4)])
    assert [p for r in results for p in r] == []
    cache = DirectoryCache(tmp_path, budget_bytes=budget)
    assert cache.verify() == []
    assert 0 < cache.used_bytes() <= budget
    assert not list((tmp_path / "tmp").iterdir())
