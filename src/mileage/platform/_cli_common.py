"""Helpers shared by the command modules: state, error handling, JSON output."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from mileage.platform.errors import ConfigError, MileageError

if TYPE_CHECKING:
    from mileage.platform.settings import Settings
    from mileage.platform.store import TraceStore

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")


@dataclass
class _State:
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

    def call(self, func: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """``func(store, *args, **kwargs)`` on a store opened for this call and closed after."""
        store = self.store()
        try:
            return func(store, *args, **kwargs)
        finally:
            store.close()


def _state(ctx: typer.Context) -> _State:
    obj = ctx.find_root().obj
    if not isinstance(obj, _State):  # invoked without the root callback (tests)
        obj = _State()
        ctx.find_root().obj = obj
    return obj


def handle_errors(func: F) -> F:
    """Turn Mileage errors into one readable line on stderr and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except MileageError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def emit(data: Any, as_json: bool, human: Callable[[], None]) -> None:
    """Print ``data`` as JSON, or call ``human`` to print it for people."""
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str, allow_nan=False))
    else:
        human()
