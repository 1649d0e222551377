"""Mileage: MLOps monitoring and meta-learning built on experiment traces.

Collectors ingest MLflow and OpenML run histories into one trace store; the meta-learner
learns from those traces; monitors check deployed pipelines and route suggestions to owners.
Heavy libraries are imported where they are used, so ``import mileage`` stays cheap.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mileage.metalearner.executor import run

try:
    __version__ = version("mileage")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = ["__version__", "run"]


def __getattr__(name: str) -> Any:
    # ``mileage.run`` loads the executor (and its scientific stack) only when first used.
    if name == "run":
        from mileage.metalearner.executor import run

        return run
    raise AttributeError(f"module 'mileage' has no attribute {name!r}")
