"""Log set-up for long-running processes: readable lines or one JSON object per line.

``MILEAGE_LOG_LEVEL`` picks the level and ``MILEAGE_LOG_FORMAT`` the format (``text`` or
``json``); both are :class:`~mileage.platform.settings.Settings` fields. Times are ISO-8601 in
UTC in both formats. Fields passed with ``extra=`` (the daemon's job lines carry ``job``,
``slot``, ``status`` and ``duration_seconds``) become keys of the JSON object.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging", "iso_utc"]

#: Attributes every ``LogRecord`` has; anything else on a record came from ``extra=``.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
#: Libraries that are chatty at INFO; they log at WARNING unless the level is DEBUG.
_QUIET = ("alembic", "apscheduler", "mlflow", "urllib3", "httpx", "great_expectations")


def iso_utc(seconds: float) -> str:
    """``seconds`` since the epoch as ISO-8601 UTC with milliseconds, e.g.
    ``2026-12-05T10:17:00.123Z``."""
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """``<ISO-8601 UTC> <LEVEL> <logger>: <message>``, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{iso_utc(record.created)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message`` and extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        # default=str: an extra that JSON cannot encode must not lose the whole line.
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(level: str, fmt: str = "text", stream: IO[str] | None = None) -> None:
    """Send the root logger's records to ``stream`` (stderr) at ``level`` in ``fmt``.

    Replaces handlers set up earlier (calling it twice does not double every line).

    Args:
        level: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``.
        fmt: ``text`` or ``json``.
        stream: Where lines go (standard error by default).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # A library's logging.config call with disable_existing_loggers (the default of
    # fileConfig and dictConfig) silences every logger created before it, ours included.
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if (name == "mileage" or name.startswith("mileage.")) and isinstance(
            logger, logging.Logger
        ):
            logger.disabled = False
            logger.setLevel(logging.NOTSET)  # the root's level decides, as configured here
            logger.propagate = True
    quiet = logging.DEBUG if level == "DEBUG" else logging.WARNING
    for name in _QUIET:
        logging.getLogger(name).setLevel(quiet)
