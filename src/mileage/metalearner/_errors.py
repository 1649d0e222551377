"""Errors of the meta-learner: workflows, the intermediate cache and the next-change model."""

from __future__ import annotations

from mileage.platform.errors import MileageError


class WorkflowError(MileageError, ValueError):
    """A workflow is malformed: unknown inputs, duplicate names, a cycle, unusable data."""


class NotCacheableError(MileageError, TypeError):
    """An operator output cannot be written without pickle, so it is always recomputed."""


class CacheError(MileageError, RuntimeError):
    """The intermediate cache cannot be opened or written."""


class ModelFileError(MileageError, ValueError):
    """A saved next-change model is missing, incomplete or from an incompatible version."""


class CacheCorruptionWarning(UserWarning):
    """A cache entry failed its hash check; it was discarded and its output recomputed."""
