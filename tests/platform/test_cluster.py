"""The Dask seam: the setting, the error without the extra, a client for ``local``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mileage.platform.cluster import dask_client
from mileage.platform.errors import ConfigError
from mileage.platform.settings import Settings


def test_scheduler_setting_takes_an_address_or_local(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.load().dask_scheduler == ""
    monkeypatch.setenv("MILEAGE_DASK_SCHEDULER", "local")
    assert Settings.load().dask_scheduler == "local"
    monkeypatch.setenv("MILEAGE_DASK_SCHEDULER", "tcp://127.0.0.1:8786")
    assert Settings.load().dask_scheduler == "tcp://127.0.0.1:8786"
    monkeypatch.setenv("MILEAGE_DASK_SCHEDULER", "127.0.0.1:8786")
    with pytest.raises(ConfigError, match=r"dask_scheduler.*tcp://.*'local'"):
        Settings.load()


def test_no_scheduler_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="MILEAGE_DASK_SCHEDULER"), dask_client(""):
        pass


def test_without_the_extra_the_error_is_one_line() -> None:
    code = (
        "import sys\n"
        "sys.modules['distributed'] = None\n"
        "from mileage.platform.cluster import dask_client\n"
        "try:\n"
        "    with dask_client('local', what='checking large batches'):\n"
        "        pass\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        "checking large batches needs the optional extra 'dask' (distributed is not "
        "installed): pip install 'mileage[dask]'"
    ]


def test_a_local_worker_that_dies_mid_task_runs_the_task_again(tmp_path: Path) -> None:
    import os

    from mileage.platform.cluster import ProcessTaskPool
    from mileage.testing.workers import die_once

    pool = ProcessTaskPool(2)
    try:
        assert pool.where == "2 local processes"
        pid = pool.run(die_once, str(tmp_path / "marker"))
        assert pid != os.getpid() and (tmp_path / "marker").read_text() == "died"
        # the replacement pool keeps serving
        futures = [pool.submit(pow, 2, k) for k in range(4)]
        assert [f.result() for f in futures] == [1, 2, 4, 8]
    finally:
        pool.close()


def test_a_task_that_kills_every_worker_gives_up_after_its_retries() -> None:
    from concurrent.futures.process import BrokenProcessPool

    from mileage.platform.cluster import ProcessTaskPool
    from mileage.testing.workers import always_die

    pool = ProcessTaskPool(1, retries=1)
    try:
        with pytest.raises(BrokenProcessPool):
            pool.run(always_die)
    finally:
        pool.close()


@pytest.mark.slow
def test_local_cluster_workers_keep_glibcs_own_malloc_thresholds(
    request: pytest.FixtureRequest,
) -> None:
    """Dask's default MALLOC_TRIM_THRESHOLD_=65536 made a row group's summary 1.6x slower; the
    workers Mileage starts run without it (and with Dask's one-thread BLAS settings kept)."""

    def environ() -> tuple[str | None, str | None]:
        return os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS")

    client = request.getfixturevalue("dask_client")  # the session's 2-worker LocalCluster
    seen = client.run(environ)
    assert len(seen) == 2
    assert set(seen.values()) == {(None, "1")}
