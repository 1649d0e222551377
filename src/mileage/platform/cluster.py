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

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mileage.platform.errors import ConfigError
from mileage.platform.extras import require

LOCAL = "local"


def local_workers() -> int:
    """Workers of a ``local`` cluster: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def start_local_cluster(
    n_workers: int | None = None, *, processes: bool = True, memory_limit: str = "auto"
) -> Any:
    """A ``distributed.LocalCluster`` bound to 127.0.0.1, one thread per worker."""
    require("distributed", "a local Dask cluster")
    from distributed import LocalCluster

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


__all__ = ["LOCAL", "dask_client", "local_workers", "start_local_cluster"]
