"""Alert state shared by the policy, the inbox and the CLI: levels, options, reading alerts,
the actions people take on them, and how often they acted (actionability).

Every action appends an ``alert_events`` row with its time and actor; nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from mileage.monitors.alerts._records import (
    Actionability,
    Alert,
    AlertDetail,
    AlertEvent,
    SuggestionBrief,
)
from mileage.platform.errors import ConfigError, MileageError
from mileage.platform.store import TraceStore, utcnow
from mileage.platform.store import schema as t

#: Alert levels, lowest first.
LEVELS = ("info", "ticket", "page")
#: Actor of the policy's own state changes.
POLICY = "mileage"
OPEN_STATUSES = ("open", "acknowledged")


class AlertNotFoundError(MileageError, LookupError):
    """No alert has that id."""


@dataclass(frozen=True)
class AlertOptions:
    """How findings become alerts (``MonitorConfig.alerts`` holds overrides).

    Attributes:
        page_drift_after: Batches a drift must persist before it may page.
        resolve_after: Batches whose checks find nothing before an alert resolves.
        slo_margin: How close to the SLO counts as at risk: accuracy points for score
            metrics, a fraction of the SLO for error metrics (MAE).
        release_window: Batches after a model version change in which unexplained prediction
            drift or lost performance is blamed on the new version.
        demote_min_history: Closed alerts of a kind needed before it can be demoted.
        demote_below: Share of closed alerts acted on below which a kind is demoted.
        actionability_window: Closed alerts considered (the most recent).
        never_demote: Kinds that keep their level whatever the history.
    """

    page_drift_after: int = 3
    resolve_after: int = 2
    slo_margin: float = 0.02
    release_window: int = 3
    demote_min_history: int = 5
    demote_below: float = 0.2
    actionability_window: int = 20
    never_demote: tuple[str, ...] = ("slo_breach",)

    def __post_init__(self) -> None:
        if self.page_drift_after < 1 or self.resolve_after < 1 or self.release_window < 0:
            raise ConfigError(
                "alert options: page_drift_after and resolve_after must be at least 1 and "
                f"release_window at least 0 (got {self.page_drift_after}, "
                f"{self.resolve_after}, {self.release_window})."
            )
        if not 0 <= self.demote_below <= 1:
            raise ConfigError(
                f"alert option demote_below must be in [0, 1], got {self.demote_below}."
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AlertOptions:
        known = cls.__dataclass_fields__
        values = {k: v for k, v in (data or {}).items() if k in known}
        if "never_demote" in values:
            values["never_demote"] = tuple(values["never_demote"])
        return cls(**values)


def lower(level: str) -> str:
    """One level down (``page`` to ``ticket``, ``ticket`` to ``info``)."""
    return LEVELS[max(0, LEVELS.index(level) - 1)]


def actionability(conn: Connection, pipeline: str, kind: str, window: int) -> tuple[int, int]:
    """``(acted on, closed)`` over the last ``window`` closed alerts of a pipeline and kind.

    An alert is closed once it is resolved or one of its suggestions was decided. It was
    acted on when a person accepted one of its suggestions or resolved it themselves;
    dismissed suggestions and alerts that went quiet untouched count as not acted on.
    """
    rows = conn.execute(
        select(t.alerts.c.id, t.alerts.c.status, t.alerts.c.resolved_by)
        .where(t.alerts.c.pipeline == pipeline, t.alerts.c.kind == kind)
        .order_by(t.alerts.c.id.desc())
        .limit(window * 4)
    ).all()
    if not rows:
        return 0, 0
    decided: dict[int, list[tuple[str, str | None]]] = {}
    for alert_id, status, by in conn.execute(
        select(t.suggestions.c.alert_id, t.suggestions.c.status, t.suggestions.c.decided_by).where(
            t.suggestions.c.alert_id.in_([r.id for r in rows]),
            t.suggestions.c.status.in_(("accepted", "dismissed", "applied")),
        )
    ):
        decided.setdefault(int(alert_id), []).append((status, by))
    acted = closed = 0
    for r in rows:
        choices = decided.get(int(r.id), [])
        if r.status != "resolved" and not choices:
            continue
        closed += 1
        human_accept = any(s == "accepted" and by != POLICY for s, by in choices)
        human_resolve = r.status == "resolved" and r.resolved_by not in (None, POLICY)
        acted += int(human_accept or human_resolve)
        if closed >= window:
            break
    return acted, closed


def actionability_table(
    store: TraceStore, options: AlertOptions | None = None
) -> list[Actionability]:
    """Per pipeline and kind: closed alerts, share acted on, and whether new ones are demoted."""
    options = options or AlertOptions()
    with store.connect() as conn:
        pairs = conn.execute(select(t.alerts.c.pipeline, t.alerts.c.kind).distinct()).all()
        out = []
        for pipeline, kind in sorted(pairs):
            acted, closed = actionability(conn, pipeline, kind, options.actionability_window)
            out.append(
                Actionability(
                    pipeline=pipeline,
                    kind=kind,
                    closed=closed,
                    acted=acted,
                    ratio=acted / closed if closed else None,
                    demoted=kind not in options.never_demote
                    and closed >= options.demote_min_history
                    and acted / closed < options.demote_below,
                )
            )
    return out


def list_alerts(
    store: TraceStore,
    *,
    pipeline: str | None = None,
    include_closed: bool = False,
    demoted_only: bool = False,
    limit: int = 200,
) -> list[Alert]:
    """Alerts, open ones by default, worst level first then newest."""
    query = select(t.alerts)
    if pipeline is not None:
        query = query.where(t.alerts.c.pipeline == pipeline)
    if not include_closed:
        query = query.where(t.alerts.c.status.in_(OPEN_STATUSES))
    if demoted_only:
        query = query.where(t.alerts.c.demoted.is_(True))
    with store.connect() as conn:
        rows = [
            Alert.from_row(r)
            for r in conn.execute(query.order_by(t.alerts.c.id.desc()).limit(limit))
        ]
    rows.sort(key=lambda a: (a.status == "resolved", -LEVELS.index(a.level), -a.id))
    return rows


def get_alert(store: TraceStore, alert_id: int) -> AlertDetail:
    """An alert with its events and suggestions.

    Raises:
        AlertNotFoundError: No alert has that id.
    """
    with store.connect() as conn:
        row = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).first()
        if row is None:
            raise AlertNotFoundError(
                f"no alert has id {alert_id}; list them with 'mileage alerts list --all'."
            )
        events = conn.execute(
            select(t.alert_events)
            .where(t.alert_events.c.alert_id == alert_id)
            .order_by(t.alert_events.c.id)
        ).all()
        suggestions = conn.execute(
            select(
                t.suggestions.c.id,
                t.suggestions.c.kind,
                t.suggestions.c.status,
                t.suggestions.c.title,
            )
            .where(t.suggestions.c.alert_id == alert_id)
            .order_by(t.suggestions.c.rank)
        ).all()
    return AlertDetail.from_row(
        row,
        events=tuple(AlertEvent.from_row(e) for e in events),
        suggestions=tuple(SuggestionBrief.from_row(s) for s in suggestions),
    )


def record_event(
    conn: Connection,
    alert_id: int,
    event: str,
    level: str,
    actor: str,
    detail: dict[str, Any],
    at: datetime,
) -> None:
    """Append one state change to an alert's history."""
    conn.execute(
        insert(t.alert_events).values(
            alert_id=alert_id, event=event, level=level, actor=actor, detail=detail, at=at
        )
    )


