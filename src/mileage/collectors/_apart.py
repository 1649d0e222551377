"""Sources read apart: a worker reads a bounded part of a pass, the caller writes it.

Any collector that implements :class:`ApartCollector` (MLflow, OpenML, the meta-data
importers) can be collected this way. A task on a :class:`~mileage.platform.cluster.TaskPool`
reads at most ``MILEAGE_COLLECT_TASK_RUNS`` runs of one source against that source's cursor
and returns what it read; the calling process replays it through the collector's own pass
code, so rows, cursor (in the same transaction as the rows it covers) and quarantine are
written exactly as a local pass writes them. When the read was cut at the bound, the next
task of that source reads against the cursor just stored, skipping the runs the pass
already tried. Many sources run at once, one task per source at a time: no two tasks ever
read one source for one caller, and no task writes, so a task whose worker dies is run
again and the store ends the same. Two callers collecting one source at once are kept
apart by the store itself (unique keys, upserts of unchanged rows write nothing new).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any, Protocol

from mileage.collectors._base import CollectReport
from mileage.platform.cluster import TaskFuture, TaskPool
from mileage.platform.errors import ConfigError
from mileage.platform.store import TraceStore

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.01
#: Counts that add up over the parts of one pass (the rest are taken from the last part).
_ADDED = (
    "runs_written",
    "chains_rebuilt",
    "registry_events",
    "seconds",
    "runs_deferred",
    "tasks",
    "datasets",
    "flows",
    "setups",
)


class PartRead(Protocol):
    """What a worker returns: one bounded part of a pass of one source."""

    #: True when the read stopped at the bound and runs are left for the next part.
    more: bool
    #: Ids of the runs this part tried (read or set aside), skipped by the next part.
    attempted: list[str]


class ApartCollector(Protocol):
    """A collector whose pass can be read on a worker and written by the caller."""

    kind: str

    def apart_key(self) -> str:
        """The source's identity: two collectors with one key would write the same rows."""
        ...

    def apart_inputs(self, store: TraceStore, skip: frozenset[str]) -> Any:
        """What a worker needs from the store to read the next part (cursor, signatures),
        picklable; ``skip``: run ids earlier parts of this pass already tried."""
        ...

    def read_apart(self, inputs: Any) -> PartRead:
        """Read one part (on a worker): writes nothing, returns a picklable read."""
        ...

    def write_apart(self, store: TraceStore, read: Any) -> CollectReport:
        """Write one part's read with the code of a local pass (in the caller)."""
        ...


def read_part(collector: ApartCollector, inputs: Any) -> PartRead:
    """The task a worker runs (a module-level function, so pools can pickle it by name)."""
    return collector.read_apart(inputs)


def merge_reports(parts: Sequence[CollectReport]) -> CollectReport:
    """One report for a pass written in parts: counts that add up are summed, runs
    unchanged are those of the first part, warnings are joined, the rest is taken from the
    last part."""
    if len(parts) == 1:
        return parts[0]
    last = parts[-1]
    out = type(last)(**{f.name: getattr(last, f.name) for f in fields(last)})
    for name in _ADDED:
        if hasattr(out, name):
            setattr(out, name, sum(getattr(p, name) for p in parts))
    out.runs_unchanged = parts[0].runs_unchanged  # unchanged when the pass began
    out.warnings = merge_warning_lines(line for p in parts for line in p.warnings)
    return out


_LINE = re.compile(r"^(?P<kind>.*) \((?P<n>\d+)x, e\.g\. (?P<examples>.*)\)$", re.DOTALL)


def merge_warning_lines(lines: Iterable[str], max_examples: int = 3) -> list[str]:
    """Grouped warning lines of several parts as one group per kind (counts added, up to
    ``max_examples`` examples), sorted as :meth:`WarningLog.lines` sorts them."""
    counts: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    for line in lines:
        m = _LINE.match(line)
        kind, n, shown = (m["kind"], int(m["n"]), m["examples"]) if m else (line, 0, "")
        counts[kind] = counts.get(kind, 0) + n
        seen = examples.setdefault(kind, [])
        for example in shown.split(", ") if shown else ():
            if example not in seen and len(seen) < max_examples:
                seen.append(example)
    return [
        f"{kind} ({counts[kind]}x, e.g. {', '.join(examples[kind])})" if counts[kind] else kind
        for kind in sorted(counts)
    ]


class _Source:
    """One source's progress through its parts."""

    def __init__(self, collector: ApartCollector) -> None:
        self.collector = collector
        self.skip: frozenset[str] = frozenset()
        self.reports: list[CollectReport] = []
        self.future: TaskFuture[PartRead] | None = None
        self.outcome: CollectReport | Exception | None = None

    def submit(self, store: TraceStore, pool: TaskPool) -> None:
        inputs = self.collector.apart_inputs(store, self.skip)
        self.future = pool.submit(read_part, self.collector, inputs)

    def write(self, store: TraceStore, pool: TaskPool) -> None:
        """Wait for the part in flight, write it, and submit the next one if any."""
        assert self.future is not None
        future, self.future = self.future, None
        try:
            read = future.result()
            self.reports.append(self.collector.write_apart(store, read))
            if read.more:
                skip = self.skip | frozenset(read.attempted)
                if skip == self.skip and not self.reports[-1].runs_written:
                    raise ConfigError(  # pragma: no cover - a collector that never advances
                        f"source {self.collector.apart_key()!r}: a part read more but tried and "
                        "wrote nothing; collect it locally (mileage collect <kind>)."
                    )
                self.skip = skip
                self.submit(store, pool)
                return
            self.outcome = merge_reports(self.reports)
        except Exception as exc:  # one source's failure must not lose the others' reads
            log.warning("collecting %s failed: %s", self.collector.apart_key(), exc)
            self.outcome = exc


def collect_apart(
    store: TraceStore, collectors: Sequence[ApartCollector], pool: TaskPool
) -> list[CollectReport | Exception]:
    """Collect many sources at once: each source is read by tasks on ``pool`` (one part at a
    time, each against its own cursor) and this process writes every part.

    Returns:
        Per collector, in order: its report (the parts merged), or the exception its pass
        raised (the other sources are still written).

    Raises:
        ConfigError: A source is named twice (two tasks would read the same rows).
    """
    keys = [c.apart_key() for c in collectors]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(
            f"source {twice[0]!r} is named more than once; give each source once (one task "
            "per source, so two never write the same rows)."
        )
    sources = [_Source(c) for c in collectors]
    for s in sources:
        try:
            s.submit(store, pool)
        except Exception as exc:
            s.outcome = exc
    # write each part as soon as it is read, whichever source it belongs to
    while flying := [s for s in sources if s.future is not None]:
        ready = [s for s in flying if s.future is not None and s.future.done()]
        if not ready:
            time.sleep(_POLL_SECONDS)
        for s in ready:
            s.write(store, pool)
    return [s.outcome if s.outcome is not None else ConfigError("not collected") for s in sources]


def collect_one_apart(
    store: TraceStore, collector: ApartCollector, pool: TaskPool
) -> CollectReport:
    """One pass of one source, read by tasks on ``pool`` and written by this process.

    Raises:
        Exception: What the pass raised.
    """
    (outcome,) = collect_apart(store, [collector], pool)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


__all__ = [
    "ApartCollector",
    "PartRead",
    "collect_apart",
    "collect_one_apart",
    "merge_reports",
    "merge_warning_lines",
    "read_part",
]
