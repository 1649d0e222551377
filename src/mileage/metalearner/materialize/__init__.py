"""What to keep, and whether to load or recompute: the intermediate cache and its planner.

* :class:`IntermediateCache` is the abstract base with the written contract (budget,
  integrity, concurrency, ownership); :class:`DirectoryCache` keeps blobs in a folder with a
  SQLite index shared by processes, :class:`NullCache` keeps nothing.
* Blobs are NumPy ``.npy`` parts plus a JSON header (:func:`encode` / :func:`decode`); nothing
  is pickled.
* :func:`plan_execution` chooses, exactly, which outputs to load and which to recompute.
* Policies (:class:`PredictivePolicy` and the baselines) choose what a run leaves behind.
"""

from __future__ import annotations

from mileage.metalearner.materialize._base import (
    CacheEntry,
    IntermediateCache,
    Measurement,
    NullCache,
    PutResult,
)
from mileage.metalearner.materialize._codec import decode, encode, estimate_nbytes
from mileage.metalearner.materialize._directory import DirectoryCache
from mileage.metalearner.materialize._execution_plan import ExecutionPlan, plan_execution
from mileage.metalearner.materialize._policies import (
    POLICIES,
    ROLE_CHANGE_RATES,
    EverythingPolicy,
    HelixPolicy,
    MaterializationPlan,
    MaterializationPolicy,
    NothingPolicy,
    OraclePolicy,
    OutputStats,
    PlanContext,
    PredictivePolicy,
)

__all__ = [
    "POLICIES",
    "ROLE_CHANGE_RATES",
    "CacheEntry",
    "DirectoryCache",
    "EverythingPolicy",
    "ExecutionPlan",
    "HelixPolicy",
    "IntermediateCache",
    "MaterializationPlan",
    "MaterializationPolicy",
    "Measurement",
    "NothingPolicy",
    "NullCache",
    "OraclePolicy",
    "OutputStats",
    "PlanContext",
    "PredictivePolicy",
    "PutResult",
    "decode",
    "encode",
    "estimate_nbytes",
    "plan_execution",
]