def acknowledge_alert(
    store: TraceStore, alert_id: int, *, by: str, clock: Callable[[], datetime] = utcnow
) -> bool:
    """Mark an open alert acknowledged; False when it already was (or is resolved)."""
    alert = get_alert(store, alert_id)
    if alert.status != "open":
        return False
    now = clock()
    with store.begin() as conn:
        changed = conn.execute(
            update(t.alerts)
            .where(t.alerts.c.id == alert_id, t.alerts.c.status == "open")
            .values(status="acknowledged", acknowledged_at=now, acknowledged_by=by, updated_at=now)
        ).rowcount
        if not changed:  # acknowledged or resolved meanwhile (two people acked at once)
            return False
        record_event(conn, alert_id, "acknowledged", alert.level, by, {}, now)
    return True


def unacknowledge_alert(
    store: TraceStore, alert_id: int, *, by: str, clock: Callable[[], datetime] = utcnow
) -> bool:
    """Take an acknowledgement back: the alert is open (and pages) again; False when it was not
    acknowledged (still open, or resolved)."""
    alert = get_alert(store, alert_id)
    if alert.status != "acknowledged":
        return False
    now = clock()
    with store.begin() as conn:
        changed = conn.execute(
            update(t.alerts)
            .where(t.alerts.c.id == alert_id, t.alerts.c.status == "acknowledged")
            .values(status="open", acknowledged_at=None, acknowledged_by=None, updated_at=now)
        ).rowcount
        if not changed:  # taken back or resolved meanwhile
            return False
        record_event(conn, alert_id, "unacknowledged", alert.level, by, {}, now)
    return True


def close_suggestions(conn: Connection, alert_id: int, *, by: str, now: datetime) -> list[int]:
    """Close the undecided suggestions of a resolved alert (status ``closed``): the inbox and
    the model version's tags show what still needs a decision, not history. Returns their ids.
    """
    ids = [
        int(i)
        for i in conn.execute(
            select(t.suggestions.c.id).where(
                t.suggestions.c.alert_id == alert_id,
                t.suggestions.c.status.in_(("open", "acknowledged")),
            )
        ).scalars()
    ]
    if ids:
        conn.execute(
            update(t.suggestions)
            .where(t.suggestions.c.id.in_(ids))
            .values(status="closed", decided_by=by, decided_at=now, updated_at=now)
        )
    return ids


def resolve_alert(
    store: TraceStore,
    alert_id: int,
    *,
    by: str,
    note: str = "",
    clock: Callable[[], datetime] = utcnow,
) -> bool:
    """Resolve an alert by hand (counts as acted on); False when it already was resolved."""
    alert = get_alert(store, alert_id)
    if alert.status == "resolved":
        return False
    now = clock()
    with store.begin() as conn:
        conn.execute(
            update(t.alerts)
            .where(t.alerts.c.id == alert_id)
            .values(status="resolved", resolved_at=now, resolved_by=by, updated_at=now)
        )
        record_event(conn, alert_id, "resolved", alert.level, by, {"note": note}, now)
        close_suggestions(conn, alert_id, by=by, now=now)
    return True
