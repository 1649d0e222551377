"""The suggestion inbox: list, show, acknowledge, accept (performs the remedy) and dismiss.

Every decision records who made it and when; the alert it answers gets an event. Accepting
twice is a no-op that says who accepted first; a remedy is performed before its suggestion
is marked accepted, so a failure leaves it open to try again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from mileage.monitors.alerts._records import (
    Alert,
    InboxSuggestion,
    Suggestion,
    SuggestionBrief,
    SuggestionDelivery,
    SuggestionDetail,
)
from mileage.monitors.alerts._state import POLICY, record_event
from mileage.platform.errors import MileageError
from mileage.platform.store import TraceStore, utcnow
from mileage.platform.store import schema as t

log = logging.getLogger(__name__)

#: Statuses that still need a person.
PENDING = ("open", "acknowledged")
DONE = ("accepted", "applied")


class SuggestionNotFoundError(MileageError, LookupError):
    """No suggestion has that id."""


@dataclass
class Decision:
    """The outcome of acknowledging, accepting or dismissing a suggestion."""

    suggestion_id: int
    status: str
    noop: bool
    message: str
    changed: bool = False
    result: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "suggestion": self.suggestion_id,
            "status": self.status,
            "noop": self.noop,
            "changed": self.changed,
            "message": self.message,
            "result": self.result,
        }


def list_suggestions(
    store: TraceStore,
    *,
    pipeline: str | None = None,
    recipient: str | None = None,
    statuses: tuple[str, ...] | None = PENDING,
    limit: int = 200,
) -> list[InboxSuggestion]:
    """Suggestions, pending ones by default, with their alert's level; most urgent first."""
    query = select(
        t.suggestions,
        t.alerts.c.level.label("alert_level"),
        t.alerts.c.status.label("alert_status"),
        t.alerts.c.title.label("alert_title"),
    ).join(t.alerts, t.alerts.c.id == t.suggestions.c.alert_id)
    if pipeline is not None:
        query = query.where(t.suggestions.c.pipeline == pipeline)
    if statuses is not None:
        query = query.where(t.suggestions.c.status.in_(statuses))
    with store.connect() as conn:
        rows = [
            InboxSuggestion.from_row(r)
            for r in conn.execute(query.order_by(t.suggestions.c.id.desc()).limit(limit * 4))
        ]
    if recipient is not None:
        rows = [r for r in rows if any(p.get("name") == recipient for p in r.recipients or [])]
    order = {"page": 0, "ticket": 1, "info": 2}
    rows.sort(key=lambda r: (order.get(r.alert_level, 3), r.rank, -r.id))
    return rows[:limit]


def get_suggestion(store: TraceStore, suggestion_id: int) -> SuggestionDetail:
    """One suggestion with its alert and deliveries.

    Raises:
        SuggestionNotFoundError: No suggestion has that id.
    """
    with store.connect() as conn:
        row = conn.execute(select(t.suggestions).where(t.suggestions.c.id == suggestion_id)).first()
        if row is None:
            raise SuggestionNotFoundError(
                f"no suggestion has id {suggestion_id}; list them with 'mileage suggestions "
                "list --all'."
            )
        alert = conn.execute(select(t.alerts).where(t.alerts.c.id == row.alert_id)).one()
        deliveries = conn.execute(
            select(
                t.suggestion_deliveries.c.router,
                t.suggestion_deliveries.c.level,
                t.suggestion_deliveries.c.status,
                t.suggestion_deliveries.c.attempts,
                t.suggestion_deliveries.c.last_error,
                t.suggestion_deliveries.c.delivered_at,
            )
            .where(t.suggestion_deliveries.c.suggestion_id == suggestion_id)
            .order_by(t.suggestion_deliveries.c.id)
        ).all()
        others = conn.execute(
            select(
                t.suggestions.c.id,
                t.suggestions.c.kind,
                t.suggestions.c.status,
                t.suggestions.c.title,
            )
            .where(t.suggestions.c.alert_id == row.alert_id, t.suggestions.c.id != suggestion_id)
            .order_by(t.suggestions.c.rank)
        ).all()
    return SuggestionDetail.from_row(
        row,
        alert=Alert.from_row(alert),
        deliveries=tuple(SuggestionDelivery.from_row(d) for d in deliveries),
        alternatives=tuple(SuggestionBrief.from_row(o) for o in others),
    )


