"""Helpers shared by the command modules: state, error handling, output formats.

The conventions every command follows are documented in ``docs/reference/cli-conventions.md``:
exit codes (0 ok, 1 failed check or not found, 2 bad usage), ``--output plain|json|table``
(``--json`` is ``--output json``), no truncation off a terminal, times in ISO-8601 UTC.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer

from mileage.platform.errors import ConfigError, MileageError

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from rich.console import Console

    from mileage.platform.progress import Progress
    from mileage.platform.settings import Settings
    from mileage.platform.store import TraceStore

OutputFormat = Literal["plain", "json", "table"]
#: The output format of the command being run (set by the option callbacks below and reset
#: by the root callback, so an in-process caller running several commands starts afresh).
_OUTPUT: dict[str, str | None] = {"format": None}


def _remember_json(value: bool) -> bool:
    if value:
        _OUTPUT["format"] = "json"
    return value


def _remember_output(value: str | None) -> str | None:
    if value is not None:
        _OUTPUT["format"] = value
    return value


def reset_output() -> None:
    """Forget the previous command's output format (the root callback calls this)."""
    _OUTPUT["format"] = None


def output_format() -> OutputFormat:
    """``json``, ``plain`` or ``table`` (the default) for the running command."""
    value = _OUTPUT["format"]
    return value if value in ("plain", "json") else "table"  # type: ignore[return-value]


JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print machine-readable JSON on stdout (same as --output json).",
        callback=_remember_json,
    ),
]
OutputOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "--output",
        "-o",
        help="table (for people; the default), plain (no borders, one row per line) or json.",
        callback=_remember_output,
    ),
]
F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")


@dataclass
class CliState:
    config: Path | None = None
    db_url: str | None = None
    _settings: Settings | None = None

    def settings(self, **overrides: Any) -> Settings:
        from mileage.platform.settings import Settings

        if overrides:
            return Settings.load(config_file=self.config, db_url=self.db_url, **overrides)
        if self._settings is None:
            self._settings = Settings.load(config_file=self.config, db_url=self.db_url)
        return self._settings

    def store(self) -> TraceStore:
        from mileage.platform.store import TraceStore

        return TraceStore.open(self.settings().resolved_db_url)

    @contextmanager
    def cluster(self, what: str) -> Iterator[Any]:
        """A Dask client of ``MILEAGE_DASK_SCHEDULER``, or None when it is not set (then
        nothing imports Dask)."""
        scheduler = self.settings().dask_scheduler
        if not scheduler:
            yield None
            return
        from mileage.platform.cluster import dask_client

        with dask_client(scheduler, what=what) as client:
            yield client

    def call(self, func: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """``func(store, *args, **kwargs)`` on a store opened for this call and closed after."""
        with self.store() as store:
            return func(store, *args, **kwargs)


def cli_state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):  # invoked without the root callback (tests)
        obj = CliState()
        ctx.find_root().obj = obj
    return obj


def handle_errors(func: F) -> F:
    """Turn Mileage errors into one readable line on stderr and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LookupError as exc:  # not found: the command was well formed
            if not isinstance(exc, MileageError):
                raise
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except MileageError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _json_default(value: Any) -> Any:
    """Times as ISO-8601 UTC (naive stored times are UTC); anything else as its text."""
    if isinstance(value, datetime):
        return iso_time(value)
    return str(value)


def emit(data: Any, as_json: bool, human: Callable[[], None]) -> None:
    """Print ``data`` as JSON (``--json`` or ``--output json``), or call ``human``."""
    if as_json or output_format() == "json":
        typer.echo(json.dumps(data, indent=2, default=_json_default, allow_nan=False))
    else:
        human()


def make_console(*, stderr: bool = False) -> Console:
    """A Rich console for command output that never truncates or wraps in a pipe.

    On a terminal Rich fits tables to its width. Off one (a pipe, a file) the width is
    unbounded, so rows stay whole for ``grep`` and ``cut`` instead of ending in "...".
    With ``--output plain`` tables print without borders, titles or padding.
    """
    from rich.console import Console
    from rich.table import Table

    stream = sys.stderr if stderr else sys.stdout
    plain = output_format() == "plain"

    class _Console(Console):
        def print(self, *objects: Any, **kwargs: Any) -> None:
            if plain:
                for obj in objects:
                    if isinstance(obj, Table):
                        obj.box, obj.show_edge, obj.title, obj.pad_edge = None, False, None, False
                        obj.padding = (0, 1, 0, 0)
            super().print(*objects, **kwargs)

    tty = stream.isatty()
    return _Console(
        file=stream,
        width=None if tty else 100_000,
        no_color=plain or not tty,
        highlight=tty and not plain,
        soft_wrap=not tty,
    )


def iso_time(value: datetime | float | str | None) -> str:
    """A stored time as ISO-8601 UTC (``2026-12-05T10:17:00Z``); naive times are UTC.

    Accepts a datetime, Unix seconds or ISO-8601 text; text that is not a time is returned
    as it is.
    """
    if value is None:
        return "-"
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def progress_reporter() -> AbstractContextManager[Progress]:
    """Progress on stderr: a Rich bar on a terminal, a few plain lines for longer steps
    otherwise (logs, CI), so a check that takes seconds never sits silent."""
    from mileage.platform.progress import LineProgress, RichProgress

    if sys.stderr.isatty():
        return RichProgress(enabled=True)
    return LineProgress()
