"""Direct, read-only reader of an MLflow SQLite tracking database.

Much faster than the REST API for full metric histories (one ordered query per batch of
runs instead of one call per run and metric). The database is opened with ``mode=ro`` and
``query_only``; every pass opens and closes its own connection, so no lock outlives a batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mileage.collectors._base import WarningLog
from mileage.collectors.mlflow._records import (
    DatasetInput,
    ExperimentRecord,
    MetricSeries,
    ModelVersionRecord,
    RegistrySnapshot,
    RunHeader,
    RunRecord,
    kept_run_name,
    normalize_stage,
    normalize_status,
    restore_infinities,
)
from mileage.platform.errors import CollectorError, PartialFileError

_BATCH_PARAMS = 500  # SQLite builds before 3.32 allow 999 bound parameters
_HEADER = 100


def check_complete(path: Path, uri: str = "") -> None:
    """Refuse a database file shorter than its own header says (a truncated copy).

    SQLite records the page size and the page count in the first 100 bytes; a file cut
    short by a copy or a download holds fewer bytes than that, and reading it would stop
    halfway with "database disk image is malformed". Checking costs one 100-byte read.

    Raises:
        PartialFileError: The file is shorter than its header or than a header.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(_HEADER)
    fix = "Copy the file again once MLflow has finished writing it."
    if len(head) < _HEADER:
        raise PartialFileError(
            str(path), "database", f"holds {size} bytes, less than a header", fix, uri=uri
        )
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    # The page count is valid only when its "version-valid-for" matches the change counter.
    if head[92:96] == head[24:28] and pages and size < pages * page_size:
        raise PartialFileError(
            str(path),
            "database",
            f"is truncated: {size:,} bytes, its header says {pages * page_size:,}",
            fix,
            uri=uri,
        )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class SqliteReader:
    """Reader of ``sqlite:///path/mlflow.db``."""

    kind = "sqlite"
    full_listing = True

    def __init__(self, path: Path, warnings: WarningLog) -> None:
        self.path = path.resolve()
        self.uri = f"sqlite:///{self.path}"
        self._warnings = warnings
        self._skip: set[str] = set()
        if not self.path.is_file():
            raise CollectorError(
                f"MLflow tracking database {str(self.path)!r} does not exist; check the "
                "--tracking-uri (e.g. sqlite:///mlflow.db)."
            )
        check_complete(self.path, self.uri)
        self._con = self._connect()
        self._columns = {
            table: {row[1] for row in self._rows(f"PRAGMA table_info({table})")}
            for table in ("runs", "metrics", "experiments", "model_versions", "inputs")
        }
        missing = {"runs", "metrics", "params", "tags", "experiments"} - self._tables()
        if missing:
            self.close()
            raise CollectorError(
                f"{str(self.path)!r} is not an MLflow tracking database: tables "
                f"{sorted(missing)} are missing. Point --tracking-uri at the database MLflow "
                "writes (the --backend-store-uri of 'mlflow server')."
            )

    def _connect(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            # Read-only: no ANALYZE, no migrations, no temp tables in the user's file.
            con.execute("PRAGMA query_only=1")
        except sqlite3.Error as exc:
            raise CollectorError(
                f"cannot open MLflow tracking database {str(self.path)!r} read-only: {exc}"
            ) from None
        return con

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """All rows of a query; text is decoded in C unless a value is not valid UTF-8."""
        try:
            return self._con.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "decode" not in str(exc):
                raise self._damaged(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None
        self._con.text_factory = self._decode  # the slow, tolerant path for this query only
        try:
            return self._con.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None
        finally:
            self._con.text_factory = str

    def _damaged(self, exc: sqlite3.DatabaseError) -> CollectorError:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            return CollectorError(
                f"MLflow tracking database {str(self.path)!r} stayed locked for 30 s ({exc}); "
                "try again when the writer has finished."
            )
        return PartialFileError(
            str(self.path),
            "database",
            f"is damaged ({exc})",
            "Copy the file again once MLflow has finished writing it, or repair it with "
            "'sqlite3 mlflow.db .recover'.",
            uri=self.uri,
        )

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            self._warnings.add(
                "text that is not valid UTF-8 was stored with U+FFFD replacement characters",
                repr(text[:40]),
            )
            return text

    def _tables(self) -> set[str]:
        return {r[0] for r in self._rows("SELECT name FROM sqlite_master WHERE type='table'")}

    def close(self) -> None:
        self._con.close()

    # -- experiments -----------------------------------------------------------------------

    def experiments(self) -> list[ExperimentRecord]:
        has_created = "creation_time" in self._columns["experiments"]
        rows = self._rows(
            "SELECT experiment_id, name, artifact_location, lifecycle_stage, "
            + ("creation_time" if has_created else "NULL")
            + " FROM experiments ORDER BY experiment_id"
        )
        tags: dict[str, dict[str, str]] = {}
        if "experiment_tags" in self._tables():
            for exp_id, key, value in self._rows(
                "SELECT experiment_id, key, value FROM experiment_tags"
            ):
                tags.setdefault(str(exp_id), {})[key] = value or ""
        return [
            ExperimentRecord(
                experiment_id=str(r[0]),
                name=r[1] or "",
                artifact_location=r[2],
                lifecycle_stage=r[3] or "active",
                created_ms=r[4],
                tags=tags.get(str(r[0]), {}),
            )
            for r in rows
        ]

    # -- runs ------------------------------------------------------------------------------

    def list_runs(self, cursor: dict[str, Any], *, full: bool) -> Iterator[RunHeader]:
        # The signature changes when the status, end time or lifecycle changes, or when a
        # param, tag or metric is added or logged again; built in SQL, one pass per table.
        rows = self._rows(
            "SELECT r.run_uuid, r.experiment_id, r.status, r.start_time, "
            "r.status || '|' || IFNULL(r.end_time, '') || '|' || IFNULL(r.lifecycle_stage, '') "
            "|| '|' || IFNULL(p.n, 0) || '|' || IFNULL(t.n, 0) || '|' || IFNULL(m.n, 0) "
            "|| '|' || IFNULL(m.last, '') "
            "FROM runs r "
            "LEFT JOIN (SELECT run_uuid, COUNT(*) AS n FROM params GROUP BY run_uuid) p "
            "ON p.run_uuid = r.run_uuid "
            "LEFT JOIN (SELECT run_uuid, COUNT(*) AS n FROM tags GROUP BY run_uuid) t "
            "ON t.run_uuid = r.run_uuid "
            "LEFT JOIN (SELECT run_uuid, COUNT(*) AS n, MAX(timestamp) AS last FROM latest_metrics "
            "GROUP BY run_uuid) m ON m.run_uuid = r.run_uuid "
            "ORDER BY r.start_time, r.run_uuid"
        )
        for run_id, exp_id, status, start, signature in rows:
            yield RunHeader(
                run_id=run_id,
                experiment_id=str(exp_id),
                start_ms=start,
                status=normalize_status(status),
                signature=signature[:128],
            )

    def read_runs(self, headers: list[RunHeader]) -> list[RunRecord]:
        out: list[RunRecord] = []
        for i in range(0, len(headers), _BATCH_PARAMS):
            out.extend(self._read_chunk(headers[i : i + _BATCH_PARAMS]))
        return out

    def _read_chunk(self, headers: list[RunHeader]) -> list[RunRecord]:
        ids = [h.run_id for h in headers]
        marks = ",".join("?" * len(ids))
        con = self._con
        # One read transaction: the runs, their params, tags and metrics are one snapshot.
        con.execute("BEGIN")
        try:
            runs = {
                r[0]: r
                for r in self._rows(
                    "SELECT run_uuid, experiment_id, name, user_id, status, start_time, "
                    f"end_time, lifecycle_stage, artifact_uri FROM runs WHERE run_uuid IN ({marks})",
                    ids,
                )
            }
            params: dict[str, dict[str, str]] = {}
            for run_id, key, value in self._rows(
                f"SELECT run_uuid, key, value FROM params WHERE run_uuid IN ({marks})",
                ids,
            ):
                params.setdefault(run_id, {})[key] = value if value is not None else ""
            tags: dict[str, dict[str, str]] = {}
            for run_id, key, value in self._rows(
                f"SELECT run_uuid, key, value FROM tags WHERE run_uuid IN ({marks})",
                ids,
            ):
                tags.setdefault(run_id, {})[key] = value if value is not None else ""
            metrics = self._metrics(ids, marks)
            inputs = self._inputs(ids, marks)
        finally:
            con.execute("COMMIT")
        records = []
        skip, self._skip = self._skip, set()
        for h in headers:
            r = runs.get(h.run_id)
            if r is None or h.run_id in skip:  # deleted since listing, or quarantined above
                continue
            run_tags = tags.get(h.run_id, {})
            records.append(
                RunRecord(
                    run_id=h.run_id,
                    experiment_id=str(r[1]),
                    name=kept_run_name(r[2], run_tags),
                    user=r[3] or run_tags.get("mlflow.user") or None,
                    status=normalize_status(r[4]),
                    start_ms=r[5],
                    end_ms=r[6],
                    lifecycle_stage=r[7] or "active",
                    artifact_uri=r[8],
                    params=params.get(h.run_id, {}),
                    tags=run_tags,
                    metrics=metrics.get(h.run_id, {}),
                    inputs=inputs.get(h.run_id, []),
                    signature=h.signature,
                )
            )
        return records

    def _metrics(self, ids: list[str], marks: str) -> dict[str, dict[str, MetricSeries]]:
        # Both queries walk index_metrics_run_uuid_key_step in (run, key) order, so SQLite
        # needs no sort; the order within a series is restored below with one lexsort.
        groups = self._rows(
            f"SELECT run_uuid, key, COUNT(*) FROM metrics WHERE run_uuid IN ({marks}) "
            "GROUP BY run_uuid, key ORDER BY run_uuid, key",
            ids,
        )
        if not groups:
            return {}
        points = self._rows(
            f"SELECT step, timestamp, value, is_nan FROM metrics WHERE run_uuid IN ({marks}) "
            "ORDER BY run_uuid, key",
            ids,
        )
        try:
            arr = np.array(points, dtype=np.float64)
        except (TypeError, ValueError):
            return self._metrics_one_by_one(groups, ids, marks)
        counts = np.fromiter((n for _, _, n in groups), dtype=np.int64, count=len(groups))
        group = np.repeat(np.arange(len(groups)), counts)
        # MLflow's order within a series: step, timestamp, value (NaN stored as 0), is_nan.
        arr = arr[np.lexsort((arr[:, 3], arr[:, 2], arr[:, 1], arr[:, 0], group))]
        values = restore_infinities(np.where(arr[:, 3] != 0, np.nan, arr[:, 2]))
        steps = arr[:, 0].astype(np.int64)
        stamps = arr[:, 1].astype(np.int64)
        out: dict[str, dict[str, MetricSeries]] = {}
        start = 0
        for run_id, key, n in groups:
            end = start + n
            out.setdefault(run_id, {})[key] = MetricSeries(
                steps[start:end], stamps[start:end], values[start:end]
            )
            start = end
        return out

    def _metrics_one_by_one(
        self, groups: list[Any], ids: list[str], marks: str
    ) -> dict[str, dict[str, MetricSeries]]:
        """The slow path when a metric point holds text: that run is quarantined, not the batch."""
        points: dict[tuple[str, str], list[tuple[int, int, float]]] = {}
        bad: dict[str, tuple[str, Any]] = {}
        for run_id, key, step, stamp, value, is_nan in self._rows(
            "SELECT run_uuid, key, step, timestamp, value, is_nan FROM metrics "
            f"WHERE run_uuid IN ({marks})",
            ids,
        ):
            if run_id in bad:
                continue
            try:
                point = (int(step), int(stamp), float("nan") if is_nan else float(value))
            except (TypeError, ValueError):
                culprit = value if not _number(value) else step if not _number(step) else stamp
                bad[run_id] = (key, culprit)
                continue
            points.setdefault((run_id, key), []).append(point)
        for run_id, (key, value) in bad.items():
            self._warnings.quarantine(
                "run", run_id, f"metrics.{key}", f"must be a number, got {_show(value)}"
            )
        out: dict[str, dict[str, MetricSeries]] = {}
        for (run_id, key), series in points.items():
            if run_id not in bad:
                out.setdefault(run_id, {})[key] = MetricSeries.from_points(series)
        self._skip = set(bad)
        return out

    def _inputs(self, ids: list[str], marks: str) -> dict[str, list[DatasetInput]]:
        if not {"inputs", "datasets"} <= self._tables():
            return {}
        contexts: dict[str, str] = {}
        if "input_tags" in self._tables():
            for input_uuid, value in self._rows(
                "SELECT input_uuid, value FROM input_tags WHERE name = 'mlflow.data.context'"
            ):
                contexts[input_uuid] = value
        out: dict[str, list[DatasetInput]] = {}
        for input_uuid, run_id, name, digest, stype, source, schema, profile in self._rows(
            "SELECT i.input_uuid, i.destination_id, d.name, d.digest, d.dataset_source_type, "
            "d.dataset_source, d.dataset_schema, d.dataset_profile FROM inputs i "
            "JOIN datasets d ON d.dataset_uuid = i.source_id "
            f"WHERE i.source_type = 'DATASET' AND i.destination_id IN ({marks}) "
            "ORDER BY i.destination_id, d.name, d.digest",
            ids,
        ):
            out.setdefault(run_id, []).append(
                DatasetInput(
                    name, digest, stype, source, schema, profile, contexts.get(input_uuid, "")
                )
            )
        return out

    # -- registry --------------------------------------------------------------------------

    def registry(self) -> RegistrySnapshot:
        snap = RegistrySnapshot()
        tables = self._tables()
        if "model_versions" not in tables:
            return snap
        mv_tags: dict[tuple[str, int], dict[str, str]] = {}
        if "model_version_tags" in tables:
            for name, version, key, value in self._rows(
                "SELECT name, version, key, value FROM model_version_tags"
            ):
                mv_tags.setdefault((name, int(version)), {})[key] = value or ""
        for row in self._rows(
            "SELECT name, version, run_id, status, current_stage, source, description, "
            "creation_time, last_updated_time FROM model_versions ORDER BY name, version"
        ):
            snap.versions.append(
                ModelVersionRecord(
                    model_name=row[0],
                    version=int(row[1]),
                    run_id=row[2] or None,
                    status=row[3],
                    stage=normalize_stage(row[4]),
                    source=row[5],
                    description=row[6],
                    created_ms=row[7],
                    updated_ms=row[8],
                    tags=mv_tags.get((row[0], int(row[1])), {}),
                )
            )
        snap.versions = [v for v in snap.versions if v.stage != "Deleted_Internal"]
        if "registered_model_aliases" in tables:
            for name, alias, version in self._rows(
                "SELECT name, alias, version FROM registered_model_aliases"
            ):
                snap.aliases[(name, alias)] = int(version)
        if "registered_models" in tables:
            for name, updated in self._rows(
                "SELECT name, last_updated_time FROM registered_models"
            ):
                snap.model_updated_ms[name] = int(updated or 0)
        return snap