def _decide(
    store: TraceStore,
    suggestion: Suggestion,
    *,
    status: str,
    by: str,
    at: datetime,
    result: dict[str, Any] | None,
    from_statuses: tuple[str, ...],
    note: str = "",
) -> bool:
    with store.begin() as conn:
        changed = conn.execute(
            update(t.suggestions)
            .where(t.suggestions.c.id == suggestion.id, t.suggestions.c.status.in_(from_statuses))
            .values(status=status, decided_by=by, decided_at=at, updated_at=at, result=result)
        ).rowcount
        if not changed:
            return False
        alert = conn.execute(
            select(t.alerts.c.id, t.alerts.c.status, t.alerts.c.level).where(
                t.alerts.c.id == suggestion.alert_id
            )
        ).one()
        detail = {
            "suggestion": int(suggestion.id),
            "kind": suggestion.kind,
            "decision": status,
        }
        if note:
            detail["note"] = note
        if alert.status == "open" and by != POLICY:
            conn.execute(
                update(t.alerts)
                .where(t.alerts.c.id == alert.id)
                .values(
                    status="acknowledged", acknowledged_at=at, acknowledged_by=by, updated_at=at
                )
            )
            record_event(conn, int(alert.id), "acknowledged", alert.level, by, detail, at)
        else:
            record_event(conn, int(alert.id), f"suggestion_{status}", alert.level, by, detail, at)
    return True


def acknowledge_suggestion(
    store: TraceStore, suggestion_id: int, *, by: str, clock: Callable[[], datetime] = utcnow
) -> Decision:
    """Mark a suggestion seen (its alert too); a no-op unless it is open."""
    s = get_suggestion(store, suggestion_id)
    if s.status != "open":
        return Decision(
            suggestion_id,
            s.status,
            True,
            f"suggestion {suggestion_id} is already {s.status}; nothing done.",
        )
    _decide(
        store, s, status="acknowledged", by=by, at=clock(), result=None, from_statuses=("open",)
    )
    return Decision(
        suggestion_id, "acknowledged", False, f"suggestion {suggestion_id} acknowledged by {by}."
    )


def accept_suggestion(
    store: TraceStore,
    suggestion_id: int,
    *,
    by: str,
    home: Path,
    clock: Callable[[], datetime] = utcnow,
) -> Decision:
    """Perform the remedy and record who accepted it; accepting again does nothing.

    Raises:
        SuggestionNotFoundError: No suggestion has that id.
        ModelError, DataError, ConfigError: The remedy could not be performed (the
            suggestion stays pending).
    """
    from mileage.monitors.alerts._remedies import perform

    s = get_suggestion(store, suggestion_id)
    if s.status in DONE:
        when = s.decided_at.isoformat() if s.decided_at else "earlier"
        return Decision(
            suggestion_id,
            s.status,
            True,
            f"suggestion {suggestion_id} was already {s.status} by {s.decided_by} at {when}; nothing done.",
            result=dict(s.result or {}),
        )
    result = perform(store, s, home=home, actor=by)
    status = "applied" if by == POLICY else "accepted"
    if not _decide(
        store,
        s,
        status=status,
        by=by,
        at=clock(),
        result=result,
        from_statuses=("open", "acknowledged", "dismissed"),
    ):
        return Decision(
            suggestion_id,
            "accepted",
            True,
            f"suggestion {suggestion_id} was decided meanwhile; nothing more done.",
            result=result,
        )
    what = result.get("note") or (
        f"{s.kind} done" if result.get("changed") else f"{s.kind}: nothing needed changing"
    )
    return Decision(
        suggestion_id,
        status,
        False,
        f"suggestion {suggestion_id} {status} by {by}: {what}.",
        changed=bool(result.get("changed")),
        result=result,
    )


def dismiss_suggestion(
    store: TraceStore,
    suggestion_id: int,
    *,
    by: str,
    reason: str = "",
    clock: Callable[[], datetime] = utcnow,
) -> Decision:
    """Decline a suggestion (counts as not acted on for its alert type)."""
    s = get_suggestion(store, suggestion_id)
    if s.status not in PENDING:
        return Decision(
            suggestion_id,
            s.status,
            True,
            f"suggestion {suggestion_id} is already {s.status}; nothing done.",
        )
    _decide(
        store,
        s,
        status="dismissed",
        by=by,
        at=clock(),
        result={"reason": reason},
        from_statuses=PENDING,
        note=reason,
    )
    return Decision(
        suggestion_id, "dismissed", False, f"suggestion {suggestion_id} dismissed by {by}."
    )


__all__ = [
    "Decision",
    "SuggestionNotFoundError",
    "accept_suggestion",
    "acknowledge_suggestion",
    "dismiss_suggestion",
    "get_suggestion",
    "list_suggestions",
]
