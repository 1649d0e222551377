"""The plugin's exceptions, importable without importing MLflow."""

from __future__ import annotations

from mileage.platform.errors import MileageError


class EvaluationBlockedError(MileageError, RuntimeError):
    """The evaluation data failed the checks named by the ``mileage`` evaluator's ``block_on``."""
