"""``MILEAGE_DASK_SCHEDULER`` reaches the commands: a large batch given to ``mileage monitor
check`` is checked on the cluster at that address, with the findings of this machine.

Data: synthetic (numeric, categorical and id columns drawn with numpy).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mileage.cli import app

pytestmark = pytest.mark.slow  # starts servers or clusters, or checks big batches

pytest.importorskip("distributed")


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "cat": rng.choice(["a", "b", "c"], n),
            "id": np.arange(seed * 1_000_000, seed * 1_000_000 + n),
        }
    )


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MILEAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MILEAGE_LARGE_BATCH_ROWS", "1000")
    return CliRunner()


def test_monitor_check_runs_a_large_batch_on_the_configured_cluster(
    cli: CliRunner, dask_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import get_task_stream

    _frame(3_000, 1).to_parquet(tmp_path / "ref.parquet")
    batch = _frame(6_000, 2)
    batch.loc[batch.index % 4 == 0, "cat"] = "NEW"  # a new category in a quarter of the rows
    batch.to_parquet(tmp_path / "batch.parquet", row_group_size=1_500)
    args = ["monitor", "check", "--reference", "ref.parquet", "--batch", "batch.parquet"]
    local = cli.invoke(app, [*args, "--json"])
    monkeypatch.setenv("MILEAGE_DASK_SCHEDULER", dask_client.scheduler.address)
    with get_task_stream(client=dask_client) as stream:
        remote = cli.invoke(app, [*args, "--json"])
    assert remote.exit_code == local.exit_code == 1, remote.output
    assert len(stream.data) >= 4  # one task per row group at least, on the cluster
    key = lambda r: sorted(  # noqa: E731
        (f["check_kind"], f["check"], str(f["column"]), f["severity"]) for f in r["findings"]
    )
    (here,), (there,) = json.loads(local.stdout)["batches"], json.loads(remote.stdout)["batches"]
    assert key(here) == key(there) and (
        "validation",
        "expect_column_values_to_be_in_set",
        "cat",
    ) in {k[:3] for k in key(here)}
