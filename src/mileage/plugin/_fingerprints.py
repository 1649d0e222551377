"""Cheap fingerprints of what a run was made from: code state, environment and training data."""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

#: Packages whose versions change a model's behaviour.
KEY_PACKAGES = (
    "numpy",
    "pandas",
    "scikit-learn",
    "lightgbm",
    "xgboost",
    "catboost",
    "torch",
    "tensorflow",
    "mlflow",
    "mileage",
)
SAMPLE_ROWS = 10_000


def _git(*args: str, cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def code_tags(cwd: Path | None = None) -> dict[str, str]:
    """Dirty state and a hash of uncommitted changes, so a dirty run is still exact.

    MLflow records the commit itself (``mlflow.source.git.commit``); what it does not record is
    whether the working tree matched that commit.
    """
    cwd = cwd or Path.cwd()
    diff = _git("diff", "HEAD", "--no-color", "--no-ext-diff", cwd=cwd)
    if diff is None:  # not a git checkout (or git missing): MLflow has no commit either
        return {}
    tags = {"mileage.code.dirty": "true" if diff else "false"}
    if diff:
        tags["mileage.code.diff_sha256"] = hashlib.sha256(
            diff.encode("utf-8", "replace")
        ).hexdigest()
    return tags


@functools.lru_cache(maxsize=1)
def environment_tags() -> dict[str, str]:
    """Python and key package versions (cached: they do not change within a process)."""
    packages = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            continue
    python = sys.version.split()[0]
    digest = hashlib.sha256(json.dumps([python, packages], sort_keys=True).encode()).hexdigest()
    return {
        "mileage.env.python": python,
        "mileage.env.packages": json.dumps(packages, sort_keys=True, separators=(",", ":")),
        "mileage.env.fingerprint": digest[:16],
    }


@dataclass(frozen=True)
class DataFingerprint:
    """What identifies a training set: a digest of its schema and of a sample of its content."""

    digest: str
    schema_sha256: str
    rows: int
    columns: int


def data_fingerprint(data: Any) -> DataFingerprint | None:
    """Schema and a content hash of a sample (at most 10,000 evenly spread rows) of ``data``.

    Works for pandas DataFrames and Series and NumPy arrays; anything else (a file path, a
    sparse matrix) has no fingerprint. The digest (33 characters) is what the plugin logs as
    the MLflow dataset input's digest, so a collector reading the run's inputs gets it back.
    """
    import numpy as np

    module = type(data).__module__
    if module.startswith("pandas"):
        import pandas as pd

        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
        schema = [[str(c), str(t)] for c, t in zip(frame.columns, frame.dtypes)]
        n_rows = len(frame)
        step = max(1, n_rows // SAMPLE_ROWS)
        sample = frame.iloc[::step]
        content = pd.util.hash_pandas_object(sample, index=False).to_numpy().tobytes()
        n_cols = frame.shape[1]
    elif isinstance(data, np.ndarray):
        arr = np.ascontiguousarray(data)
        schema = [[str(arr.dtype), str(arr.shape[1:])]]
        n_rows = arr.shape[0] if arr.ndim else 1
        step = max(1, n_rows // SAMPLE_ROWS)
        content = np.ascontiguousarray(arr[::step]).tobytes() if arr.ndim else arr.tobytes()
        n_cols = int(np.prod(arr.shape[1:])) if arr.ndim > 1 else 1
    else:
        return None
    schema_json = json.dumps(schema, separators=(",", ":"))
    schema_hash = hashlib.sha256(schema_json.encode()).hexdigest()[:16]
    content_hash = hashlib.sha256(content + str(n_rows).encode()).hexdigest()[:16]
    return DataFingerprint(f"{schema_hash}-{content_hash}", schema_hash, n_rows, n_cols)
