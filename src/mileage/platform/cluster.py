"""The one seam to a Dask cluster: a ``distributed.Client`` from ``MILEAGE_DASK_SCHEDULER``.

``local`` starts a ``distributed.LocalCluster`` on this machine (worker processes with one
thread each, so LightGBM and pandas do not oversubscribe the cores); any other value is the
address of an existing scheduler (``tcp://10.0.0.5:8786``), however it was deployed
(``SSHCluster``, dask-kubernetes, dask-jobqueue, dask-gateway). Nothing here imports Dask
until a client is asked for, and a missing ``mileage[dask]`` gives the one-line error of
:mod:`mileage.platform.extras`.

A process-based ``LocalCluster`` spawns its workers: a script that starts one must do it under
``if __name__ == "__main__":`` (the CLI and the daemon do).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, contextmanager
from typing import Any, Generic, Protocol, TypeVar

from mileage.platform.errors import ConfigError
from mileage.platform.extras import require

LOCAL = "local"
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
log = logging.getLogger(__name__)


def local_workers() -> int:
    """Workers of a ``local`` cluster: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def start_local_cluster(
    n_workers: int | None = None, *, processes: bool = True, memory_limit: str = "auto"
) -> Any:
    """A ``distributed.LocalCluster`` bound to 127.0.0.1, one thread per worker.

    Its workers keep glibc's own malloc thresholds: Dask sets ``MALLOC_TRIM_THRESHOLD_`` to
    64 KiB for its workers, which also fixes glibc's mmap threshold, so every array a check
    allocates is a fresh mapping whose pages fault in; a row group's summary took 1.6x as long
    (2.57 s against 1.58 s, docs/benchmarks.md "Scale"). A value in the environment still rules.
    """
    require("distributed", "a local Dask cluster")
    import dask
    from distributed import LocalCluster

    # read when each nanny is made (all of them, within this call); a nanny restarting its
    # worker later reuses what it read
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(
            n_workers=n_workers or local_workers(),
            threads_per_worker=1,
            processes=processes,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard": False},
            memory_limit=memory_limit,
        )


@contextmanager
def dask_client(address: str, *, what: str = "running on Dask") -> Iterator[Any]:
    """A ``distributed.Client`` for ``address`` (``local`` or a scheduler address), closed
    (and a local cluster stopped) on exit.

    Raises:
        MissingExtraError: ``mileage[dask]`` is not installed.
        ConfigError: ``address`` is empty, or no scheduler answers there.
    """
    if not address:
        raise ConfigError(
            f"{what} needs a Dask scheduler; set MILEAGE_DASK_SCHEDULER to an address "
            "(tcp://HOST:8786) or to 'local'."
        )
    require("distributed", what)
    from distributed import Client

    cluster = start_local_cluster() if address == LOCAL else None
    try:
        client = Client(cluster if cluster is not None else address, timeout="20s")
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise ConfigError(
            f"no Dask scheduler answers at {address!r} ({exc}); check MILEAGE_DASK_SCHEDULER "
            "and that the scheduler is running."
        ) from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


class TaskFuture(Protocol[T_co]):
    """A submitted task (a ``concurrent.futures.Future`` or a ``distributed.Future``)."""

    def result(self) -> T_co:
        """Wait for the task; return or raise what it did."""
        ...

    def done(self) -> bool:
        """Whether the task ended (:meth:`result` will not wait, unless it runs it again)."""
        ...


