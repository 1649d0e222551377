"""The OpenML collector: incremental, idempotent, resumable ingestion of OpenML runs.

A pass resolves the selection (tasks, studies or suites, flows, uploaders, runs, setups,
datasets), stores the selected tasks, datasets (with their qualities as meta-features),
flows and setups, lists the selected runs, skips those stored complete and unchanged, and
collects the rest oldest first in batches: each batch (runs with their flows, setups,
tasks, datasets, pipelines, parameters, per-fold evaluations) commits together with the
cursor that covers it, so a killed pass resumes where it stopped and a replayed pass writes
nothing. Runs then form per-uploader, per-task iteration chains in upload order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Connection, cast, select

from mileage.collectors import _iterations as iterations
from mileage.collectors._base import CollectReport, WarningLog, collection_pass, ids_of
from mileage.collectors.openml._apart import (
    OpenmlInputs,
    OpenmlRead,
    RecordingSource,
    ReplaySource,
    StoredState,
)
from mileage.collectors.openml._assemble import (
    RunEvidence,
    assemble,
    stored_state,
    upload_ms,
)
from mileage.collectors.openml._catalog import Catalog
from mileage.collectors.openml._client import (
    CacheSource,
    ChainSource,
    OpenmlSource,
    ServerSource,
    default_apikey,
    default_server,
    host_of,
)
from mileage.collectors.openml._parse import (
    parse_evaluation_list,
    parse_flow_list,
    parse_run,
    parse_run_list,
    parse_setup_list,
    parse_study,
    parse_user_list,
)
from mileage.collectors.openml._records import (
    EvaluationEntry,
    FlowRecord,
    TaskRecord,
)
from mileage.collectors.openml._write import (
    write_runs,
)
from mileage.platform.errors import CollectorError, ConfigError, SourceUnavailableError
from mileage.platform.progress import NullProgress, Progress
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t

log = logging.getLogger(__name__)

KIND = "openml"
#: Runs are chained per task and uploader, in upload order.
CHAIN_GROUP = ("task_id", "user")
_PAGE = 10_000
_SETUP_PAGE = 1_000
_IDS_PER_CALL = 100
T = TypeVar("T")


@dataclass(frozen=True)
class Selection:
    """What to collect from OpenML. Every field adds to the selection.

    Attributes:
        tasks: Task ids: the tasks, their datasets and all their runs.
        suites: Study or benchmark-suite ids (``OpenML-CC18`` is 99): their tasks and runs.
        flows: Flow ids: the flows, their setups and their runs.
        uploaders: User ids: their runs and their flows.
        runs: Run ids.
        setups: Setup ids.
        datasets: Dataset ids: descriptions and qualities.
        limit: At most this many new or changed runs per pass, oldest first (the next pass
            continues).
    """

    tasks: tuple[int, ...] = ()
    suites: tuple[int, ...] = ()
    flows: tuple[int, ...] = ()
    uploaders: tuple[int, ...] = ()
    runs: tuple[int, ...] = ()
    setups: tuple[int, ...] = ()
    datasets: tuple[int, ...] = ()
    limit: int | None = None

    def is_empty(self) -> bool:
        """Whether nothing is selected."""
        return not any(
            (
                self.tasks,
                self.suites,
                self.flows,
                self.uploaders,
                self.runs,
                self.setups,
                self.datasets,
            )
        )

    def describe(self) -> str:
        """``tasks 31,53; uploaders 1`` (for reports and the cursor)."""
        parts = [
            f"{name} {','.join(map(str, ids))}"
            for name, ids in (
                ("tasks", self.tasks),
                ("suites", self.suites),
                ("flows", self.flows),
                ("uploaders", self.uploaders),
                ("runs", self.runs),
                ("setups", self.setups),
                ("datasets", self.datasets),
            )
            if ids
        ]
        if self.limit:
            parts.append(f"limit {self.limit}")
        return "; ".join(parts) or "nothing"


@dataclass
class OpenmlReport(CollectReport):
    """Outcome of an OpenML pass (adds the catalog objects to :class:`CollectReport`).

    Attributes:
        tasks: Task rows written (described tasks and placeholders).
        datasets: Dataset rows written.
        flows: Flow rows written (with every subflow).
        setups: Setups stored as configurations.
        runs_deferred: Runs whose description was unreadable; read again on the next pass.
    """

    tasks: int = 0
    datasets: int = 0
    flows: int = 0
    setups: int = 0
    runs_deferred: int = 0


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class OpenmlCollector:
    """Collect tasks, datasets (with qualities), flows, setups and runs from OpenML.

    Args:
        selection: What to collect.
        server: OpenML API URL; default ``openml.config.server`` (www.openml.org unless
            configured otherwise). Ignored when only ``cache_dir`` is given.
        cache_dir: An openml-python cache folder to read first. Alone, it is read offline
            (lists, and so uploader or suite selections, need a server); with ``server``, the
            server answers what the cache lacks.
        source_uri: Identity of the data in the store; default the server's host name (or
            the host whose cache folder is read). Give it when a mirror serves another
            server's data, so both routes land in one source.
        settings: Retries, timeout and batch size.
        full: Re-read every selected run, not only new, changed or incomplete ones.
        batch_size: Runs per transaction.
        backoff: First pause between attempts of a call, doubled each time (seconds).
        sleep: How to pause (tests pass a no-op).
        now_ms: Clock for the cursor (tests).

    Example:
        >>> collector = OpenmlCollector(Selection(tasks=(31,), limit=100))  # doctest: +SKIP
        >>> report = collector.collect(TraceStore.open("sqlite:///trace.db"))  # doctest: +SKIP
    """

    kind = KIND

    def __init__(
        self,
        selection: Selection,
        *,
        server: str | None = None,
        cache_dir: Path | None = None,
        source_uri: str | None = None,
        settings: Settings | None = None,
        full: bool = False,
        batch_size: int | None = None,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        now_ms: int | None = None,
    ) -> None:
        if selection.is_empty():
            raise ConfigError(
                "nothing selected to collect from OpenML; give at least one of --task, --suite, "
                "--flow, --uploader, --run, --setup or --dataset."
            )
        if selection.limit is not None and selection.limit < 1:
            raise ConfigError(f"limit must be at least 1, got {selection.limit}")
        if server is not None:
            host_of(server)  # a usage error now rather than a network error later
        self.selection = selection
        self.server = server
        self.cache_dir = cache_dir
        self.source_uri = source_uri
        self.settings = settings or Settings.load()
        self.full = full
        self.batch_size = batch_size or min(self.settings.collect_batch_size, 200)
        self._backoff = backoff
        self._sleep = sleep
        self._now_ms = now_ms

    def open_source(self) -> OpenmlSource:
        """The cache folder, the server, or both, as configured."""
        cache = CacheSource(self.cache_dir, server=self.server) if self.cache_dir else None
        if cache is not None and self.server is None:
            return cache
        server = ServerSource(
            self.server or default_server(),
            apikey=default_apikey(),
            retries=self.settings.http_retries,
            timeout=self.settings.http_timeout_seconds,
            backoff=self._backoff,
            sleep=self._sleep,
            max_bytes=self.settings.http_max_response_bytes,
        )
        return ChainSource(cache, server) if cache is not None else server

    def now_ms(self) -> int:
        """Current time in epoch milliseconds (injectable for tests)."""
        return self._now_ms if self._now_ms is not None else int(time.time() * 1000)

    def collect(
        self,
        store: TraceStore,
        *,
        progress: Progress | None = None,
        recorded: OpenmlRead | None = None,
    ) -> OpenmlReport:
        """Run one pass. See the module docstring for the guarantees.

        Args:
            store: Where the pass writes.
            progress: Progress reporting.
            recorded: What a worker already read (:meth:`read_apart`): the pass is answered
                from it instead of the source (one part of a pass).

        Raises:
            ConfigError: The server URL or cache folder is unusable.
            SourceUnavailableError: The server stopped answering; the message names the object
                being read and how to resume.
            CollectorError: The server refused a call (for example, an API key is required).
        """
        started = time.perf_counter()
        warnings = WarningLog()
        source: OpenmlSource = (
            self.open_source() if recorded is None else ReplaySource(recorded, self.open_source)
        )
        uri = self.source_uri or source.uri
        report = OpenmlReport(source=uri, reader="cache" if not source.can_list else "server")
        source_id = store.ensure_source(KIND, uri, display_name=source.location)
        with (
            collection_pass(store, source_id, report, warnings, started=started),
            closing(source),
        ):
            one = _Pass(
                self, store, source, source_id, warnings, report, progress or NullProgress()
            )
            if recorded is not None:
                one.skip, one.part_limit = recorded.skip, recorded.limit
            one.run()
        return report

    # -- read apart (see mileage.collectors.collect_apart) -----------------------------------

    def _stored_uri(self) -> str:
        if self.source_uri:
            return self.source_uri
        if self.server is not None or self.cache_dir is None:
            return host_of(self.server or default_server())
        with closing(self.open_source()) as source:  # a cache folder alone: its host names it
            return source.uri

    def apart_key(self) -> str:
        """The source's identity: OpenML sources are told apart by host."""
        return f"{KIND}:{self._stored_uri()}"

    def apart_inputs(self, store: TraceStore, skip: frozenset[str]) -> OpenmlInputs:
        """The stored state a worker reads the next part against."""
        with store.connect() as conn:
            source_id = conn.execute(
                select(t.sources.c.id).where(
                    t.sources.c.kind == KIND, t.sources.c.uri == self._stored_uri()
                )
            ).scalar_one_or_none()
            state = StoredState() if source_id is None else load_state(conn, int(source_id))
        return OpenmlInputs(state, skip, self.settings.collect_task_runs)

    def read_apart(self, inputs: OpenmlInputs) -> OpenmlRead:
        """One part of a pass, fetched and parsed on a worker; writes nothing."""
        source = RecordingSource(self.open_source())
        one = _Pass(self, None, source, 0, WarningLog(), OpenmlReport("", ""), NullProgress())
        one.skip, one.part_limit, one.state = inputs.skip, inputs.limit, inputs.state
        try:
            with closing(source):
                one.run()
        except (SourceUnavailableError, CollectorError):
            if not source.failed:
                raise
            # the caller raises it again at the same call, after writing what came before
        return OpenmlRead(
            uri=source.uri,
            location=source.location,
            can_list=source.can_list,
            answers=source.answers,
            skip=inputs.skip,
            limit=inputs.limit,
            more=one.more,
            attempted=one.attempted,
        )

    def write_apart(self, store: TraceStore, read: OpenmlRead) -> OpenmlReport:
        """Write a part a worker read, with the code of a local pass."""
        return self.collect(store, recorded=read)


