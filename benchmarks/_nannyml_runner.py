"""NannyML's estimators on frames written by ``monitor_estimation.py`` (run by another Python).

NannyML 0.13 requires ``lightgbm<4.6`` and Mileage ``lightgbm>=4.7``, so the two cannot share
an environment; ``monitor_estimation.py`` writes the reference and the batches as Parquet and
runs this script with the interpreter of an environment holding NannyML (``--nannyml-python``).
It imports NannyML and pandas only, and prints one JSON list: per spec, the estimate per batch.

Specs (a JSON list in a file, first argument; one NannyML import for all), each: ``reference`` and ``batches`` (Parquet paths), ``kind``
(``cbpe`` or ``dle``), ``problem_type``, ``y_pred_proba`` (a column, or class -> column),
``metrics``, ``features``, ``categorical``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
warnings.simplefilter("ignore")


def main() -> None:
    with open(sys.argv[1]) as fh:  # noqa: PTH123 (this script runs on a bare interpreter)
        specs: list[dict[str, Any]] = json.load(fh)
    print(json.dumps([estimate(spec) for spec in specs]))


def estimate(spec: dict[str, Any]) -> dict[str, Any]:
    import nannyml as nml
    import pandas as pd

    reference = pd.read_parquet(spec["reference"])
    for c in spec.get("categorical", []):
        reference[c] = reference[c].astype("category")
    started = time.perf_counter()
    if spec["kind"] == "cbpe":
        est = nml.CBPE(
            metrics=spec["metrics"],
            y_pred_proba=spec["y_pred_proba"],
            y_pred="prediction",
            y_true="label",
            problem_type=spec["problem_type"],
            chunk_number=1,
        )
    else:
        est = nml.DLE(
            feature_column_names=spec["features"],
            y_pred="prediction",
            y_true="label",
            metrics=spec["metrics"],
            chunk_number=1,
        )
    est.fit(reference)
    fit_seconds = time.perf_counter() - started
    out = []
    for path in spec["batches"]:
        batch = pd.read_parquet(path)
        for c in spec.get("categorical", []):
            batch[c] = pd.Categorical(batch[c], categories=reference[c].cat.categories)
        frame = est.estimate(batch).filter(period="analysis").to_df()
        row = {}
        for metric in spec["metrics"]:
            row[metric] = float(frame[(metric, "value")].iloc[0])
        out.append(row)
    return {"fit_seconds": fit_seconds, "batches": out}


if __name__ == "__main__":
    main()