class TaskPool(Protocol):
    """Where side-effect-free tasks run: worker processes here, or the workers of a cluster.

    Tasks read (batches, sources) and return what they found; the caller writes it, so the
    trace store has one writer whatever runs the tasks. A task whose worker dies is run again
    (a task never writes, so running it twice is harmless).
    """

    #: Shown in logs: ``dask tcp://...`` or ``4 local processes``.
    where: str

    def submit(self, fn: Callable[..., T], /, *args: Any) -> TaskFuture[T]:
        """Start ``fn(*args)``."""
        ...

    def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(*args)`` on a worker, waited for."""
        ...

    def close(self) -> None:
        """Stop the workers (a cluster the pool did not start is left running)."""
        ...


class _Resubmitting(Generic[T]):
    """A local task that is submitted again when its worker process died."""

    def __init__(self, pool: ProcessTaskPool, fn: Callable[..., T], args: tuple[Any, ...]) -> None:
        self._pool, self._fn, self._args = pool, fn, args
        self._executor, self._future = pool._submit(fn, args)

    def done(self) -> bool:
        return self._future.done()

    def result(self) -> T:
        for attempt in range(1, self._pool.retries + 2):
            try:
                return self._future.result()
            except BrokenProcessPool:
                self._pool._replace(self._executor)
                if attempt > self._pool.retries:
                    raise
                log.warning(
                    "a worker process died while running %s; running it again (%d/%d)",
                    getattr(self._fn, "__name__", self._fn),
                    attempt,
                    self._pool.retries,
                )
                self._executor, self._future = self._pool._submit(self._fn, self._args)
        raise AssertionError("unreachable")  # pragma: no cover


class ProcessTaskPool:
    """A :class:`TaskPool` of local worker processes (``concurrent.futures``), started on
    first use; when a worker dies mid-task the pool is replaced and the task run again.

    Args:
        max_workers: Worker processes; None: one per core this process may use.
        retries: Runs again of a task whose worker died, before ``BrokenProcessPool``
            propagates.
    """

    def __init__(self, max_workers: int | None = None, *, retries: int = 2) -> None:
        self.max_workers = max_workers or local_workers()
        self.retries = retries
        self.where = f"{self.max_workers} local processes"
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                methods = multiprocessing.get_all_start_methods()
                # not fork: the daemon has threads, and a forked child may inherit held locks
                method = "forkserver" if "forkserver" in methods else "spawn"
                self._pool = ProcessPoolExecutor(
                    self.max_workers, mp_context=multiprocessing.get_context(method)
                )
            return self._pool

    def _submit(
        self, fn: Callable[..., T], args: tuple[Any, ...]
    ) -> tuple[ProcessPoolExecutor, Future[T]]:
        executor = self._current()
        try:
            return executor, executor.submit(fn, *args)
        except BrokenProcessPool:
            self._replace(executor)
            executor = self._current()
            return executor, executor.submit(fn, *args)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
                broken.shutdown(wait=False, cancel_futures=True)

    def submit(self, fn: Callable[..., T], /, *args: Any) -> TaskFuture[T]:
        return _Resubmitting(self, fn, args)

    def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        return self.submit(fn, *args).result()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None


class DaskTaskPool:
    """A :class:`TaskPool` on a ``distributed.Client``.

    Tasks are submitted impure (``pure=False``: a task submitted twice runs twice, never a
    cached result of an earlier run). The scheduler reschedules a task whose worker died on
    another worker (up to ``distributed.scheduler.allowed-failures`` times).

    Args:
        client: The client; :meth:`close` leaves it open (see :meth:`connect`).
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.where = f"dask {client.scheduler.address}"
        self._owned = ExitStack()

    @classmethod
    def connect(cls, address: str, *, what: str = "running tasks on Dask") -> DaskTaskPool:
        """A pool with its own client of ``address`` (``local`` or a scheduler address),
        closed (a local cluster stopped) by :meth:`close`."""
        stack = ExitStack()
        client = stack.enter_context(dask_client(address, what=what))
        pool = cls(client)
        pool._owned = stack
        return pool

    def submit(self, fn: Callable[..., T], /, *args: Any) -> TaskFuture[T]:
        future: TaskFuture[T] = self.client.submit(fn, *args, pure=False)
        return future

    def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        return self.submit(fn, *args).result()

    def close(self) -> None:
        self._owned.close()


def open_task_pool(scheduler: str, *, processes: int = 0, what: str = "running tasks") -> TaskPool:
    """The pool jobs run on: the Dask cluster at ``scheduler`` (``MILEAGE_DASK_SCHEDULER``)
    when set, else local worker processes (``processes``; 0: one per core). Close it after use.

    Raises:
        MissingExtraError: A scheduler is set but ``mileage[dask]`` is not installed.
        ConfigError: No scheduler answers at ``scheduler``.
    """
    if scheduler:
        return DaskTaskPool.connect(scheduler, what=what)
    return ProcessTaskPool(processes or None)


__all__ = [
    "LOCAL",
    "DaskTaskPool",
    "ProcessTaskPool",
    "TaskFuture",
    "TaskPool",
    "dask_client",
    "local_workers",
    "open_task_pool",
    "start_local_cluster",
]
