"""An MLflow pass split in two: a worker reads the source, the caller writes what it read.

On a cluster (or in worker processes) the reading of many sources runs at once, while every
write to the trace store stays in one process: :meth:`MlflowCollector.collect` replays the
records a worker returned through :class:`RecordedReader`, so the rows, the cursor (in the
same transaction as the rows it covers) and the quarantine are written by exactly the code of
a local pass. A worker that dies mid-read leaves nothing behind; its read is simply run again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from mileage.collectors._base import CollectReport, WarningLog
from mileage.collectors.mlflow._records import (
    ExperimentRecord,
    RegistrySnapshot,
    RunHeader,
    RunRecord,
    header_problem,
)
from mileage.platform.cluster import TaskPool
from mileage.platform.errors import ConfigError
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t

if TYPE_CHECKING:
    from mileage.collectors.mlflow._collector import MlflowCollector

log = logging.getLogger(__name__)


@dataclass
class SourceRead:
    """Everything one pass read from a source, before anything was written.

    Attributes:
        uri: The source's normalised URI.
        kind: The reader that read it (``rest``, ``sqlite``, ``filestore``).
        full_listing: Whether ``headers`` lists every run of the source.
        experiments: Every experiment.
        headers: The runs the listing returned for the cursor it was given.
        records: Full records of the runs that were new or changed, by run id (runs that
            could not be read are in ``warnings``' quarantine instead).
        registry: Registered model versions and aliases.
        warnings: What the reading tolerated or set aside.
    """

    uri: str
    kind: str
    full_listing: bool
    experiments: list[ExperimentRecord]
    headers: list[RunHeader]
    records: dict[str, RunRecord]
    registry: RegistrySnapshot
    warnings: WarningLog = field(default_factory=WarningLog)


class RecordedReader:
    """A reader that answers from a :class:`SourceRead` (an ``MlflowReader``)."""

    def __init__(self, read: SourceRead) -> None:
        self._read = read
        self.kind = read.kind
        self.uri = read.uri
        self.full_listing = read.full_listing

    def experiments(self) -> list[ExperimentRecord]:
        return list(self._read.experiments)

    def list_runs(self, cursor: dict[str, Any], *, full: bool) -> Iterator[RunHeader]:
        return iter(self._read.headers)

    def read_runs(self, headers: list[RunHeader]) -> list[RunRecord]:
        """The recorded runs among ``headers``; a run the worker did not read (unchanged
        when it listed, or set aside) is left for a later pass."""
        records = self._read.records
        return [records[h.run_id] for h in headers if h.run_id in records]

    def registry(self) -> RegistrySnapshot:
        return self._read.registry

    def close(self) -> None:
        """Nothing to release."""


def pass_inputs(store: TraceStore, kind: str, uri: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The cursor and the stored run signatures of a source, for a worker to read against
    (empty for a source the store does not know yet)."""
    with store.connect() as conn:
        source_id = conn.execute(
            select(t.sources.c.id).where(t.sources.c.kind == kind, t.sources.c.uri == uri)
        ).scalar_one_or_none()
        if source_id is None:
            return {}, {}
        cursor = TraceStore.read_cursor(conn, int(source_id))
        stored = dict(
            conn.execute(
                select(t.runs.c.external_id, t.runs.c.signature).where(
                    t.runs.c.source_id == source_id
                )
            ).all()
        )
    return cursor, stored


def read_source(
    collector: MlflowCollector, cursor: dict[str, Any], stored: dict[str, str]
) -> SourceRead:
    """Read one pass of ``collector``'s source against ``cursor``; writes nothing.

    Runs whose listed signature equals the stored one are not read (as in a local pass).
    """
    from mileage.collectors.mlflow._collector import _read_isolated, open_reader

    warnings = WarningLog()
    reader = open_reader(collector.tracking_uri, warnings, collector.settings)
    with closing(reader):
        experiments = reader.experiments()
        headers = list(reader.list_runs(cursor, full=collector.full))
        todo = [
            h
            for h in headers
            if header_problem(h) is None
            and (collector.full or stored.get(str(h.run_id)) != h.signature)
        ]
        records: dict[str, RunRecord] = {}
        size = collector.batch_size
        for i in range(0, len(todo), size):
            for r in _read_isolated(reader, todo[i : i + size], warnings):
                records[r.run_id] = r
        registry = reader.registry()
        return SourceRead(
            uri=reader.uri,
            kind=reader.kind,
            full_listing=reader.full_listing,
            experiments=experiments,
            headers=headers,
            records=records,
            registry=registry,
            warnings=warnings,
        )


def _read_task(
    collector: MlflowCollector, cursor: dict[str, Any], stored: dict[str, str]
) -> SourceRead:
    return collector.read(cursor, stored)


def collect_sources(
    store: TraceStore, collectors: Sequence[MlflowCollector], pool: TaskPool
) -> list[CollectReport | Exception]:
    """Collect many sources: each source is read by one task on ``pool`` (all at once, each
    against its own cursor), and this process writes what each read, one source at a time.

    No two tasks ever read one source (a source named twice is refused), and no task
    writes: a task whose worker dies is run again by the pool, and the rows and the cursor
    are written once, by the caller, in the transactions of a local pass.

    Returns:
        Per collector, in order: its report, or the exception its pass raised (the other
        sources are still written).

    Raises:
        ConfigError: A source is named twice.
    """
    uris = [c.tracking_uri for c in collectors]
    twice = sorted({u for u in uris if uris.count(u) > 1})
    if twice:
        raise ConfigError(
            f"source {twice[0]!r} is named more than once; give each source once (one task "
            "per source, so two never write the same rows)."
        )
    futures = [
        pool.submit(_read_task, c, *pass_inputs(store, c.kind, c.tracking_uri)) for c in collectors
    ]
    out: list[CollectReport | Exception] = []
    for collector, future in zip(collectors, futures, strict=True):
        try:
            out.append(collector.collect(store, recorded=future.result()))
        except Exception as exc:  # one source's failure must not lose the others' reads
            log.warning("collecting %s failed: %s", collector.tracking_uri, exc)
            out.append(exc)
    return out


def collect_on(store: TraceStore, collector: MlflowCollector, pool: TaskPool) -> CollectReport:
    """One pass of one source: read by a task on ``pool``, written by this process."""
    cursor, stored = pass_inputs(store, collector.kind, collector.tracking_uri)
    return collector.collect(store, recorded=pool.run(_read_task, collector, cursor, stored))


__all__ = [
    "RecordedReader",
    "SourceRead",
    "collect_on",
    "collect_sources",
    "pass_inputs",
    "read_source",
]
