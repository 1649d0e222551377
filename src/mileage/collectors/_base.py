"""What every collector provides, and what it reports."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mileage.platform.progress import Progress
    from mileage.platform.store import TraceStore


class WarningLog:
    """Warnings of one collection pass, grouped by kind with a few examples each.

    Bad input (NaN metrics, undecodable bytes, abandoned runs) is kept and reported here
    instead of stopping the pass; a report lists each kind once with its count.
    """

    def __init__(self, max_examples: int = 3) -> None:
        self._counts: dict[str, int] = defaultdict(int)
        self._examples: dict[str, list[str]] = defaultdict(list)
        self._max = max_examples
        self._lock = threading.Lock()

    def add(self, kind: str, example: str) -> None:
        """Record one occurrence of ``kind`` (a sentence naming the problem and the fix)."""
        with self._lock:
            self._counts[kind] += 1
            if len(self._examples[kind]) < self._max:
                self._examples[kind].append(example)

    def __len__(self) -> int:
        return sum(self._counts.values())

    def lines(self) -> list[str]:
        """One line per kind: ``<kind> (<n>x, e.g. a, b)``."""
        return [
            f"{kind} ({n}x, e.g. {', '.join(self._examples[kind])})"
            for kind, n in sorted(self._counts.items())
        ]


@dataclass
class CollectReport:
    """Outcome of one collection pass.

    Attributes:
        source: The source's normalised URI.
        reader: How the source was read (``rest``, ``sqlite``, ``filestore``, ``openml``...).
        runs_seen: Runs listed by the source in this pass.
        runs_written: Runs inserted or rewritten because they were new or changed.
        runs_unchanged: Runs skipped because nothing changed since the previous pass.
        experiments: Experiments (or tasks) upserted.
        model_versions: Registered model versions seen.
        registry_events: New alias moves, stage transitions or version creations.
        chains_rebuilt: Iteration chains recomputed.
        seconds: Wall time of the pass.
        warnings: Grouped warnings.
    """

    source: str
    reader: str
    runs_seen: int = 0
    runs_written: int = 0
    runs_unchanged: int = 0
    experiments: int = 0
    model_versions: int = 0
    registry_events: int = 0
    chains_rebuilt: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def start_pass(store: TraceStore, source_id: int) -> int:
    """Record a collection pass of ``source_id`` as running; returns its id."""
    from sqlalchemy import insert

    from mileage.platform.store import schema as t
    from mileage.platform.store import utcnow

    with store.begin() as conn:
        result = conn.execute(
            insert(t.collector_passes)
            .values(source_id=source_id, started_at=utcnow(), status="running", warnings=[])
            .returning(t.collector_passes.c.id)
        )
        return int(result.scalar_one())


def finish_pass(store: TraceStore, pass_id: int, report: CollectReport, error: str | None) -> None:
    """Record how a pass ended: its counts and warnings, and the error when it failed."""
    from sqlalchemy import update

    from mileage.platform.store import schema as t
    from mileage.platform.store import utcnow

    with store.begin() as conn:
        conn.execute(
            update(t.collector_passes)
            .where(t.collector_passes.c.id == pass_id)
            .values(
                finished_at=utcnow(),
                status="failed" if error else "succeeded",
                runs_written=report.runs_written,
                runs_unchanged=report.runs_unchanged,
                warnings=report.warnings,
                error=error[:4000] if error else None,
            )
        )


class Collector(Protocol):
    """Anything that brings runs from a source into the trace store.

    Implementations must be idempotent (a replayed pass adds nothing) and advance their
    cursor in the same transaction as the rows it covers, so a killed pass resumes with
    nothing lost and nothing doubled. Third-party collectors register under the entry point
    group ``mileage.collectors``.
    """

    kind: str

    def collect(self, store: TraceStore, *, progress: Progress | None = None) -> CollectReport:
        """Run one pass and return what it did."""
        ...
