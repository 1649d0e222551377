"""The MLflow collector: incremental, idempotent, resumable ingestion of a tracking store."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import Connection, delete, insert, select, update

from mileage.collectors import _iterations as iterations
from mileage.collectors._base import (
    CollectReport,
    WarningLog,
    clean_text,
    collection_pass,
    show_value,
    store_quarantine,
)
from mileage.collectors.mlflow._apart import (
    PassInputs,
    RecordedReader,
    SourceRead,
    pass_inputs,
    read_source,
    stored_uris,
)
from mileage.collectors.mlflow._filestore import FileStoreReader, looks_like_file_store
from mileage.collectors.mlflow._records import (
    TERMINAL,
    DatasetInput,
    ExperimentRecord,
    MlflowReader,
    RegistrySnapshot,
    RunHeader,
    RunRecord,
    header_problem,
    record_problem,
)
from mileage.collectors.mlflow._rest import RestReader
from mileage.collectors.mlflow._sqlite import SqliteReader
from mileage.platform.errors import ConfigError, MileageError, PartialFileError
from mileage.platform.pipelines import operators_from_run, store_pipeline
from mileage.platform.progress import NullProgress, Progress
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore, pack_history, upsert
from mileage.platform.store import schema as t

log = logging.getLogger(__name__)

KIND = "mlflow"
#: Runs are chained per experiment and user.
CHAIN_GROUP = ("experiment_id", "user")
_ABANDONED_MS = 7 * 24 * 3600 * 1000
_SQLITE_MAGIC = b"SQLite format 3\x00"


def open_reader(
    tracking_uri: str, warnings: WarningLog, settings: Settings | None = None
) -> MlflowReader:
    """Choose the reader for a tracking URI.

    Args:
        tracking_uri: ``http(s)://host:port``, ``sqlite:///path.db``, a path to an MLflow
            SQLite database, ``file:///path/mlruns`` or a path to an ``mlruns/`` folder.
        warnings: Where the reader reports tolerated problems.
        settings: Retry and timeout settings for servers.

    Raises:
        ConfigError: The URI is none of the supported forms.
    """
    settings = settings or Settings.load()
    uri = tracking_uri.strip()
    if uri.startswith(("http://", "https://")):
        return RestReader(
            uri,
            warnings,
            retries=settings.http_retries,
            timeout=settings.http_timeout_seconds,
            concurrency=settings.http_concurrency,
            max_bytes=settings.http_max_response_bytes,
        )
    if uri.startswith("sqlite:///"):
        return SqliteReader(Path(uri[len("sqlite:///") :]), warnings)
    path = Path(unquote(urlsplit(uri).path)) if uri.startswith("file:") else Path(uri).expanduser()
    if path.is_file():
        with path.open("rb") as fh:
            if fh.read(16) == _SQLITE_MAGIC:
                return SqliteReader(path, warnings)
    if path.is_dir():
        caps = {
            "max_file_bytes": settings.max_file_bytes,
            "max_metric_file_bytes": settings.max_metric_file_bytes,
        }
        if looks_like_file_store(path):
            return FileStoreReader(path, warnings, **caps)
        if (path / "mlruns").is_dir():
            return FileStoreReader(path / "mlruns", warnings, **caps)
        if (path / "mlflow.db").is_file():
            return SqliteReader(path / "mlflow.db", warnings)
    raise ConfigError(
        f"tracking URI {tracking_uri!r} is not a tracking server, an MLflow SQLite database or "
        "an mlruns/ folder (or does not exist). Use http(s)://host:port, sqlite:///path/mlflow.db "
        "or the path of an mlruns/ folder."
    )


class MlflowCollector:
    """Ingest experiments, runs, params, tags, metric histories, dataset inputs, registered
    model versions and aliases from one MLflow tracking store.

    A pass lists the runs, skips those whose signature is unchanged, and writes the rest in
    batches; each batch and the cursor that covers it commit together. A killed pass
    therefore resumes where it stopped, and a replayed pass writes nothing.

    Example:
        >>> from mileage.platform.store import TraceStore
        >>> store = TraceStore.open("sqlite:///:memory:")
        >>> report = MlflowCollector("../shared/data/mlflow-history-agnias47/mlruns").collect(store)
        ... # doctest: +SKIP
    """

    kind = KIND

    def __init__(
        self,
        tracking_uri: str,
        *,
        settings: Settings | None = None,
        full: bool = False,
        batch_size: int | None = None,
        now_ms: int | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.settings = settings or Settings.load()
        self.full = full
        self.batch_size = batch_size or self.settings.collect_batch_size
        self._now_ms = now_ms

    def collect(
        self,
        store: TraceStore,
        *,
        progress: Progress | None = None,
        recorded: SourceRead | None = None,
    ) -> CollectReport:
        """Run one pass. See the class docstring for the guarantees.

        Args:
            store: Where the pass writes.
            progress: Progress reporting.
            recorded: What a worker already read (:meth:`read`): this pass writes it
                instead of reading the source itself.
        """
        progress = progress or NullProgress()
        started = time.perf_counter()
        warnings = recorded.warnings if recorded is not None else WarningLog()
        try:
            reader: MlflowReader = (
                RecordedReader(recorded)
                if recorded is not None
                else open_reader(self.tracking_uri, warnings, self.settings)
            )
        except PartialFileError as exc:
            # Refused as a whole: recorded so 'mileage status' shows why nothing came in.
            source_id = store.ensure_source(KIND, exc.uri)
            warnings.quarantine("file", str(exc.path), exc.part, exc.reason)
            store_quarantine(store, source_id, warnings.quarantined, replace=False)
            raise
        report = CollectReport(source=reader.uri, reader=reader.kind)
        source_id = store.ensure_source(KIND, reader.uri)
        try:
            with (
                collection_pass(store, source_id, report, warnings, started=started),
                closing(reader),
            ):
                written = self._run(store, reader, source_id, report, warnings, progress)
                report.quarantined = store_quarantine(
                    store,
                    source_id,
                    warnings.quarantined,
                    replace=reader.full_listing
                    and not (isinstance(reader, RecordedReader) and not reader.whole),
                    resolved=written,
                )
        except BaseException:
            report.quarantined = store_quarantine(
                store, source_id, warnings.quarantined, replace=False
            )
            raise
        return report

    def read(self, cursor: dict[str, Any], stored: dict[str, str]) -> SourceRead:
        """Read a pass against ``cursor`` and the ``stored`` run signatures, writing nothing
        (what a worker runs; the caller writes the result with ``collect(recorded=...)``)."""
        return read_source(self, cursor, stored)

    # -- read apart (see mileage.collectors.collect_apart) -----------------------------------

    def apart_key(self) -> str:
        """The source's identity (its stored URI when it can be told without opening it)."""
        uris = stored_uris(self.tracking_uri)
        return f"{KIND}:{uris[1] if len(uris) > 1 else uris[0]}"

    def apart_inputs(self, store: TraceStore, skip: frozenset[str]) -> PassInputs:
        """The cursor and stored signatures a worker reads the next part against."""
        cursor, stored = pass_inputs(store, KIND, stored_uris(self.tracking_uri))
        return PassInputs(cursor, stored, skip, self.settings.collect_task_runs)

    def read_apart(self, inputs: PassInputs) -> SourceRead:
        """One part of a pass, read on a worker (at most ``collect_task_runs`` runs)."""
        return read_source(self, inputs.cursor, inputs.stored, skip=inputs.skip, limit=inputs.limit)

    def write_apart(self, store: TraceStore, read: SourceRead) -> CollectReport:
        """Write a part a worker read, with the code of a local pass."""
        return self.collect(store, recorded=read)

    # -- the pass --------------------------------------------------------------------------

    def _run(
        self,
        store: TraceStore,
        reader: MlflowReader,
        source_id: int,
        report: CollectReport,
        warnings: WarningLog,
        progress: Progress,
    ) -> set[str]:
        """One pass; returns the ids of the runs it wrote."""
        with store.connect() as conn:
            cursor = TraceStore.read_cursor(conn, source_id)
            stored = dict(
                conn.execute(
                    select(t.runs.c.external_id, t.runs.c.signature).where(
                        t.runs.c.source_id == source_id
                    )
                ).all()
            )
        progress.start(f"listing {reader.uri}")
        experiments = reader.experiments()
        with store.begin() as conn:
            exp_ids = _write_experiments(conn, source_id, experiments)
        report.experiments = len(experiments)
        headers = list(reader.list_runs(cursor, full=self.full))
        progress.finish()
        report.runs_seen = len(headers)
        listed = {str(h.run_id) for h in headers}
        headers = _sound_headers(headers, warnings)
        todo = [h for h in headers if self.full or stored.get(h.run_id) != h.signature]
        report.runs_unchanged = len(headers) - len(todo)
        written: set[str] = set()
        progress.start(f"collecting runs from {reader.uri}", total=len(todo))
        for i in range(0, len(todo), self.batch_size):
            batch = todo[i : i + self.batch_size]
            records = _sound_records(_read_isolated(reader, batch, warnings), warnings)
            written.update(r.run_id for r in records)
            self._inspect(records, warnings)
            with store.begin() as conn:
                _write_runs(conn, source_id, records, exp_ids, warnings)
                cursor = _advance(cursor, records)
                TraceStore.write_cursor(conn, source_id, cursor)
            report.runs_written += len(records)
            progress.advance(len(batch))
        progress.finish()
        if reader.full_listing:
            listed |= {e.record_id for e in warnings.quarantined if e.kind == "run"}
            self._mark_gone(store, source_id, stored, listed, warnings)
        snapshot = reader.registry()
        with store.begin() as conn:
            report.model_versions = len(snapshot.versions)
            report.registry_events = _write_registry(conn, source_id, snapshot, self.now_ms())
        with store.begin() as conn:
            groups = iterations.dirty_groups(conn, source_id, CHAIN_GROUP)
            report.chains_rebuilt = iterations.rebuild(conn, source_id, CHAIN_GROUP, groups)
            cursor["passes"] = int(cursor.get("passes", 0)) + 1
            cursor["last_pass_ms"] = self.now_ms()
            TraceStore.write_cursor(conn, source_id, cursor)
        return written

    def now_ms(self) -> int:
        """Current time in epoch milliseconds (injectable for tests)."""
        return self._now_ms if self._now_ms is not None else int(time.time() * 1000)

    def _inspect(self, records: Iterable[RunRecord], warnings: WarningLog) -> None:
        now = self.now_ms()
        for r in records:
            short = r.run_id[:12]
            for key, series in r.metrics.items():
                if len(series) and not _all_finite(series.values):
                    warnings.add(
                        "metric values that are NaN or infinite were kept as NaN/±inf",
                        f"{short}/{key}",
                    )
            if (
                r.status == "RUNNING"
                and r.start_ms is not None
                and now - r.start_ms > _ABANDONED_MS
            ):
                warnings.add(
                    "run still RUNNING after 7 days (probably abandoned; kept as RUNNING and rechecked each pass)",
                    short,
                )
            if r.status in TERMINAL and r.end_ms is None:
                warnings.add("finished run without an end time (kept with no end time)", short)
            if r.lifecycle_stage == "deleted":
                warnings.add(
                    "deleted run (kept, marked lifecycle_stage='deleted', left out of chains)",
                    short,
                )
            if r.artifact_uri and _foreign_path(r.artifact_uri):
                warnings.add(
                    "artifact location written on another machine (kept as a reference; artifacts are not read)",
                    r.artifact_uri[:60] + ("..." if len(r.artifact_uri) > 60 else ""),
                )

    def _mark_gone(
        self,
        store: TraceStore,
        source_id: int,
        stored: dict[str, str],
        listed: set[str],
        warnings: WarningLog,
    ) -> None:
        gone = sorted(set(stored) - listed)
        gone = [g for g in gone if stored[g] != "gone"]
        if not gone:
            return
        with store.begin() as conn:
            ids = [
                row[0]
                for i in range(0, len(gone), 500)
                for row in conn.execute(
                    select(t.runs.c.id).where(
                        t.runs.c.source_id == source_id, t.runs.c.external_id.in_(gone[i : i + 500])
                    )
                )
            ]
            iterations.invalidate(conn, ids)
            for i in range(0, len(ids), 500):
                conn.execute(
                    update(t.runs)
                    .where(t.runs.c.id.in_(ids[i : i + 500]))
                    .values(lifecycle_stage="gone", signature="gone")
                )
        for g in gone:
            warnings.add(
                "run no longer in the tracking store (purged there; kept here as 'gone')", g[:12]
            )


