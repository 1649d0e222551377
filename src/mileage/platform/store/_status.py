"""What ``mileage status`` reports: contents of the store and the state of each source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from mileage.platform.records import Record
from mileage.platform.store import schema as t
from mileage.platform.store._store import TraceStore

#: Quarantined records listed by ``mileage status`` (the newest first); the table has them all.
QUARANTINE_SHOWN = 50


@dataclass(frozen=True)
class CollectionPass(Record):
    """One collection pass of a source (a row of ``collector_passes``).

    Attributes:
        id: Pass id.
        source_id: The source read.
        started_at: When it started.
        finished_at: When it ended (None while running, or when it was killed).
        status: ``running``, ``succeeded`` or ``failed``.
        runs_written: Runs inserted or rewritten.
        runs_unchanged: Runs skipped because nothing changed.
        warnings: Grouped warnings, one line per kind.
        error: Why it failed.
    """

    id: int
    source_id: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    runs_written: int
    runs_unchanged: int
    warnings: list[str]
    error: str | None


@dataclass(frozen=True)
class QuarantinedRecord(Record):
    """A record a collector set aside instead of ingesting (a row of ``quarantine``).

    Attributes:
        source_id: The source it came from.
        kind: What it is (``run``, ``file``, ``row``...).
        record_id: Its id in the source.
        field: The field that could not be read.
        problem: What was wrong, and the fix.
        passes: Passes that met it.
        first_seen: When it was first set aside (ISO-8601 UTC).
        last_seen: When a pass last met it (ISO-8601 UTC).
    """

    source_id: int
    kind: str
    record_id: str
    field: str
    problem: str
    passes: int
    first_seen: str
    last_seen: str


@dataclass(frozen=True)
class SourceStatus(Record):
    """One source of the store: what it holds, its cursor and its last collection pass.

    Attributes:
        id: Source id.
        kind: Collector kind (``mlflow``, ``openml``, ``metadata``...).
        uri: The source's normalised URI.
        runs: Runs stored.
        scored_runs: Runs with at least one metric.
        quarantined: Records of this source set aside as unreadable (see ``quarantine``).
        tasks: Tasks stored.
        datasets: Data sets stored.
        configurations: Configurations stored.
        cursor: Where the next pass resumes.
        last_pass: The latest pass, None before the first.
    """

    id: int
    kind: str
    uri: str
    runs: int
    scored_runs: int
    quarantined: int
    tasks: int
    datasets: int
    configurations: int
    cursor: dict[str, Any]
    last_pass: CollectionPass | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``mileage status``: the last pass flattened, times as ISO text."""
        out = {k: v for k, v in super().to_dict().items() if k != "last_pass"}
        last = self.last_pass
        out["last_pass_started"] = last.started_at.isoformat() if last else None
        out["last_pass_finished"] = (
            last.finished_at.isoformat() if last and last.finished_at else None
        )
        out["last_pass_status"] = last.status if last else None
        out["last_pass_error"] = last.error if last else None
        return out


@dataclass(frozen=True)
class StoreStatus(Record):
    """What ``mileage status`` reports.

    Attributes:
        db_url: The store URL, password hidden.
        counts: Rows per table.
        sources: Every source, in id order.
        quarantine: The most recently quarantined records, newest first.
    """

    db_url: str
    counts: dict[str, int]
    sources: tuple[SourceStatus, ...]
    quarantine: tuple[QuarantinedRecord, ...] = ()


def store_status(store: TraceStore) -> StoreStatus:
    """Counts per table and, per source, its runs (and how many have a score), tasks,
    datasets, configurations, quarantined records, cursor and last pass; then the most
    recently quarantined records."""
    sources: list[SourceStatus] = []
    with store.connect() as conn:
        run_counts: dict[int, int] = dict(
            conn.execute(
                select(t.runs.c.source_id, func.count()).group_by(t.runs.c.source_id)
            ).all()
        )
        per_source: dict[str, dict[int, int]] = {
            name: dict(
                conn.execute(
                    select(table.c.source_id, func.count()).group_by(table.c.source_id)
                ).all()
            )
            for name, table in (
                ("tasks", t.tasks),
                ("datasets", t.datasets),
                ("configurations", t.source_configurations),
            )
        }
        scored: dict[int, int] = dict(
            conn.execute(
                select(t.runs.c.source_id, func.count(func.distinct(t.runs.c.id)))
                .join(t.metric_histories, t.metric_histories.c.run_id == t.runs.c.id)
                .group_by(t.runs.c.source_id)
            ).all()
        )
        quarantined: dict[int, int] = dict(
            conn.execute(
                select(t.quarantine.c.source_id, func.count()).group_by(t.quarantine.c.source_id)
            ).all()
        )
        q = t.quarantine
        recent = [
            QuarantinedRecord(
                source_id=row.source_id,
                kind=row.kind,
                record_id=row.record_id,
                field=row.field,
                problem=row.problem,
                passes=row.passes,
                first_seen=row.first_seen_at.isoformat(),
                last_seen=row.last_seen_at.isoformat(),
            )
            for row in conn.execute(
                select(q).order_by(q.c.last_seen_at.desc(), q.c.id).limit(QUARANTINE_SHOWN)
            )
        ]
        for src in conn.execute(select(t.sources).order_by(t.sources.c.id)):
            last = conn.execute(
                select(t.collector_passes)
                .where(t.collector_passes.c.source_id == src.id)
                .order_by(t.collector_passes.c.id.desc())
                .limit(1)
            ).first()
            sources.append(
                SourceStatus(
                    id=src.id,
                    kind=src.kind,
                    uri=src.uri,
                    runs=int(run_counts.get(src.id, 0)),
                    scored_runs=int(scored.get(src.id, 0)),
                    quarantined=int(quarantined.get(src.id, 0)),
                    tasks=int(per_source["tasks"].get(src.id, 0)),
                    datasets=int(per_source["datasets"].get(src.id, 0)),
                    configurations=int(per_source["configurations"].get(src.id, 0)),
                    cursor=TraceStore.read_cursor(conn, src.id),
                    last_pass=CollectionPass.from_row(last) if last else None,
                )
            )
    return StoreStatus(
        db_url=store.url, counts=store.counts(), sources=tuple(sources), quarantine=tuple(recent)
    )