class _Pass:
    """State of one collection pass."""

    def __init__(
        self,
        collector: OpenmlCollector,
        store: TraceStore | None,
        source: OpenmlSource,
        source_id: int,
        warnings: WarningLog,
        report: OpenmlReport,
        progress: Progress,
    ) -> None:
        self.c = collector
        self.store = store
        self.source = source
        self.source_id = source_id
        self.warnings = warnings
        self.report = report
        self.progress = progress
        self.catalog = Catalog(source, source_id, warnings, report)
        self.known = self.catalog.known
        self.signatures: dict[str, str] = {}
        self.cursor: dict[str, Any] = {}
        #: Read apart: runs earlier parts tried, the bound of this part, and (on a worker,
        #: where ``store`` is None and nothing is written) the stored state to start from.
        self.skip: frozenset[str] = frozenset()
        self.part_limit: int | None = None
        self.state: StoredState | None = None
        self.more = False
        self.attempted: list[str] = []

    def flush(self) -> None:
        """Write the catalog objects read since the last flush (on a worker: forget them)."""
        if self.store is None:
            self.catalog.forget()
            return
        with self.store.begin() as conn:
            self.catalog.flush(conn)

    # -- the pass ------------------------------------------------------------------------

    def run(self) -> None:
        self.load_stored()
        selection = self.expand(self.c.selection)
        self.progress.start(f"reading OpenML catalog from {self.source.location}")
        for did in selection.datasets:
            self.catalog.need_dataset(did)
        for tid in selection.tasks:
            self.catalog.need_task(tid)
        for fid in selection.flows:
            self.catalog.need_flow(fid)
        for sid in selection.setups:
            self.catalog.need_setup(sid)
        for chunk in _chunks(list(selection.flows), _IDS_PER_CALL):
            ids = ",".join(map(str, chunk))
            for setup in self.catalog.list_all(
                f"setup/list/flow/{ids}", parse_setup_list, f"setups of flows {ids}", _SETUP_PAGE
            ):
                self.catalog.add_setup(setup)
        for uid in selection.uploaders:
            for entry in self.catalog.list_all(
                f"flow/list/uploader/{uid}", parse_flow_list, f"flows of uploader {uid}"
            ):
                full = entry.full_name or (
                    f"{entry.name}({entry.version})" if entry.version else entry.name
                )
                self.known.flow_names[entry.flow_id] = full
                if entry.flow_id not in self.known.flows:
                    self.catalog.flow_placeholders[entry.flow_id] = (
                        full,
                        {
                            "version": entry.version,
                            "external_version": entry.external_version,
                            "uploader": entry.uploader,
                        },
                    )
        self.flush()
        self.progress.finish()
        evidence = self.discover(selection)
        self.report.runs_seen = len(evidence)
        todo = self.part(self.todo(evidence, selection.limit))
        self.progress.start(f"collecting runs from {self.source.location}", total=len(todo))
        for batch in _chunks(todo, self.c.batch_size):
            self.collect_batch(batch)
            self.progress.advance(len(batch))
        self.progress.finish()
        self.report_unavailable()
        if self.store is None:
            return
        with self.store.begin() as conn:
            groups = iterations.dirty_groups(conn, self.source_id, CHAIN_GROUP)
            self.report.chains_rebuilt = iterations.rebuild(
                conn,
                self.source_id,
                CHAIN_GROUP,
                groups,
                order_by=(
                    t.runs.c.start_ms.asc().nulls_last(),
                    cast(t.runs.c.external_id, BigInteger),
                ),
            )
            self.cursor["passes"] = int(self.cursor.get("passes", 0)) + 1
            self.cursor["last_pass_ms"] = self.c.now_ms()
            self.cursor["last_selection"] = self.c.selection.describe()
            TraceStore.write_cursor(conn, self.source_id, self.cursor)

    def load_stored(self) -> None:
        if self.state is None:
            assert self.store is not None
            with self.store.connect() as conn:
                self.state = load_state(conn, self.source_id)
        self.cursor = dict(self.state.cursor)
        self.signatures = dict(self.state.signatures)
        self.state.apply(self.known, self.catalog.datasets_ok)

    def part(self, todo: list[RunEvidence]) -> list[RunEvidence]:
        """The runs of this part: those earlier parts did not try, at most ``part_limit``
        (and no more than the selection's limit leaves)."""
        todo = [ev for ev in todo if str(ev.run_id) not in self.skip]
        if self.c.selection.limit is not None:
            todo = todo[: max(0, self.c.selection.limit - len(self.skip))]
        if self.part_limit is not None and len(todo) > self.part_limit:
            todo, self.more = todo[: self.part_limit], True
        self.attempted = [str(ev.run_id) for ev in todo]
        return todo

    def expand(self, selection: Selection) -> Selection:
        """Add the tasks, runs, datasets, flows and setups of the selected studies and suites."""
        extra: dict[str, list[int]] = {
            "tasks": [],
            "runs": [],
            "datasets": [],
            "flows": [],
            "setups": [],
        }
        for sid in selection.suites:
            study, status = self.catalog.get(f"study/{sid}", parse_study, f"study {sid}")
            if study is None:
                if status == "none":
                    self.warnings.add(
                        "study or suite unknown to the server (nothing selected from it)", str(sid)
                    )
                continue
            extra["tasks"] += study.task_ids
            extra["runs"] += study.run_ids if study.main_entity_type == "run" else []
            extra["datasets"] += study.data_ids
            extra["flows"] += study.flow_ids if study.main_entity_type == "run" else []
            extra["setups"] += study.setup_ids if study.main_entity_type == "run" else []

        def merged(own: tuple[int, ...], more: list[int]) -> tuple[int, ...]:
            return tuple(dict.fromkeys([*own, *more]))

        return replace(
            selection,
            tasks=merged(selection.tasks, extra["tasks"]),
            runs=merged(selection.runs, extra["runs"]),
            datasets=merged(selection.datasets, extra["datasets"]),
            flows=merged(selection.flows, extra["flows"]),
            setups=merged(selection.setups, extra["setups"]),
        )

    def discover(self, selection: Selection) -> dict[int, RunEvidence]:
        """Evidence for every selected run: list rows, and evaluation rows where lists lack a run."""
        found: dict[int, RunEvidence] = {}
        self.progress.start("listing OpenML runs")
        lists = [
            ("task", selection.tasks),
            ("flow", selection.flows),
            ("uploader", selection.uploaders),
        ]
        if self.source.can_list:  # explicit runs need no list; a cache folder has none anyway
            lists.append(("run", selection.runs))
        for kind, ids in lists:
            for chunk in _chunks(list(ids), _IDS_PER_CALL):
                joined = ",".join(map(str, chunk))
                for row in self.catalog.list_all(
                    f"run/list/{kind}/{joined}", parse_run_list, f"runs of {kind}s {joined}"
                ):
                    found.setdefault(row.run_id, RunEvidence(row.run_id)).header = row
        unlisted = [r for r in selection.runs if r not in found] if self.source.can_list else []
        for chunk in _chunks(unlisted, _IDS_PER_CALL):
            joined = ",".join(map(str, chunk))
            entries: list[EvaluationEntry] = self.catalog.list_all(
                f"evaluation/list/run/{joined}",
                parse_evaluation_list,
                f"evaluations of runs {joined}",
            )
            for entry in entries:
                if entry.run_id in chunk:
                    found.setdefault(entry.run_id, RunEvidence(entry.run_id)).listed.append(entry)
        for rid in selection.runs:
            found.setdefault(rid, RunEvidence(rid))
        self.progress.finish()
        return found

    def todo(self, evidence: dict[int, RunEvidence], limit: int | None) -> list[RunEvidence]:
        """Runs to read: new ones first, then stored ones that changed or were incomplete;
        each group oldest first."""
        aliases = self.cursor.get("aliases") or {}
        out = []
        for rid, ev in evidence.items():
            target = str(aliases.get(str(rid), rid))
            complete, header = stored_state(self.signatures.get(target))
            if not self.c.full and complete and header == ev.header_fingerprint():
                self.report.runs_unchanged += 1
                continue
            out.append((target in self.signatures, upload_ms(ev.upload_time) or 2**62, rid, ev))
        out.sort(key=lambda item: item[:3])
        todo = [item[3] for item in out]
        return todo[:limit] if limit else todo

    def collect_batch(self, batch: list[RunEvidence]) -> None:
        ready: dict[int, RunEvidence] = {}
        aliases = dict(self.cursor.get("aliases") or {})
        for ev in batch:
            description, status = self.catalog.get(
                f"run/{ev.run_id}", parse_run, f"run {ev.run_id}"
            )
            if status == "unreadable":
                self.report.runs_deferred += 1
                continue
            if description is not None and description.run_id != ev.run_id:
                self.warnings.add(
                    "OpenML answered with another object than asked (kept under its own id)",
                    f"run/{ev.run_id} -> run {description.run_id}",
                )
                aliases[str(ev.run_id)] = description.run_id
                ev = RunEvidence(description.run_id, requested_as=ev.run_id)
            if description is not None:
                ev.description = description
                for problem in description.problems:
                    self.warnings.add(
                        "part of a run description left out", f"run {ev.run_id}: {problem}"
                    )
            ready.setdefault(ev.run_id, ev)
        names_wanted = set()
        for ev in ready.values():
            if ev.flow_id is not None:
                self.catalog.need_flow(ev.flow_id, ev.flow_name)
            if ev.task_id is not None:
                task_type = ev.description.task_type if ev.description else None
                self.catalog.need_task(ev.task_id, ev.dataset_id, ev.dataset_name, task_type)
            if ev.dataset_id is not None:
                self.catalog.need_dataset(ev.dataset_id, ev.dataset_name)
            if ev.description is None and ev.setup_id is not None:
                self.catalog.need_setup(ev.setup_id)
            if ev.uploader is not None and not (ev.description and ev.description.uploader_name):
                names_wanted.add(ev.uploader)
        self.resolve_user_names(names_wanted)
        assembled = [assemble(ev, self.known) for ev in ready.values()]
        changed = [a for a in assembled if self.signatures.get(str(a.run_id)) != a.signature]
        self.report.runs_unchanged += len(assembled) - len(changed)
        known_params = {
            ev.run_id
            for ev in ready.values()
            if ev.description is not None
            or (
                ev.setup_id in self.known.setups
                and self.known.setups[ev.setup_id].flow_id == ev.flow_id
            )
        }
        self.advance(assembled, aliases)
        if self.store is None:  # read apart on a worker: the caller writes
            self.catalog.forget()
        else:
            with self.store.begin() as conn:
                task_ids, dataset_ids = self.catalog.flush(conn)
                task_ids.update(
                    _stored_ids(conn, t.tasks, self.source_id, {a.task_id for a in changed})
                )
                dataset_ids.update(
                    _stored_ids(conn, t.datasets, self.source_id, {a.dataset_id for a in changed})
                )
                write_runs(conn, self.source_id, changed, task_ids, dataset_ids, known_params)
                TraceStore.write_cursor(conn, self.source_id, self.cursor)
        for a in changed:
            self.signatures[str(a.run_id)] = a.signature
        self.report.runs_written += len(changed)

    def advance(self, assembled: list[Any], aliases: dict[str, Any]) -> None:
        """Move the cursor past a batch (written with the batch's rows)."""
        run_ids = [a.run_id for a in assembled]
        if run_ids:
            self.cursor["max_run_id"] = max([*run_ids, int(self.cursor.get("max_run_id") or 0)])
        stamps = [a.upload_ms for a in assembled if a.upload_ms is not None]
        if stamps:
            self.cursor["max_upload_ms"] = max(
                [*stamps, int(self.cursor.get("max_upload_ms") or 0)]
            )
        self.cursor["aliases"] = aliases

    def resolve_user_names(self, uploaders: Iterable[int]) -> None:
        wanted = sorted(
            u for u in uploaders if u not in self.known.users and self.catalog.once(f"user/{u}")
        )
        if not wanted or not self.source.can_list:
            return
        for chunk in _chunks(wanted, _IDS_PER_CALL):
            joined = ",".join(map(str, chunk))
            names, _ = self.catalog.get(
                f"user/list/user_id/{joined}", parse_user_list, f"names of users {joined}"
            )
            self.known.users.update(names or {})

    def report_unavailable(self) -> None:
        for what, reason in sorted(self.catalog.unavailable.items()):
            if what.startswith(
                ("qualities", "names of", "runs of", "evaluations of", "setups of", "flows of")
            ):
                continue
            self.warnings.add(
                "object the OpenML source does not have (placeholder kept; read again when needed)",
                f"{what} ({reason})",
            )