#: What a damaged record raises while a reader builds it; our own errors are not among them.
_RECORD_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError, UnicodeError)


def _sound_headers(headers: list[RunHeader], warnings: WarningLog) -> list[RunHeader]:
    out = []
    for h in headers:
        problem = header_problem(h)
        if problem is None:
            out.append(h)
        else:
            warnings.quarantine("run", str(h.run_id), *problem)
    return out


def _sound_records(records: list[RunRecord], warnings: WarningLog) -> list[RunRecord]:
    out = []
    for r in records:
        problem = record_problem(r)
        if problem is None:
            out.append(r)
        else:
            warnings.quarantine("run", r.run_id, *problem)
    return out


def _read_isolated(
    reader: MlflowReader, batch: list[RunHeader], warnings: WarningLog
) -> list[RunRecord]:
    """Read a batch; when a damaged run breaks the batch, halve it until that run stands alone.

    The run that fails on its own is quarantined and the others are read: one bad run costs
    ``log2(batch)`` extra reads, never the rest of the source.
    """
    try:
        return reader.read_runs(batch)
    except _RECORD_ERRORS as exc:
        if isinstance(exc, MileageError):
            raise
        if len(batch) == 1:
            detail = show_value(str(exc))
            warnings.quarantine("run", batch[0].run_id, "record", f"{type(exc).__name__}: {detail}")
            return []
    mid = len(batch) // 2
    return _read_isolated(reader, batch[:mid], warnings) + _read_isolated(
        reader, batch[mid:], warnings
    )


