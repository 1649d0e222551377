"""The Dask seam: the setting, the error without the extra, a client for ``local``."""

from __future__ import annotations

import subprocess
import sys

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
