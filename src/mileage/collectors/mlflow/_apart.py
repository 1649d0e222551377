"""An MLflow pass split in two: a worker reads the source, the caller writes what it read.

The generic driver is :mod:`mileage.collectors._apart`; this module is MLflow's part of it.
A worker lists the runs against the cursor and reads at most
``MILEAGE_COLLECT_TASK_RUNS`` new or changed ones, oldest first (so the cursor the caller
stores never passes a run left for the next part); the caller replays the read through
:class:`RecordedReader`, so the rows, the cursor and the quarantine are written by exactly
the code of a local pass. A worker that dies mid-read leaves nothing behind; its read is
simply run again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import select

from mileage.collectors._apart import collect_apart, collect_one_apart
from mileage.collectors._base import CollectReport, WarningLog
from mileage.collectors.mlflow._records import (
    ExperimentRecord,
    RegistrySnapshot,
    RunHeader,
    RunRecord,
    header_problem,
)
from mileage.platform.cluster import TaskPool
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
        more: The read stopped at the bound: new or changed runs are left for the next part.
        attempted: Ids of the runs this part read or tried to read.
        whole: No run was left out (not cut at the bound, nothing skipped): the quarantine
            may be replaced as after a full local pass.
    """

    uri: str
    kind: str
    full_listing: bool
    experiments: list[ExperimentRecord]
    headers: list[RunHeader]
    records: dict[str, RunRecord]
    registry: RegistrySnapshot
    warnings: WarningLog = field(default_factory=WarningLog)
    more: bool = False
    attempted: list[str] = field(default_factory=list)
    whole: bool = True


@dataclass(frozen=True)
class PassInputs:
    """What a worker reads against: the source's cursor, its stored run signatures, the
    runs earlier parts of this pass already tried, and the bound of one part."""

    cursor: dict[str, Any]
    stored: dict[str, str]
    skip: frozenset[str] = frozenset()
    limit: int | None = None


class RecordedReader:
    """A reader that answers from a :class:`SourceRead` (an ``MlflowReader``)."""

    def __init__(self, read: SourceRead) -> None:
        self._read = read
        self.kind = read.kind
        self.uri = read.uri
        self.full_listing = read.full_listing
        self.whole = read.whole

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


def stored_uris(tracking_uri: str) -> list[str]:
    """The URIs a source given as ``tracking_uri`` may be stored under (the readers
    normalise paths), found without opening it: the caller may not see a worker's files."""
    from mileage.collectors.mlflow._rest import public_uri

    uri = tracking_uri.strip()
    if uri.startswith(("http://", "https://")):
        return [public_uri(uri)]
    if uri.startswith("sqlite:///"):
        return [uri, f"sqlite:///{Path(uri[len('sqlite:///') :]).resolve()}"]
    path = Path(unquote(urlsplit(uri).path)) if uri.startswith("file:") else Path(uri).expanduser()
    path = path.resolve()
    return [
        uri,
        path.as_uri(),
        (path / "mlruns").as_uri(),
        f"sqlite:///{path}",
        f"sqlite:///{path / 'mlflow.db'}",
    ]


def pass_inputs(
    store: TraceStore, kind: str, uri: str | Sequence[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The cursor and the stored run signatures of a source stored under ``uri`` (or the
    first of several candidates), for a worker to read against (empty for a source the
    store does not know yet)."""
    uris = [uri] if isinstance(uri, str) else list(uri)
    with store.connect() as conn:
        found = dict(
            conn.execute(
                select(t.sources.c.uri, t.sources.c.id).where(
                    t.sources.c.kind == kind, t.sources.c.uri.in_(uris)
                )
            ).all()
        )
        source_id = next((found[u] for u in uris if u in found), None)
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
    collector: MlflowCollector,
    cursor: dict[str, Any],
    stored: dict[str, str],
    *,
    skip: frozenset[str] = frozenset(),
    limit: int | None = None,
) -> SourceRead:
    """Read one pass (or part of one) of ``collector``'s source against ``cursor``; writes
    nothing.

    Runs whose listed signature equals the stored one are not read (as in a local pass), nor
    are those in ``skip``. With ``limit``, at most that many runs are read, those that
    started first (runs without a start time before them), and ``more`` tells whether
    others were left for the next part.
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
            and str(h.run_id) not in skip
        ]
        more = limit is not None and len(todo) > limit
        if more:
            todo = sorted(todo, key=lambda h: -1 if h.start_ms is None else h.start_ms)[:limit]
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
            more=more,
            attempted=[str(h.run_id) for h in todo],
            whole=not more and not skip,
        )


def collect_sources(
    store: TraceStore, collectors: Sequence[MlflowCollector], pool: TaskPool
) -> list[CollectReport | Exception]:
    """Collect many MLflow sources apart (see :func:`mileage.collectors.collect_apart`,
    which takes any mix of sources)."""
    return collect_apart(store, collectors, pool)


def collect_on(store: TraceStore, collector: MlflowCollector, pool: TaskPool) -> CollectReport:
    """One pass of one source: read by tasks on ``pool``, written by this process."""
    return collect_one_apart(store, collector, pool)


__all__ = [
    "PassInputs",
    "RecordedReader",
    "SourceRead",
    "collect_on",
    "collect_sources",
    "pass_inputs",
    "read_source",
    "stored_uris",
]