def load_state(conn: Connection, source_id: int) -> StoredState:
    """What the store knows of an OpenML source before a pass reads anything."""
    state = StoredState(cursor=TraceStore.read_cursor(conn, source_id))
    state.signatures = dict(
        conn.execute(
            select(t.runs.c.external_id, t.runs.c.signature).where(t.runs.c.source_id == source_id)
        ).all()
    )
    for ext, name, version, structure in conn.execute(
        select(t.flows.c.external_id, t.flows.c.name, t.flows.c.version, t.flows.c.structure).where(
            t.flows.c.source_id == source_id
        )
    ):
        fid = int(ext)
        if structure and "name" in structure:
            state.flows[fid] = FlowRecord.from_structure(structure)
        else:
            state.flow_names[fid] = f"{name}({version})" if version else name
    for ext, meta in conn.execute(
        select(t.tasks.c.external_id, t.tasks.c.meta).where(t.tasks.c.source_id == source_id)
    ):
        if (meta or {}).get("status") == "ok":
            state.tasks[int(ext)] = TaskRecord(
                task_id=int(ext), dataset_id=meta.get("openml_dataset_id")
            )
    for ext, profile in conn.execute(
        select(t.datasets.c.external_id, t.datasets.c.profile).where(
            t.datasets.c.source_id == source_id
        )
    ):
        if (profile or {}).get("qualities_status") == "ok":
            state.datasets_ok.add(int(ext))
    return state


def _stored_ids(
    conn: Connection, table: Any, source_id: int, ids: set[int | None]
) -> dict[int, int]:
    found = ids_of(conn, table, source_id, (str(i) for i in ids if i is not None))
    return {int(k): v for k, v in found.items()}


__all__ = ["CHAIN_GROUP", "KIND", "OpenmlCollector", "OpenmlReport", "Selection"]
