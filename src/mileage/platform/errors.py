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


class NotFoundError(MileageError, LookupError):
    """A named or numbered thing (monitor, alert, chain, example, job) does not exist (exit
    code 1, like a failed check: the command was well formed)."""


class DataError(MileageError, ValueError):
    """Input data is malformed or does not follow the expected schema."""


class StoreError(MileageError, RuntimeError):
    """The trace store cannot be opened, migrated or written."""


class CollectorError(MileageError, RuntimeError):
    """A collector cannot read its source."""


class SourceUnavailableError(CollectorError, ConnectionError):
    """A remote source (tracking server, OpenML server) could not be reached after retries."""


class PartialFileError(CollectorError):
    """An input file is truncated or damaged, so it is refused as a whole.

    Nothing is read from such a file: a partial read could overwrite good stored values with
    cut-off ones (``2.17177`` stored as ``2.1``).

    Attributes:
        path: The file.
        part: What is damaged (``database``, ``last line``, ``row 12``...).
        reason: The rule it breaks, in a few words.
        uri: The source the file belongs to (its identity in the trace store).
    """

    def __init__(self, path: str, part: str, reason: str, fix: str, *, uri: str = "") -> None:
        self.path = path
        self.part = part
        self.reason = reason
        self.uri = uri or path
        super().__init__(f"{path!r} refused as a whole: {part} {reason}; nothing was read. {fix}")
