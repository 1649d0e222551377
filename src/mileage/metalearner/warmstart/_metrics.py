"""Prometheus metrics of the meta-learner, read from the trace store at scrape time.

Dashboards show how old the warm-start model is and what it learnt from, so a model that
stopped retraining (or was trained on almost nothing) is visible.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

from mileage.platform.store import epoch_seconds
from mileage.platform.store import schema as t

if TYPE_CHECKING:
    from sqlalchemy import Connection

KINDS = ("warmstart",)


class MetalearnerSource:
    """Age and size of the newest model of each kind (a ``StoreMetricSource``).

    ``mileage_metalearner_training_age_seconds`` exists only once a model was trained;
    the counts are 0 before that, so a dashboard shows "nothing trained yet" rather than
    no data.
    """

    def collect(self, conn: Connection, now: float) -> Iterable[Metric]:
        m = t.metalearner_models
        age = GaugeMetricFamily(
            "mileage_metalearner_training_age_seconds",
            "Seconds since the newest meta-learner model of each kind was trained.",
            labels=["model"],
        )
        tasks = GaugeMetricFamily(
            "mileage_metalearner_training_tasks",
            "Tasks the newest model of each kind was trained on (0 before the first training).",
            labels=["model"],
        )
        scores = GaugeMetricFamily(
            "mileage_metalearner_training_scores",
            "Scored (task, configuration) pairs the newest model of each kind learnt from.",
            labels=["model"],
        )
        stored = GaugeMetricFamily(
            "mileage_metalearner_models",
            "Models of each kind kept in the trace store.",
            labels=["model"],
        )
        counts: dict[str, int] = {
            str(kind): int(n)
            for kind, n in conn.execute(select(m.c.kind, func.count()).group_by(m.c.kind))
        }
        newest = select(func.max(m.c.id)).group_by(m.c.kind)
        latest: dict[str, Any] = {
            r.kind: r
            for r in conn.execute(
                select(m.c.kind, m.c.created_at, m.c.n_tasks, m.c.n_scores).where(
                    m.c.id.in_(newest)
                )
            )
        }
        for kind in sorted(set(KINDS) | set(counts)):
            row = latest.get(kind)
            stored.add_metric([kind], float(counts.get(kind, 0)))
            tasks.add_metric([kind], float(row.n_tasks) if row else 0.0)
            scores.add_metric([kind], float(row.n_scores) if row else 0.0)
            if row is not None:
                age.add_metric([kind], max(0.0, now - epoch_seconds(row.created_at)))
        return [age, tasks, scores, stored]


__all__ = ["KINDS", "MetalearnerSource"]
