"""What every collector provides, and what it reports."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from mileage.platform.progress import Progress
    from mileage.platform.store import TraceStore

_CHUNK = 500


#: Longest view of a rejected value kept in a warning or the quarantine table.
_VALUE_CHARS = 60


def show_value(value: Any) -> str:
    """A short ``repr`` of a rejected value, safe to print and store (no megabyte dumps)."""
    text = repr(value)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 3] + "..."


@dataclass(frozen=True)
class QuarantineEntry:
    """One record a collector set aside instead of ingesting.

    Attributes:
        kind: What was set aside: ``run``, ``row``, ``file`` or ``experiment``.
        record_id: Its id in the source (run id, row key, path relative to the source).
        field: The field that broke a rule (``start_time``, ``metrics.loss``, ``meta.yaml``).
        problem: The rule and a short view of the value, e.g. ``must be epoch milliseconds,
            got 'yesterday'``.
    """

    kind: str
    record_id: str
    field: str
    problem: str


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
        self._quarantined: dict[tuple[str, str, str], QuarantineEntry] = {}

    def add(self, kind: str, example: str) -> None:
        """Record one occurrence of ``kind`` (a sentence naming the problem and the fix)."""
        with self._lock:
            self._counts[kind] += 1
            if len(self._examples[kind]) < self._max:
                self._examples[kind].append(example)

    def quarantine(self, kind: str, record_id: str, field: str, problem: str) -> None:
        """Set a record aside: a grouped warning now, a ``quarantine`` row when the pass ends.

        Args:
            kind: ``run``, ``row``, ``file`` or ``experiment``.
            record_id: The record's id in its source.
            field: The field that broke the rule.
            problem: The rule and a short view of the value (see :func:`show_value`).
        """
        entry = QuarantineEntry(kind, str(record_id)[:512], field[:256], problem[:1000])
        self.add(f"{kind} quarantined (skipped; see 'mileage status'): {field}", entry.record_id)
        with self._lock:
            self._quarantined.setdefault((entry.kind, entry.record_id, entry.field), entry)

    @property
    def quarantined(self) -> list[QuarantineEntry]:
        """Records set aside so far, in the order they were found."""
        with self._lock:
            return list(self._quarantined.values())

    def __len__(self) -> int:
        return sum(self._counts.values())

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (a worker returns its warnings with what it read): all but the lock."""
        with self._lock:
            return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

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
        quarantined: Records set aside (stored in the ``quarantine`` table).
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
    quarantined: int = 0

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


@contextmanager
def collection_pass(
    store: TraceStore,
    source_id: int,
    report: CollectReport,
    warnings: WarningLog | None = None,
    *,
    started: float | None = None,
) -> Iterator[CollectReport]:
    """Record one collection pass of ``source_id`` around the block that runs it.

    The pass is stored as running on entry. On a normal exit the report gets its wall time
    and warnings and the pass is stored as succeeded; on any exception (interrupts
    included) the pass is stored as failed with the error, and the exception propagates.

    Args:
        store: Where the pass is recorded.
        source_id: The source being read.
        report: Filled in by the block; its counts are stored when the pass ends.
        warnings: Copied into ``report.warnings`` when the pass ends; None leaves the
            report's warnings as the block set them.
        started: ``time.perf_counter()`` when the pass began (default: on entry), so the
            time spent opening the source counts.

    Yields:
        ``report``.
    """
    started = time.perf_counter() if started is None else started
    pass_id = start_pass(store, source_id)
    try:
        yield report
    except BaseException as exc:
        if warnings is not None:
            report.warnings = warnings.lines()
        finish_pass(store, pass_id, report, error=f"{type(exc).__name__}: {exc}")
        raise
    report.seconds = time.perf_counter() - started
    if warnings is not None:
        report.warnings = warnings.lines()
    finish_pass(store, pass_id, report, error=None)


def ids_of(
    conn: Connection, table: Any, source_id: int, external_ids: Iterable[str]
) -> dict[str, int]:
    """Database ids of the rows of ``table`` of one source, by external id."""
    from sqlalchemy import select

    wanted = sorted(set(external_ids))
    out: dict[str, int] = {}
    for i in range(0, len(wanted), _CHUNK):
        for ext, rid in conn.execute(
            select(table.c.external_id, table.c.id).where(
                table.c.source_id == source_id, table.c.external_id.in_(wanted[i : i + _CHUNK])
            )
        ):
            out[ext] = int(rid)
    return out


def clean_text(text: Any, limit: int | None = None) -> str | None:
    """Text that PostgreSQL accepts, cut to ``limit`` characters.

    PostgreSQL text cannot hold NUL; it is replaced so nothing is lost but the byte.
    """
    if text is None:
        return None
    text = str(text)
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text[:limit] if limit else text


def store_quarantine(
    store: TraceStore,
    source_id: int,
    entries: Iterable[QuarantineEntry],
    *,
    replace: bool,
    resolved: Iterable[str] = (),
) -> int:
    """Record what a pass set aside; returns how many entries it stored.

    Args:
        store: The trace store.
        source_id: The source the records come from.
        entries: This pass's quarantined records.
        replace: True when the pass looked at every record of the source (a full listing):
            entries of earlier passes that did not come back were fixed and are dropped.
        resolved: Record ids ingested by this pass (their old entries are dropped).
    """
    from sqlalchemy import delete, select, update

    from mileage.platform.store import schema as t
    from mileage.platform.store import utcnow

    q = t.quarantine
    now = utcnow()
    entries = list(entries)
    with store.begin() as conn:
        if replace:
            keep = {(e.kind, e.record_id, e.field) for e in entries}
            for row in conn.execute(
                select(q.c.id, q.c.kind, q.c.record_id, q.c.field).where(q.c.source_id == source_id)
            ).all():
                if (row.kind, row.record_id, row.field) not in keep:
                    conn.execute(delete(q).where(q.c.id == row.id))
        done = sorted(set(resolved) - {e.record_id for e in entries})
        for i in range(0, len(done), 500):
            conn.execute(
                delete(q).where(q.c.source_id == source_id, q.c.record_id.in_(done[i : i + 500]))
            )
        for e in entries:
            key = (
                q.c.source_id == source_id,
                q.c.kind == e.kind,
                q.c.record_id == e.record_id,
                q.c.field == e.field,
            )
            found = conn.execute(select(q.c.id).where(*key)).first()
            if found is None:
                conn.execute(
                    q.insert().values(
                        source_id=source_id,
                        kind=e.kind,
                        record_id=e.record_id,
                        field=e.field,
                        problem=e.problem,
                        first_seen_at=now,
                        last_seen_at=now,
                        passes=1,
                    )
                )
            else:
                conn.execute(
                    update(q)
                    .where(q.c.id == found.id)
                    .values(problem=e.problem, last_seen_at=now, passes=q.c.passes + 1)
                )
    return len(entries)


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
