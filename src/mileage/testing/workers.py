"""Functions that tests run in separate processes (they must be importable by name).

Each opens its own cache and trace store, as a second user or machine would, so tests can
check the cache's guarantees across real processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


def cache_key(i: int) -> str:
    """A fingerprint-like key for test entry ``i``."""
    return hashlib.sha256(str(i).encode()).hexdigest()


def cache_blob(n: int, seed: int = 0) -> bytes:
    """A deterministic blob of ``n`` floats."""
    import numpy as np

    from mileage.metalearner.materialize import encode

    return encode({"x": np.random.default_rng(seed).random(n)})


def hammer_cache(path: str, budget: int, worker: int, rounds: int, n_keys: int = 12) -> list[str]:
    """Put and get overlapping keys; return every inconsistency seen (none expected)."""
    from mileage.metalearner.materialize import DirectoryCache

    cache = DirectoryCache(path, budget_bytes=budget)
    expected = {j: cache_blob(2000, j) for j in range(n_keys)}
    problems = []
    for r in range(rounds):
        i = (worker * 7 + r) % n_keys
        cache.put_blob(cache_key(i), expected[i], priority=float((i * 13 + r) % 5))
        for j in range(n_keys):
            got = cache.get_blob(cache_key(j))
            if got is not None and got != expected[j]:
                problems.append(f"worker {worker}: wrong bytes for entry {j}")
        if cache.used_bytes() > budget:
            problems.append(f"worker {worker}: {cache.used_bytes()} bytes > budget {budget}")
    cache.close()
    return problems


def run_example_chain(
    example: str,
    changes: Sequence[dict[str, str]],
    cache_dir: str,
    budget: int | None,
    db_url: str,
    user: str,
    policy: str = "ours",
) -> list[tuple[str, float]]:
    """Run an example's configurations in order; return (prediction hash, score) per run."""
    import warnings

    from mileage.metalearner.examples import get_example
    from mileage.metalearner.executor import run
    from mileage.metalearner.materialize import DirectoryCache
    from mileage.metalearner.workflow import hash_value
    from mileage.platform.store import TraceStore

    warnings.simplefilter("ignore")
    ex = get_example(example)
    data = ex.load()
    store = TraceStore.open(db_url)
    cache = DirectoryCache(cache_dir, budget_bytes=budget)
    out: list[tuple[str, float]] = []
    config = ex.default_config()
    try:
        for change in changes:
            config = ex.set(config, change)
            result = run(
                ex.workflow(config), data, user=user, cache=cache, policy=policy, store=store
            )
            sink: Any = result.outputs[ex.workflow(config).sinks[0]]
            out.append((hash_value(sink["y_pred"]), float(sink["score"])))
    finally:
        cache.close()
        store.close()
    return out


__all__ = [
    "cache_blob",
    "cache_key",
    "hammer_cache",
    "kill_a_worker_once_busy",
    "run_example_chain",
]


def die_once(marker: str) -> int:
    """Kill the worker process running this the first time (``marker`` does not exist yet),
    as a machine lost mid-task would; return the worker's pid when run again."""
    import os
    import signal
    from pathlib import Path

    path = Path(marker)
    if not path.exists():
        path.write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def always_die() -> None:
    """Kill the worker process running this, every time."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


@contextmanager
def kill_a_worker_once_busy(client: Any) -> Iterator[tuple[int, list[int]]]:
    """SIGKILL one Dask worker process the moment it has a task, while the block runs (a
    machine lost mid-task); yields the victim's pid and the list of killed pids."""
    import os
    import signal
    import threading
    import time

    victim = next(iter(client.scheduler_info()["workers"]))
    pid = client.run(os.getpid, workers=[victim])[victim]
    killed: list[int] = []
    done = threading.Event()

    def kill_when_busy() -> None:
        while not done.is_set():
            if client.processing(workers=[victim]).get(victim):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=kill_when_busy, daemon=True)
    watcher.start()
    try:
        yield pid, killed
    finally:
        done.set()
        watcher.join()