def _all_finite(values: Any) -> bool:
    import numpy as np

    return bool(np.isfinite(values).all())


def _foreign_path(artifact_uri: str) -> bool:
    """Whether a local artifact path belongs to another machine.

    MLflow creates artifact folders lazily, so a missing folder alone proves nothing; a path
    whose deepest existing ancestor is a top-level folder (``/home`` of ``/home/andy/...``)
    was written elsewhere.
    """
    if artifact_uri.startswith("file://"):
        path = Path(unquote(urlsplit(artifact_uri).path))
    elif artifact_uri.startswith("/"):
        path = Path(artifact_uri)
    else:
        return False
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    return len(existing.parts) <= 2 < len(path.parts)


def _advance(cursor: dict[str, Any], records: Sequence[RunRecord]) -> dict[str, Any]:
    position = dict(cursor)
    starts = [r.start_ms for r in records if r.start_ms is not None]
    if starts:
        position["max_start_ms"] = max([*starts, int(cursor.get("max_start_ms") or 0)])
    written = {r.run_id for r in records}
    still_open = {r.run_id for r in records if r.status not in TERMINAL}
    position["open_runs"] = sorted((set(cursor.get("open_runs", [])) - written) | still_open)
    return position


def _write_experiments(
    conn: Connection, source_id: int, experiments: list[ExperimentRecord]
) -> dict[str, int]:
    upsert(
        conn,
        t.experiments,
        [
            {
                "source_id": source_id,
                "external_id": e.experiment_id,
                "name": clean_text(e.name, 1024) or "",
                "artifact_location": clean_text(e.artifact_location),
                "lifecycle_stage": e.lifecycle_stage,
                "created_ms": e.created_ms,
                "tags": {k: clean_text(v) for k, v in e.tags.items()},
            }
            for e in experiments
        ],
        keys=("source_id", "external_id"),
    )
    return _experiment_ids(conn, source_id)


