"""Running workflows through the materialization planner, and logging each iteration.

:func:`run` (also ``mileage.run``) executes a workflow or a scikit-learn pipeline: it loads
or recomputes each output, whichever is cheaper, lets the policy keep what the next
iterations will likely reuse, and records the iteration in the trace store and MLflow.
"""

from __future__ import annotations

from mileage.metalearner.executor._run import (
    MODEL_DIR,
    OperatorRecord,
    RunResult,
    default_predictor,
    run,
)
from mileage.metalearner.executor._trace import SOURCE_KIND, SOURCE_URI, pipeline_tag

__all__ = [
    "MODEL_DIR",
    "SOURCE_KIND",
    "SOURCE_URI",
    "OperatorRecord",
    "RunResult",
    "default_predictor",
    "pipeline_tag",
    "run",
]
