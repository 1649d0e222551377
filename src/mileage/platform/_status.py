"""What ``mileage status`` reports: contents of the store and the state of each source."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t


def store_status(store: TraceStore) -> dict[str, Any]:
    """Counts per table and, per source, its runs (and how many have a score), tasks,
    datasets, configurations, cursor and last pass."""
    sources = []
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
        for src in conn.execute(select(t.sources).order_by(t.sources.c.id)):
            last = conn.execute(
                select(t.collector_passes)
                .where(t.collector_passes.c.source_id == src.id)
                .order_by(t.collector_passes.c.id.desc())
                .limit(1)
            ).first()
            sources.append(
                {
                    "id": src.id,
                    "kind": src.kind,
                    "uri": src.uri,
                    "runs": int(run_counts.get(src.id, 0)),
                    "scored_runs": int(scored.get(src.id, 0)),
                    **{name: int(counts.get(src.id, 0)) for name, counts in per_source.items()},
                    "cursor": TraceStore.read_cursor(conn, src.id),
                    "last_pass_started": last.started_at.isoformat() if last else None,
                    "last_pass_finished": last.finished_at.isoformat()
                    if last and last.finished_at
                    else None,
                    "last_pass_status": last.status if last else None,
                    "last_pass_error": last.error if last else None,
                }
            )
    return {"db_url": store.url, "counts": store.counts(), "sources": sources}