def _experiment_ids(conn: Connection, source_id: int) -> dict[str, int]:
    return {
        ext: int(i)
        for ext, i in conn.execute(
            select(t.experiments.c.external_id, t.experiments.c.id).where(
                t.experiments.c.source_id == source_id
            )
        )
    }


def _json_or_text(value: str | None) -> Any:
    if value is None or value == "":
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return {"text": value}


def _write_datasets(conn: Connection, source_id: int, inputs: list[DatasetInput]) -> dict[str, int]:
    unique = {d.external_id: d for d in inputs}
    if not unique:
        return {}
    rows = []
    for ext, d in unique.items():
        profile = _json_or_text(d.profile)
        meta = {}
        if isinstance(profile, dict):
            meta = {
                k: v
                for k, v in profile.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
        rows.append(
            {
                "source_id": source_id,
                "external_id": ext[:256],
                "name": clean_text(d.name, 1024) or "",
                "digest": d.digest[:128],
                "source_uri": clean_text(d.source),
                "schema": _json_or_text(d.schema),
                "profile": profile,
                "meta_features": meta,
            }
        )
    upsert(conn, t.datasets, rows, keys=("source_id", "external_id"))
    return {
        ext: int(i)
        for ext, i in conn.execute(
            select(t.datasets.c.external_id, t.datasets.c.id).where(
                t.datasets.c.source_id == source_id,
                t.datasets.c.external_id.in_([r["external_id"] for r in rows]),
            )
        )
    }


def _write_runs(
    conn: Connection,
    source_id: int,
    records: list[RunRecord],
    exp_ids: dict[str, int],
    warnings: WarningLog,
) -> None:
    if not records:
        return
    for exp in {r.experiment_id for r in records} - exp_ids.keys():
        warnings.add(
            "run of an experiment the store does not list (placeholder experiment created)", exp
        )
        upsert(
            conn,
            t.experiments,
            [
                {
                    "source_id": source_id,
                    "external_id": exp,
                    "name": f"experiment {exp}",
                    "artifact_location": None,
                    "lifecycle_stage": "unknown",
                    "created_ms": None,
                    "tags": {},
                }
            ],
            keys=("source_id", "external_id"),
            update=(),
        )
        exp_ids.update(_experiment_ids(conn, source_id))
    dataset_ids = _write_datasets(conn, source_id, [d for r in records for d in r.inputs])
    rows = []
    for r in records:
        params = {clean_text(k, 512) or "": clean_text(v) or "" for k, v in r.params.items()}
        tags = {clean_text(k, 512) or "": clean_text(v) or "" for k, v in r.tags.items()}
        r.params, r.tags = params, tags
        pipeline_id = None
        try:
            operators = operators_from_run(params, tags)
        except ValueError as exc:
            warnings.add("unreadable pipeline description ignored", f"{r.run_id[:12]}: {exc}")
            operators = None
        if operators:
            pipeline_id = store_pipeline(conn, "+".join(op.name for op in operators), operators)
        train = [d for d in r.inputs if d.context in ("training", "train")] or r.inputs
        rows.append(
            {
                "source_id": source_id,
                "external_id": r.run_id,
                "experiment_id": exp_ids[r.experiment_id],
                "name": clean_text(r.name, 1024),
                "user": clean_text(r.user, 256),
                "status": r.status[:16],
                "start_ms": r.start_ms,
                "end_ms": r.end_ms,
                "lifecycle_stage": r.lifecycle_stage[:32],
                "artifact_uri": clean_text(r.artifact_uri),
                "task_id": None,
                "dataset_id": dataset_ids.get(train[0].external_id) if train else None,
                "pipeline_id": pipeline_id,
                "configuration_id": None,
                "signature": r.signature,
            }
        )
    upsert(conn, t.runs, rows, keys=("source_id", "external_id"))
    ids = dict(
        conn.execute(
            select(t.runs.c.external_id, t.runs.c.id).where(
                t.runs.c.source_id == source_id,
                t.runs.c.external_id.in_([r.run_id for r in records]),
            )
        ).all()
    )
    run_ids = [int(ids[r.run_id]) for r in records]
    for table in (t.params, t.tags, t.metric_histories, t.run_datasets):
        conn.execute(delete(table).where(table.c.run_id.in_(run_ids)))
    iterations.invalidate(conn, run_ids)
    param_rows = [
        {"run_id": ids[r.run_id], "key": k, "value": v}
        for r in records
        for k, v in r.params.items()
    ]
    tag_rows = [
        {"run_id": ids[r.run_id], "key": k, "value": v} for r in records for k, v in r.tags.items()
    ]
    metric_rows = [
        {
            "run_id": ids[r.run_id],
            "key": clean_text(k, 512),
            **pack_history(s.steps, s.timestamps, s.values),
        }
        for r in records
        for k, s in r.metrics.items()
        if len(s)
    ]
    link_rows = [
        {
            "run_id": ids[r.run_id],
            "dataset_id": dataset_ids[d.external_id[:256]],
            "context": (d.context or "")[:64],
        }
        for r in records
        for d in {(d.external_id, d.context): d for d in r.inputs}.values()
    ]
    for table, table_rows in (
        (t.params, param_rows),
        (t.tags, tag_rows),
        (t.metric_histories, metric_rows),
        (t.run_datasets, link_rows),
    ):
        if table_rows:
            conn.execute(insert(table), table_rows)


def _write_registry(conn: Connection, source_id: int, snap: RegistrySnapshot, now_ms: int) -> int:
    # Events are appended from a comparison with the stored registry: a second writer of the
    # source (another process collecting it at once) waits here until this one commits, so
    # it compares with what this one wrote and never appends the same event twice.
    conn.execute(select(t.sources.c.id).where(t.sources.c.id == source_id).with_for_update())
    mv = t.model_versions
    stored = {
        (name, int(version)): stage
        for name, version, stage in conn.execute(
            select(mv.c.model_name, mv.c.version, mv.c.stage).where(mv.c.source_id == source_id)
        )
    }
    run_ids = (
        dict(
            conn.execute(
                select(t.runs.c.external_id, t.runs.c.id).where(
                    t.runs.c.source_id == source_id,
                    t.runs.c.external_id.in_([v.run_id for v in snap.versions if v.run_id]),
                )
            ).all()
        )
        if snap.versions
        else {}
    )
    events: list[dict[str, Any]] = []
    for v in snap.versions:
        key = (v.model_name, v.version)
        when = v.updated_ms or now_ms
        if key not in stored:
            events.append(
                _event(
                    source_id,
                    v.model_name,
                    "version",
                    f"version {v.version}",
                    v.version,
                    None,
                    v.stage,
                    v.created_ms or when,
                )
            )
        elif stored[key] != v.stage:
            events.append(
                _event(
                    source_id, v.model_name, "stage", "stage", v.version, stored[key], v.stage, when
                )
            )
    upsert(
        conn,
        mv,
        [
            {
                "source_id": source_id,
                "model_name": v.model_name,
                "version": v.version,
                "run_external_id": v.run_id,
                "run_id": run_ids.get(v.run_id) if v.run_id else None,
                "status": v.status,
                "stage": v.stage,
                "source": clean_text(v.source),
                "description": clean_text(v.description),
                "created_ms": v.created_ms,
                "updated_ms": v.updated_ms,
                "tags": v.tags,
            }
            for v in snap.versions
        ],
        keys=("source_id", "model_name", "version"),
    )
    ma = t.model_aliases
    current = {
        (name, alias): int(version)
        for name, alias, version in conn.execute(
            select(ma.c.model_name, ma.c.alias, ma.c.version).where(ma.c.source_id == source_id)
        )
    }
    for (name, alias), version in sorted(snap.aliases.items()):
        if current.get((name, alias)) != version:
            old = current.get((name, alias))
            events.append(
                _event(
                    source_id,
                    name,
                    "alias",
                    alias,
                    version,
                    None if old is None else str(old),
                    str(version),
                    snap.model_updated_ms.get(name) or now_ms,
                )
            )
    for (name, alias), old in sorted(current.items()):
        if (name, alias) not in snap.aliases:
            events.append(
                _event(
                    source_id,
                    name,
                    "alias",
                    alias,
                    None,
                    str(old),
                    None,
                    snap.model_updated_ms.get(name) or now_ms,
                )
            )
            conn.execute(
                delete(ma).where(
                    ma.c.source_id == source_id, ma.c.model_name == name, ma.c.alias == alias
                )
            )
    upsert(
        conn,
        ma,
        [
            {"source_id": source_id, "model_name": n, "alias": a, "version": v}
            for (n, a), v in snap.aliases.items()
        ],
        keys=("source_id", "model_name", "alias"),
    )
    if events:
        conn.execute(insert(t.registry_events), events)
    return len(events)


def _event(
    source_id: int,
    model: str,
    kind: str,
    name: str,
    version: int | None,
    from_value: str | None,
    to_value: str | None,
    observed_ms: int,
) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "model_name": model,
        "kind": kind,
        "name": name,
        "version": version,
        "from_value": from_value,
        "to_value": to_value,
        "observed_ms": observed_ms,
    }


__all__ = ["CHAIN_GROUP", "KIND", "MlflowCollector", "RunHeader", "open_reader"]
