"""Mileage: MLOps monitoring and meta-learning built on experiment traces.

Collectors ingest MLflow and OpenML run histories into one trace store; the meta-learner
learns from those traces; monitors check deployed pipelines and route suggestions to owners.
Heavy libraries are imported where they are used, so ``import mileage`` stays cheap.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mileage")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = ["__version__"]
