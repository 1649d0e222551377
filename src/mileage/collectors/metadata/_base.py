"""What a public meta-data importer produces, and how it lands in the trace store.

An importer reads one published source (TabRepo, auto-sklearn, FLAML zero-shot, LCDB) into
a :class:`MetadataBatch` of plain specs in Mileage's vocabulary; :func:`write_batch` stores
it with upserts by natural key, in one transaction together with the cursor (the digest of
the input files). A killed import therefore leaves nothing half-written, a second import of
unchanged files does nothing, and importing the same source from another folder (a copy,
or the package downloaded by pip) updates the same rows instead of adding new ones: the
source's identity is its name, not its path.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlalchemy import Connection, delete, insert

from mileage.collectors._base import CollectReport, WarningLog, ids_of
from mileage.platform.configurations import store_configurations
from mileage.platform.errors import DataError, PartialFileError
from mileage.platform.fingerprint import fingerprint
from mileage.platform.store import pack_history, upsert
from mileage.platform.store import schema as t
from mileage.platform.vocabulary import direction

KIND = "metadata"
_CHUNK = 500


@dataclass
class DatasetSpec:
    """A dataset with its meta-features (our names)."""

    external_id: str
    name: str
    meta_features: dict[str, float]
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskSpec:
    """A task: a dataset, a problem type and the metric its runs are scored by."""

    external_id: str
    dataset: str | None
    problem_type: str | None
    metric: str | None = None
    name: str | None = None
    target: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConfigSpec:
    """A configuration under the source's own id."""

    external_id: str
    learner: str
    params: dict[str, Any]
    name: str | None = None


@dataclass
class RunSpec:
    """A scored run: a configuration evaluated on a task.

    ``metrics`` maps a metric key to ``(steps, values)``; a single score is ``([0], [v])``.
    """

    external_id: str
    task: str
    configuration: str | None
    metrics: dict[str, tuple[list[int], list[float]]]
    status: str = "FINISHED"
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class PortfolioSpec:
    """One member of an ordered configuration portfolio."""

    portfolio: str
    position: int
    configuration: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class MetadataBatch:
    """Everything one import produces."""

    datasets: list[DatasetSpec] = field(default_factory=list)
    tasks: list[TaskSpec] = field(default_factory=list)
    configurations: list[ConfigSpec] = field(default_factory=list)
    runs: list[RunSpec] = field(default_factory=list)
    portfolios: list[PortfolioSpec] = field(default_factory=list)
    warnings: WarningLog = field(default_factory=WarningLog)


class MetadataSource(Protocol):
    """A published meta-data source Mileage can import.

    Attributes:
        name: The ``--source`` name, also the source's identity in the store.
        description: One line for ``--help`` and reports.
        package: PyPI requirement that ships the data (``auto-sklearn==0.15.0``), or None.
    """

    name: str
    description: str
    package: str | None

    def locate(self, path: Path) -> Path:
        """The folder holding the source's files inside ``path`` (a copy or an unpacked package).

        Raises:
            ConfigError: The files are not there; the message names what is missing.
        """
        ...

    def files(self, root: Path) -> list[Path]:
        """The input files (their digest decides whether anything changed)."""
        ...

    def read(self, root: Path) -> MetadataBatch:
        """Read the source into specs in Mileage's vocabulary."""
        ...


@dataclass
class MetadataReport(CollectReport):
    """Outcome of an import.

    Attributes:
        tasks: Tasks in the source.
        datasets: Datasets in the source.
        configurations: Configurations under the source's own ids.
        distinct_configurations: Distinct configurations they map to.
        scored_runs: Runs with at least one score.
        portfolio_members: Members of the source's portfolios.
        path: Folder read.
        unchanged: True when the files were imported before and nothing was rewritten.
    """

    tasks: int = 0
    datasets: int = 0
    configurations: int = 0
    distinct_configurations: int = 0
    scored_runs: int = 0
    portfolio_members: int = 0
    path: str = ""
    unchanged: bool = False


_REFETCH = "Copy or download the file again; it looks cut off (an interrupted copy or download)."


