"""Progress reporting for long work: a protocol, a silent default and a Rich implementation."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import IO, Any, Protocol


class Progress(Protocol):
    """What long-running code reports to; implementations decide how to show it."""

    def start(self, description: str, total: int | None = None) -> None:
        """Begin a phase of ``total`` units (unknown when None)."""

    def advance(self, n: int = 1) -> None:
        """Record ``n`` finished units of the current phase."""

    def finish(self) -> None:
        """End the current phase."""


class NullProgress:
    """Reports nothing."""

    def start(self, description: str, total: int | None = None) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        return None

    def finish(self) -> None:
        return None


class RichProgress:
    """Progress bars on stderr with Rich; use as a context manager."""

    def __init__(self, *, enabled: bool = True) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as _RichProgress

        self._bar = _RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
            transient=False,
        )
        self._task: Any = None

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.stop()

    def start(self, description: str, total: int | None = None) -> None:
        self._task = self._bar.add_task(description, total=total)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._bar.advance(self._task, n)

    def finish(self) -> None:
        if self._task is not None:
            task = self._bar.tasks[-1]
            if task.total is None:
                self._bar.update(self._task, total=task.completed)
            self._task = None


class LineProgress:
    """Progress as a few plain lines (for pipes and log files, where a bar would be noise).

    A phase that takes longer than ``min_seconds`` gets one line when that much time has
    passed and one when it ends; shorter phases print nothing.

    Args:
        stream: Where lines go (standard error by default).
        min_seconds: How long a phase runs before it is reported.
    """

    def __init__(self, stream: IO[str] | None = None, *, min_seconds: float = 1.0) -> None:
        self._stream = stream
        self._min_seconds = min_seconds
        self._description = ""
        self._total: int | None = None
        self._done = 0
        self._started = 0.0
        self._announced = False
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish()

    def _write(self, line: str) -> None:
        stream = self._stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()

    def _announce(self) -> None:
        with self._lock:
            if self._timer is None:  # finished meanwhile
                return
            self._announced = True
            size = f" ({self._total} steps)" if self._total else ""
            self._write(f"{self._description}{size} ...")

    def start(self, description: str, total: int | None = None) -> None:
        self.finish()
        self._description, self._total, self._done = description, total, 0
        self._started, self._announced = time.monotonic(), False
        self._timer = threading.Timer(self._min_seconds, self._announce)
        self._timer.daemon = True
        self._timer.start()

    def advance(self, n: int = 1) -> None:
        self._done += n

    def finish(self) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is None:
            return
        timer.cancel()
        if self._announced:
            done = f", {self._done} of {self._total}" if self._total else ""
            self._write(
                f"{self._description}: done in {time.monotonic() - self._started:.1f} s{done}"
            )
