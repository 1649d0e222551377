"""The meta-learner: learns from collected traces what users do next and what to reuse.

Subpackages, imported on demand so ``import mileage.metalearner`` stays light:

* :mod:`mileage.metalearner.workflow`: workflows as DAGs of operators with exact fingerprints.
* :mod:`mileage.metalearner.nextstep`: which operator the next iteration changes (LightGBM).
* :mod:`mileage.metalearner.materialize`: the intermediate cache and the planner that decides
  what to keep under a byte budget and whether to load or recompute.
* :mod:`mileage.metalearner.executor`: runs workflows through the planner and logs each
  iteration to MLflow and the trace store.

The meta-learner reads what collectors stored through the trace store; it never imports them.
"""

from __future__ import annotations

from mileage.metalearner._errors import (
    CacheCorruptionWarning,
    CacheError,
    ModelFileError,
    NotCacheableError,
    WorkflowError,
)

__all__ = [
    "CacheCorruptionWarning",
    "CacheError",
    "ModelFileError",
    "NotCacheableError",
    "WorkflowError",
]
