"""The catalog side of an OpenML pass: fetching flows, setups, tasks and datasets once,
and writing what was read since the last flush (see ``_write`` for the rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, select

from mileage.collectors._base import CollectReport, WarningLog
from mileage.collectors.openml._assemble import Known, flow_learner, params_from_setup
from mileage.collectors.openml._client import NoResult, OpenmlSource
from mileage.collectors.openml._parse import (
    parse_dataset,
    parse_flow,
    parse_qualities,
    parse_setup,
    parse_task,
)
from mileage.collectors.openml._records import DatasetRecord, FlowRecord, SetupRecord, TaskRecord
from mileage.collectors.openml._write import (
    dataset_row,
    task_row,
    write_datasets,
    write_flow_placeholders,
    write_flows,
    write_setups,
    write_tasks,
)
from mileage.platform.errors import DataError, SourceUnavailableError
from mileage.platform.store import schema as t

T = TypeVar("T")
_PAGE = 10_000

RESUME_HINT = (
    "check that the OpenML server is reachable (or read an offline copy with --cache-dir), "
    "then run the same command again: runs already collected are kept and the pass continues "
    "after them (MILEAGE_HTTP_RETRIES and MILEAGE_HTTP_TIMEOUT_SECONDS allow a slow server more)"
)


class Catalog:
    """Objects read during a pass: each fetched at most once, written at the next flush.

    Attributes:
        known: Flows, setups, tasks and user names available to assemble runs.
        datasets_ok: Datasets stored with their qualities (not read again).
        unavailable: What the source did not have, with its reason.
    """

    def __init__(
        self, source: OpenmlSource, source_id: int, warnings: WarningLog, report: CollectReport
    ) -> None:
        self.source = source
        self.source_id = source_id
        self.warnings = warnings
        self.report: Any = report
        self.known = Known()
        self.datasets_ok: set[int] = set()
        self.unavailable: dict[str, str] = {}
        self.new_flows: dict[int, FlowRecord] = {}
        self.flow_placeholders: dict[int, tuple[str | None, dict[str, Any]]] = {}
        self.new_setups: dict[int, SetupRecord] = {}
        self.new_tasks: dict[int, TaskRecord | None] = {}
        self.task_hints: dict[int, tuple[int | None, str | None, str | None]] = {}
        self.new_datasets: dict[
            int, tuple[DatasetRecord | None, dict[str, float | None] | None, str | None]
        ] = {}
        self.tried: set[str] = set()
        self.dataset_names: dict[int, str] = {}

    # -- fetching ------------------------------------------------------------------------

    def get(self, call: str, parser: Callable[[str], T], what: str) -> tuple[T | None, str]:
        """``(value, status)`` with status ``ok``, ``none`` (no such object) or ``unreadable``."""
        try:
            answer = self.source.get(call, validate=parser)
        except SourceUnavailableError as exc:
            raise SourceUnavailableError(f"{what}: {exc}; {RESUME_HINT}") from None
        except DataError as exc:
            self.warnings.add(
                "unreadable OpenML answer left out (read again on the next pass)", f"{what}: {exc}"
            )
            return None, "unreadable"
        if isinstance(answer, NoResult):
            self.unavailable[what] = answer.reason
            return None, "none"
        try:
            return parser(answer), "ok"
        except DataError as exc:
            self.warnings.add(
                "unreadable OpenML answer left out (read again on the next pass)", f"{what}: {exc}"
            )
            return None, "unreadable"

    def list_all(
        self, base: str, parser: Callable[[str], list[T]], what: str, page: int = _PAGE
    ) -> list[T]:
        if not self.source.can_list:
            self.warnings.add(
                "selection needs an OpenML server: a cache folder holds no lists (use --server)",
                what,
            )
            return []
        out: list[T] = []
        offset = 0
        while True:
            rows, _ = self.get(f"{base}/limit/{page}/offset/{offset}", parser, what)
            if not rows:
                return out
            out.extend(rows)
            if len(rows) < page:
                return out
            offset += page

    def once(self, key: str) -> bool:
        """True the first time ``key`` is seen in this pass."""
        if key in self.tried:
            return False
        self.tried.add(key)
        return True

    # -- catalog objects -----------------------------------------------------------------

    def need_flow(self, fid: int, full_name: str | None = None) -> None:
        if fid in self.known.flows or not self.once(f"flow/{fid}"):
            return
        flow, _ = self.get(f"flow/{fid}", parse_flow, f"flow {fid}")
        if flow is not None and flow.flow_id != fid:
            self.warnings.add(
                "OpenML answered with another object than asked (kept under its own id)",
                f"flow/{fid} -> flow {flow.flow_id}",
            )
            self.unavailable[f"flow {fid}"] = f"the server answered with flow {flow.flow_id}"
        if flow is not None:
            for _, sub in flow.walk():
                self.known.flows.setdefault(sub.flow_id, sub)
            self.new_flows[flow.flow_id] = flow
        if fid not in self.known.flows:
            name = full_name or self.known.flow_names.get(fid)
            self.flow_placeholders.setdefault(fid, (name, {}))

    def need_setup(self, sid: int) -> None:
        if sid in self.known.setups or not self.once(f"setup/{sid}"):
            return
        setup, _ = self.get(f"setup/{sid}", parse_setup, f"setup {sid}")
        if setup is None:
            return
        if setup.setup_id != sid:
            self.warnings.add(
                "OpenML answered with another object than asked (kept under its own id)",
                f"setup/{sid} -> setup {setup.setup_id}",
            )
            self.unavailable[f"setup {sid}"] = f"the server answered with setup {setup.setup_id}"
        self.add_setup(setup)

    def add_setup(self, setup: SetupRecord) -> None:
        self.known.setups[setup.setup_id] = setup
        self.new_setups[setup.setup_id] = setup
        if setup.flow_id not in self.known.flows:
            self.flow_placeholders.setdefault(
                setup.flow_id, (self.known.flow_names.get(setup.flow_id), {})
            )

    def need_task(
        self,
        tid: int,
        dataset_id: int | None = None,
        dataset_name: str | None = None,
        task_type: str | None = None,
    ) -> None:
        self.task_hints.setdefault(tid, (dataset_id, dataset_name, task_type))
        if tid in self.known.tasks or not self.once(f"task/{tid}"):
            return
        task, _ = self.get(f"task/{tid}", parse_task, f"task {tid}")
        if task is not None and task.task_id != tid:
            self.warnings.add(
                "OpenML answered with another object than asked (kept under its own id)",
                f"task/{tid} -> task {task.task_id}",
            )
            task = None
        self.new_tasks[tid] = task
        if task is not None:
            self.known.tasks[tid] = task
            if task.dataset_id is not None:
                self.need_dataset(task.dataset_id, dataset_name)
        elif dataset_id is not None:
            self.need_dataset(dataset_id, dataset_name)

    def need_dataset(self, did: int, name: str | None = None) -> None:
        if did in self.datasets_ok:
            return
        if not self.once(f"data/{did}"):
            if name and self.dataset_names.get(did) is None:  # a name for a placeholder
                self.dataset_names[did] = name
                record, qualities, _ = self.new_datasets.get(did, (None, None, None))
                self.new_datasets[did] = (record, qualities, name)
            return
        if name:
            self.dataset_names[did] = name
        record, _ = self.get(f"data/{did}", parse_dataset, f"dataset {did}")
        if record is not None and record.dataset_id != did:
            self.warnings.add(
                "OpenML answered with another object than asked (kept under its own id)",
                f"data/{did} -> dataset {record.dataset_id}",
            )
            record = None
        qualities, status = self.get(
            f"data/qualities/{did}", parse_qualities, f"qualities of dataset {did}"
        )
        if qualities is None and status == "none":
            self.warnings.add(
                "dataset without qualities: stored without meta-features (read again when needed)",
                f"dataset {did}",
            )
        self.new_datasets[did] = (record, qualities or None, name)

    def forget(self) -> None:
        """Drop what was read since the last flush as if it had been written (a worker
        reading apart writes nothing; the caller flushes the same objects)."""
        _forget(self)

    def flush(self, conn: Connection) -> tuple[dict[int, int], dict[int, int]]:
        """Write what was read since the last flush; returns task and dataset id maps."""
        if self.new_flows:
            self.report.flows += write_flows(conn, self.source_id, list(self.new_flows.values()))
        placeholders = {
            f: v for f, v in self.flow_placeholders.items() if f not in self.known.flows
        }
        if placeholders:
            write_flow_placeholders(conn, self.source_id, placeholders)
        rows = []
        for did, (record, qualities, name) in sorted(self.new_datasets.items()):
            row, problems = dataset_row(self.source_id, did, record, qualities, name)
            for problem in problems:
                self.warnings.add(
                    "OpenML quality with an invalid value left out", f"dataset {did}: {problem}"
                )
            rows.append(row)
            if qualities:
                self.datasets_ok.add(did)
        dataset_ids = write_datasets(conn, self.source_id, rows) if rows else {}
        self.report.datasets += len(rows)
        by_did = {int(r["external_id"]): r for r in rows}
        task_rows = []
        for tid, task in sorted(self.new_tasks.items()):
            hint_did, hint_name, hint_type = self.task_hints.get(tid, (None, None, None))
            tdid = task.dataset_id if task is not None and task.dataset_id is not None else hint_did
            if tdid is not None and tdid not in dataset_ids:
                dataset_ids.update(
                    write_datasets(
                        conn,
                        self.source_id,
                        [dataset_row(self.source_id, tdid, None, None, hint_name)[0]],
                    )
                )
            drow = by_did.get(tdid) if tdid is not None else None
            if drow is None and tdid is not None:
                drow = _stored_dataset(conn, self.source_id, tdid)
            dname = (drow or {}).get("name") or hint_name
            task_rows.append(
                task_row(
                    self.source_id,
                    tid,
                    task,
                    dataset_ids.get(tdid) if tdid is not None else None,
                    dname,
                    drow,
                    hint_type,
                )
            )
        task_ids = write_tasks(conn, self.source_id, task_rows) if task_rows else {}
        self.report.tasks += len(task_rows)
        setups = [
            (
                sid,
                setup.flow_id,
                flow_learner(setup.flow_id, self.known),
                params_from_setup(setup, self.known),
            )
            for sid, setup in sorted(self.new_setups.items())
        ]
        write_setups(conn, self.source_id, setups)
        self.report.setups += len(setups)
        self.new_flows.clear()
        self.flow_placeholders.clear()
        self.new_datasets.clear()
        self.new_tasks.clear()
        self.new_setups.clear()
        return task_ids, dataset_ids


def _forget(catalog: Catalog) -> None:
    """What :meth:`Catalog.flush` changes in memory, without writing (a pass read apart)."""
    catalog.datasets_ok.update(did for did, (_, q, _) in catalog.new_datasets.items() if q)
    catalog.new_flows.clear()
    catalog.flow_placeholders.clear()
    catalog.new_datasets.clear()
    catalog.new_tasks.clear()
    catalog.new_setups.clear()


def _stored_dataset(conn: Connection, source_id: int, did: int) -> dict[str, Any] | None:
    row = conn.execute(
        select(t.datasets.c.name, t.datasets.c.meta_features, t.datasets.c.profile).where(
            t.datasets.c.source_id == source_id, t.datasets.c.external_id == str(did)
        )
    ).one_or_none()
    if row is None:
        return None
    return {"name": row.name, "meta_features": row.meta_features, "profile": row.profile}


__all__ = ["RESUME_HINT", "Catalog"]