def check_complete_csv(path: Path) -> None:
    """Refuse a CSV file whose last line is cut short (the file must end with a newline).

    Every published table ends its last row with a newline; a file that does not was cut
    off, and its last row would be stored with truncated values.

    Raises:
        PartialFileError: The file does not end with a newline.
    """
    with path.open("rb") as fh:
        fh.seek(0, 2)
        if fh.tell() == 0:
            return
        fh.seek(-1, 2)
        last = fh.read(1)
    if last not in (b"\n", b"\r"):
        raise PartialFileError(
            str(path), "its last line", "is cut short (no newline at the end)", _REFETCH
        )


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a complete CSV file, as dicts keyed by the header.

    Refused as a whole (nothing is read) when the last line is cut short or a row has more or
    fewer fields than the header: stored values are never overwritten from a partial row.

    Raises:
        PartialFileError: The file is cut short, or a row has the wrong number of fields.
        DataError: The file is not UTF-8 text.
    """
    check_complete_csv(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{str(path)!r} is not UTF-8 text (byte {exc.start}); save it as UTF-8 and import "
            "again."
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return []
    rows = []
    for row in reader:
        if not row:
            continue
        if len(row) != len(header):
            raise PartialFileError(
                str(path),
                f"line {reader.line_num}",
                f"has {len(row)} fields, the header has {len(header)}",
                _REFETCH,
            )
        rows.append(dict(zip(header, row, strict=True)))
    return rows


def digest_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the files' names and contents, in name order."""
    h = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.as_posix()):
        h.update(path.name.encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def write_batch(
    conn: Connection, source_id: int, batch: MetadataBatch, report: MetadataReport
) -> None:
    """Store a batch (idempotent: upserts by natural key; histories rewritten per run)."""
    upsert(
        conn,
        t.datasets,
        [
            {
                "source_id": source_id,
                "external_id": d.external_id[:256],
                "name": d.name[:1024],
                "digest": None,
                "source_uri": None,
                "schema": None,
                "profile": d.profile,
                "meta_features": d.meta_features,
            }
            for d in batch.datasets
        ],
        keys=("source_id", "external_id"),
    )
    dataset_ids = ids_of(conn, t.datasets, source_id, (d.external_id for d in batch.datasets))
    upsert(
        conn,
        t.tasks,
        [
            {
                "source_id": source_id,
                "external_id": k.external_id[:256],
                "name": (k.name or "")[:1024] or None,
                "dataset_id": dataset_ids.get(k.dataset) if k.dataset else None,
                "problem_type": k.problem_type,
                "target": k.target,
                "metric": k.metric,
                "metric_direction": direction(k.metric) if k.metric else None,
                "meta": k.meta,
            }
            for k in batch.tasks
        ],
        keys=("source_id", "external_id"),
    )
    task_ids = ids_of(conn, t.tasks, source_id, (k.external_id for k in batch.tasks))
    config_ids = dict(
        zip(
            (c.external_id for c in batch.configurations),
            store_configurations(conn, [(c.learner, c.params) for c in batch.configurations]),
        )
    )
    upsert(
        conn,
        t.source_configurations,
        [
            {
                "source_id": source_id,
                "external_id": c.external_id[:256],
                "name": (c.name or c.external_id)[:512],
                "flow_external_id": None,
                "configuration_id": config_ids[c.external_id],
            }
            for c in batch.configurations
        ],
        keys=("source_id", "external_id"),
    )
    _write_runs(conn, source_id, batch.runs, task_ids, dataset_ids, batch, config_ids)
    conn.execute(delete(t.portfolio_members).where(t.portfolio_members.c.source_id == source_id))
    if batch.portfolios:
        conn.execute(
            insert(t.portfolio_members),
            [
                {
                    "source_id": source_id,
                    "portfolio": p.portfolio[:256],
                    "position": p.position,
                    "configuration_id": config_ids[p.configuration],
                    "meta": p.meta,
                }
                for p in batch.portfolios
            ],
        )
    report.tasks = len(batch.tasks)
    report.datasets = len(batch.datasets)
    report.configurations = len(batch.configurations)
    report.distinct_configurations = len(set(config_ids.values()))
    report.portfolio_members = len(batch.portfolios)
    report.runs_seen = len(batch.runs)
    report.scored_runs = sum(1 for r in batch.runs if any(len(s) for s, _ in r.metrics.values()))
    report.experiments = len(batch.tasks)


def _write_runs(
    conn: Connection,
    source_id: int,
    runs: list[RunSpec],
    task_ids: dict[str, int],
    dataset_ids: dict[str, int],
    batch: MetadataBatch,
    config_ids: dict[str, int],
) -> None:
    """Runs with their tags and metric histories; a run's hyperparameters are its
    configuration's (``configurations.params``), not copied into ``params``."""
    task_dataset = {k.external_id: k.dataset for k in batch.tasks}
    for i in range(0, len(runs), 2000):
        chunk = runs[i : i + 2000]
        rows = []
        for r in chunk:
            dataset = task_dataset.get(r.task)
            rows.append(
                {
                    "source_id": source_id,
                    "external_id": r.external_id[:256],
                    "experiment_id": None,
                    "name": r.external_id[:1024],
                    "user": None,
                    "status": r.status,
                    "start_ms": None,
                    "end_ms": None,
                    "lifecycle_stage": "active",
                    "artifact_uri": None,
                    "task_id": task_ids.get(r.task),
                    "dataset_id": dataset_ids.get(dataset) if dataset else None,
                    "pipeline_id": None,
                    "configuration_id": config_ids.get(r.configuration)
                    if r.configuration
                    else None,
                    "signature": _signature(r),
                }
            )
        upsert(conn, t.runs, rows, keys=("source_id", "external_id"))
        ids = ids_of(conn, t.runs, source_id, (r.external_id for r in chunk))
        run_ids = [ids[r.external_id] for r in chunk]
        for table in (t.params, t.tags, t.metric_histories, t.run_datasets):
            for j in range(0, len(run_ids), _CHUNK):
                conn.execute(delete(table).where(table.c.run_id.in_(run_ids[j : j + _CHUNK])))
        tags, metrics, links = [], [], []
        for r in chunk:
            rid = ids[r.external_id]
            tags += [{"run_id": rid, "key": k[:512], "value": v} for k, v in r.tags.items()]
            for key, (steps, values) in sorted(r.metrics.items()):
                if len(steps):
                    metrics.append(
                        {
                            "run_id": rid,
                            "key": key[:512],
                            **pack_history(
                                np.asarray(steps, dtype=np.int64),
                                np.zeros(len(steps), dtype=np.int64),
                                np.asarray(values, dtype=np.float64),
                            ),
                        }
                    )
            dataset = task_dataset.get(r.task)
            if dataset and dataset in dataset_ids:
                links.append(
                    {"run_id": rid, "dataset_id": dataset_ids[dataset], "context": "training"}
                )
        for table, table_rows in (
            (t.tags, tags),
            (t.metric_histories, metrics),
            (t.run_datasets, links),
        ):
            for j in range(0, len(table_rows), 5000):
                conn.execute(insert(table), table_rows[j : j + 5000])


def _signature(run: RunSpec) -> str:
    """Content hash of a run (its scores hashed as float64 bytes: fast on long curves)."""
    h = hashlib.sha256(fingerprint([run.task, run.configuration, run.status, run.tags]).encode())
    for key, (steps, values) in sorted(run.metrics.items()):
        h.update(key.encode())
        h.update(np.asarray(steps, dtype="<i8").tobytes())
        h.update(np.asarray(values, dtype="<f8").tobytes())
    return h.hexdigest()


__all__ = [
    "KIND",
    "ConfigSpec",
    "DatasetSpec",
    "MetadataBatch",
    "MetadataReport",
    "MetadataSource",
    "PortfolioSpec",
    "RunSpec",
    "TaskSpec",
    "check_complete_csv",
    "digest_files",
    "read_csv_rows",
    "write_batch",
]
