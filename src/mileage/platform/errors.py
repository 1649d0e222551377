"""Domain exceptions.

Every error raised on purpose by Mileage derives from :class:`MileageError` and also from
the builtin it resembles, so callers may catch either. Messages name the thing, state the
rule, show the value and say what to do.
"""

from __future__ import annotations


class MileageError(Exception):
    """Base class of every error Mileage raises on purpose."""


class ConfigError(MileageError, ValueError):
    """A setting, argument or configuration file is invalid (a usage error: exit code 2)."""


class DataError(MileageError, ValueError):
    """Input data is malformed or does not follow the expected schema."""


class StoreError(MileageError, RuntimeError):
    """The trace store cannot be opened, migrated or written."""


class CollectorError(MileageError, RuntimeError):
    """A collector cannot read its source."""


class SourceUnavailableError(CollectorError, ConnectionError):
    """A remote source (tracking server, OpenML server) could not be reached after retries."""
