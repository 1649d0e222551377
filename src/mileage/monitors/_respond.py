"""One response cycle: new findings -> alerts -> suggestions -> deliveries, in that order.

:func:`respond` is what runs after a monitor has checked its batches, in the same scheduler
job (``monitor:<name>``), so a fault found in a cycle reaches its owner in that cycle.
:func:`monitor_cycle` is the whole job: check, then respond.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mileage.monitors.alerts._policy import AlertPolicy, CycleReport
from mileage.monitors.alerts._routing import DeliveryOutcome, Dispatcher, load_routers
from mileage.monitors.alerts._suggest import (
    SuggestionEngine,
    SuggestReport,
    WarmStartProvider,
    metalearner_warm_starts,
)
from mileage.monitors.checks._findings import BatchReport
from mileage.platform.cluster import TaskPool
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore, utcnow


@dataclass
class RespondReport:
    """What one response cycle did for one pipeline."""

    pipeline: str
    alerts: CycleReport
    suggestions: SuggestReport
    deliveries: list[DeliveryOutcome] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        levels = [n.level for n in self.alerts.notifications]
        return {
            "pipeline": self.pipeline,
            "runs_read": self.alerts.runs,
            "findings_read": self.alerts.findings,
            "alerts_opened": len(self.alerts.opened),
            "alerts_escalated": len(self.alerts.escalated),
            "alerts_resolved": len(self.alerts.resolved),
            "alerts_demoted": len(self.alerts.demoted),
            "pages": levels.count("page"),
            "tickets": levels.count("ticket"),
            "suggestions_created": len(self.suggestions.created),
            "suggestions_applied": list(self.suggestions.applied),
            "deliveries": {
                status: sum(1 for d in self.deliveries if d.status == status)
                for status in ("delivered", "skipped", "pending", "failed")
            },
            "errors": list(self.suggestions.errors),
        }


def respond(
    store: TraceStore,
    pipeline: str,
    *,
    settings: Settings,
    home: Path | None = None,
    routers: list[Any] | None = None,
    warm_start: WarmStartProvider = metalearner_warm_starts,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
) -> RespondReport:
    """Alerts from the pipeline's new findings, suggestions for them, and their delivery.

    Args:
        store: The trace store.
        pipeline: Monitor name.
        settings: Routers, retries, webhook.
        home: Where remedies write (default ``settings.home``).
        routers: Router objects (default: :func:`~mileage.monitors.alerts._routing.load_routers`).
        warm_start: Warm-start provider for retrain suggestions.
        clock: Current time.
        sleep: Pause between delivery attempts.

    Returns:
        What was opened, suggested and delivered.

    Example:
        >>> report = respond(store, "churn", settings=Settings.load())  # doctest: +SKIP
        >>> report.to_dict()["pages"]  # doctest: +SKIP
        1
    """
    alerts = AlertPolicy(store, clock=clock).process(pipeline)
    # open alerts without suggestions or deliveries: an earlier cycle stopped half-way (the
    # policy's cursor had already moved on), so this one finishes its work
    unanswered, open_ids = _open_alerts(store, pipeline)
    engine = SuggestionEngine(store, home=home or settings.home, warm_start=warm_start, clock=clock)
    suggestions = engine.suggest(pipeline, sorted({*alerts.touched, *unanswered}))
    dispatcher = Dispatcher(
        store,
        load_routers(settings) if routers is None else routers,
        settings,
        sleep=sleep,
        clock=clock,
    )
    deliveries = dispatcher.retry_pending(pipeline)
    deliveries += dispatcher.route_alerts(sorted({*alerts.touched, *open_ids}))
    for sid in [*suggestions.updated, *alerts.closed_suggestions]:
        if sid not in {d.suggestion_id for d in deliveries}:
            dispatcher.refresh(sid)  # closed ones leave the model version's tags
    return RespondReport(pipeline, alerts, suggestions, deliveries)


def _open_alerts(store: TraceStore, pipeline: str) -> tuple[list[int], list[int]]:
    """Open alerts of a pipeline that have no suggestion yet, and all open ones."""
    from sqlalchemy import select

    from mileage.platform.store import schema as t

    with store.connect() as conn:
        rows = conn.execute(
            select(t.alerts.c.id, t.suggestions.c.id.label("suggestion"))
            .outerjoin(t.suggestions, t.suggestions.c.alert_id == t.alerts.c.id)
            .where(t.alerts.c.pipeline == pipeline, t.alerts.c.status == "open")
        ).all()
    return sorted({int(r.id) for r in rows if r.suggestion is None}), sorted(
        {int(r.id) for r in rows}
    )


def monitor_cycle(
    store: TraceStore,
    pipeline: str,
    *,
    settings: Settings,
    routers: list[Any] | None = None,
    warm_start: WarmStartProvider = metalearner_warm_starts,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
    pool: TaskPool | None = None,
    client: Any = None,
) -> tuple[list[BatchReport], RespondReport]:
    """The ``monitor:<name>`` job: check new batches, then :func:`respond`.

    With a ``pool`` each batch is checked on it (worker processes or a cluster) and this
    process writes the reports; with a ``client`` large batches are split over its cluster.
    """
    from mileage.monitors._runner import MonitorRunner

    reports = MonitorRunner(
        store,
        pipeline,
        home=settings.home,
        large_batch_rows=settings.large_batch_rows,
        client=client,
        pool=pool,
    ).run()
    response = respond(
        store,
        pipeline,
        settings=settings,
        routers=routers,
        warm_start=warm_start,
        clock=clock,
        sleep=sleep,
    )
    return reports, response


__all__ = ["RespondReport", "monitor_cycle", "respond"]
