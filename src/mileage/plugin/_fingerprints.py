"""Cheap fingerprints of what a run was made from: code, environment and training data."""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import sys
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
    """Commit, dirty state, and a hash of uncommitted changes (so a dirty run is still exact)."""
    cwd = cwd or Path.cwd()
    commit = _git("rev-parse", "HEAD", cwd=cwd)
    if commit is None:
        return {}
    tags = {"mileage.code.commit": commit.strip()}
    diff = _git("diff", "HEAD", "--no-color", "--no-ext-diff", cwd=cwd) or ""
    tags["mileage.code.dirty"] = "true" if diff else "false"
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


def data_tags(data: Any) -> dict[str, str]:
    """Schema and a content hash of a sample (at most 10,000 evenly spread rows) of ``data``.

    Works for pandas DataFrames and NumPy arrays; anything else gets no data tags.
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
        return {}
    schema_json = json.dumps(schema, separators=(",", ":"))
    schema_hash = hashlib.sha256(schema_json.encode()).hexdigest()[:16]
    content_hash = hashlib.sha256(content + str(n_rows).encode()).hexdigest()[:16]
    return {
        "mileage.data.fingerprint": f"{schema_hash}-{content_hash}",
        "mileage.data.schema_sha256": schema_hash,
        "mileage.data.rows": str(n_rows),
        "mileage.data.columns": str(n_cols),
    }
