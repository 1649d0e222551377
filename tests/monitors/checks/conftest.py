"""Fixtures of the check tests: large synthetic batches written as Parquet in row groups.

Data: synthetic (numeric, categorical, integer and id columns drawn with numpy).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mileage.monitors import MonitorConfig, infer_suite

CATEGORIES = [f"c{i}" for i in range(8)]


def synthetic(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(4)})
    frame["level"] = rng.integers(0, 30, n)
    frame["cat"] = rng.choice(CATEGORIES, n)
    frame["id"] = np.arange(seed * 10_000_000, seed * 10_000_000 + n)
    return frame


def faulted(batch: pd.DataFrame) -> pd.DataFrame:
    out = batch.copy()
    n = len(out)
    out.loc[: n // 20, "x0"] *= 1000.0  # a unit change in 5% of the rows: bounds
    out["x1"] = out["x1"] + 1.0  # one standard deviation: drift
    out.loc[out.index % 10 == 3, "cat"] = "NEW"  # a new category in 10%: domain
    out.loc[out.index % 3 == 0, "x2"] = np.nan  # a third missing: nulls
    out.loc[n - 50 :, "id"] = out["id"].iloc[:50].to_numpy()  # ids repeated far apart: unique
    return out


@pytest.fixture(scope="module")
def large_batches(tmp_path_factory: pytest.TempPathFactory):
    reference = synthetic(20_000, 1)
    config = MonitorConfig(name="big", reference_uri="ref.parquet", id_column="id")
    suite = infer_suite(reference, id_column="id", exclude=config.excluded)
    folder = tmp_path_factory.mktemp("batches")
    clean, bad = synthetic(60_000, 2), faulted(synthetic(60_000, 3))
    for name, frame in (("clean", clean), ("bad", bad)):
        frame.to_parquet(folder / f"{name}.parquet", row_group_size=7_000)
    return reference, suite, config, folder, {"clean": clean, "bad": bad}
