"""Alertmanager as the one pager: Mileage's alerts pushed to its API v2, acks as silences.

Every push sends each open (or acknowledged) page- and ticket-level alert with ``endsAt``
four push intervals (at least five minutes) ahead, so an alert stays firing while the daemon
keeps pushing, survives a restart without a second page, and lapses only if the daemon stays
away (the dead-man's rules page for that). An alert closed
recently is pushed once more with ``endsAt`` at its resolution time: Alertmanager sends the
"resolved" notification. The labels are ``alertname`` (by cause: ``MileageBrokenColumn``,
``MileageDrift``...), ``pipeline``, ``severity`` (``page`` or ``ticket``, what the shipped
routes match), ``cause`` (the alert kind) and ``mileage_alert_id``; the annotations carry the
likely cause, the runbook link and the suggestion (the command, and a link when
``MILEAGE_PUBLIC_URL`` is set).

``mileage alerts ack ID`` creates a silence matching ``mileage_alert_id="ID"``, so the page
stops everywhere; resolving the alert (by hand or by the policy) expires it. Nothing here is
fatal: an unreachable Alertmanager raises :class:`PagerError` for the caller to log, and the
alerts stay in the store for the next push.

Only the standard library talks HTTP here; the URL is configuration, not a secret, but
errors quote no response bodies.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from mileage.platform.errors import MileageError
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore, as_utc, utcnow
from mileage.platform.store import schema as t

log = logging.getLogger(__name__)

#: Alert kind -> (Alertmanager alertname, runbook section).
ALERT_NAMES: dict[str, tuple[str, str]] = {
    "broken_column": ("MileageBrokenColumn", "broken-column"),
    "input_error": ("MileageInputBroken", "input-broken"),
    "drift": ("MileageDrift", "drift"),
    "label_shift": ("MileageDrift", "drift"),
    "prediction_drift": ("MileagePredictionDrift", "prediction-drift"),
    "model_release": ("MileagePredictionDrift", "prediction-drift"),
    "slo_breach": ("MileageSLOBreach", "slo-burn"),
}
#: Kinds that Prometheus pages for on the windowed SLO state (the burn-rate rules): pushed as
#: tickets that carry the suggestion, so the SLO pages once.
PAGED_BY_RULES = frozenset({"slo_breach"})
PUSHED_LEVELS = ("page", "ticket")  # info-level (demoted) alerts wait in the inbox
ENDS_AFTER_PUSHES = 4
#: A daemon restart must not resolve and re-page an open alert (resolution is pushed
#: explicitly), so pushed alerts stay firing at least this long.
MIN_AHEAD_SECONDS = 300.0
RESOLVED_LOOKBACK = timedelta(hours=1)
SILENCE_DAYS = 7
CREATED_BY = "mileage"


class PagerError(MileageError, ConnectionError):
    """Alertmanager could not be reached or refused a request."""


def alert_name(kind: str) -> tuple[str, str]:
    """``(alertname, runbook section)`` of an alert kind."""
    if kind in ALERT_NAMES:
        return ALERT_NAMES[kind]
    camel = "".join(part.capitalize() for part in kind.split("_"))
    return f"Mileage{camel}", kind.replace("_", "-")


class AlertmanagerClient:
    """The few calls of Alertmanager's API v2 that Mileage needs.

    Args:
        url: Base URL, e.g. ``http://127.0.0.1:9093``.
        timeout: Seconds per request.
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body, default=str).encode()
        try:
            request = urllib.request.Request(
                f"{self.url}/api/v2{path}",
                data=data,
                method=method,
                headers={"Content-Type": "application/json", "User-Agent": "mileage"},
            )
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise PagerError(
                f"Alertmanager at {self.url} answered HTTP {exc.code} to {method} {path}"
            ) from None
        except http.client.HTTPException as exc:  # something answered, but not in HTTP
            raise PagerError(
                f"Alertmanager at {self.url} did not answer {method} {path} in HTTP "
                f"({type(exc).__name__}); check that MILEAGE_ALERTMANAGER_URL is Alertmanager's "
                "HTTP address (http://HOST:9093), not another service's port"
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:  # ValueError: not a URL
            reason = getattr(exc, "reason", exc)
            raise PagerError(
                f"Alertmanager at {self.url} is unreachable ({type(reason).__name__}: {reason}); "
                "check MILEAGE_ALERTMANAGER_URL and that Alertmanager runs"
            ) from None
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:  # a proxy's login page, a wrong port: no body is quoted
            raise PagerError(
                f"Alertmanager at {self.url} answered {method} {path} with something that is "
                f"not JSON ({len(raw)} bytes); check that MILEAGE_ALERTMANAGER_URL is "
                "Alertmanager itself (its API v2 is under /api/v2), not a proxy or another service"
            ) from None

    def _expect(self, value: Any, kind: type, method: str, path: str) -> Any:
        if value is not None and not isinstance(value, kind):
            raise PagerError(
                f"Alertmanager at {self.url} answered {method} {path} with a JSON "
                f"{type(value).__name__} where its API v2 gives a {kind.__name__}; check that "
                "MILEAGE_ALERTMANAGER_URL is Alertmanager itself (API v2), not another service"
            )
        return value

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """``POST /api/v2/alerts`` (creates, refreshes or resolves by label set)."""
        if alerts:
            self._call("POST", "/alerts", alerts)

    def ping(self) -> None:
        """``GET /api/v2/status``: raises :class:`PagerError` when Alertmanager is away."""
        self._call("GET", "/status")

    def silences(self, matchers: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Silences, optionally filtered by matchers such as ``mileage_alert_id="3"``."""
        query = urllib.parse.urlencode([("filter", m) for m in matchers])
        path = "/silences" + (f"?{query}" if query else "")
        found = self._expect(self._call("GET", path), list, "GET", "/silences") or []
        return [s for s in found if isinstance(s, dict)]

    def create_silence(
        self, matchers: dict[str, str], *, ends_at: datetime, by: str, comment: str
    ) -> str:
        """Create a silence of exact matchers; returns its id."""
        body = {
            "matchers": [
                {"name": k, "value": v, "isRegex": False, "isEqual": True}
                for k, v in sorted(matchers.items())
            ],
            "startsAt": _iso(utcnow()),
            "endsAt": _iso(ends_at),
            "createdBy": by,
            "comment": comment,
        }
        answer = self._expect(self._call("POST", "/silences", body), dict, "POST", "/silences")
        silence = str((answer or {}).get("silenceID") or "")
        if not silence:
            raise PagerError(
                f"Alertmanager at {self.url} created no silence (its answer to POST /silences "
                "has no silenceID); check that MILEAGE_ALERTMANAGER_URL is Alertmanager itself"
            )
        return silence

    def expire_silence(self, silence_id: str) -> None:
        """``DELETE /api/v2/silence/{id}``."""
        self._call("DELETE", f"/silence/{urllib.parse.quote(silence_id)}")


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")


@dataclass
class PushReport:
    """What one push sent.

    Attributes:
        firing: Ids of the alerts pushed as firing.
        resolved: Ids of the alerts pushed as resolved.
        silences_expired: Silences expired because their alert was closed.
    """

    firing: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    silences_expired: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "firing": len(self.firing),
            "resolved": len(self.resolved),
            "silences_expired": self.silences_expired,
        }


def _suggestions(store: TraceStore, alert_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not alert_ids:
        return {}
    with store.connect() as conn:
        rows = conn.execute(
            select(
                t.suggestions.c.id,
                t.suggestions.c.alert_id,
                t.suggestions.c.title,
                t.suggestions.c.kind,
                t.suggestions.c.model_version,
            )
            .where(t.suggestions.c.alert_id.in_(alert_ids), t.suggestions.c.rank == 1)
            .order_by(t.suggestions.c.id)
        ).all()
    return {int(r.alert_id): dict(r._mapping) for r in rows}


def _suggestion_url(settings: Settings, alert: dict[str, Any], s: dict[str, Any] | None) -> str:
    """A link people can open: the MLflow model version page under ``public_url``."""
    version = (s or {}).get("model_version") or alert.get("model_version")
    if not settings.public_url or not version or "/" not in str(version):
        return ""
    name, _, number = str(version).rpartition("/")
    return f"{settings.public_url}/#/models/{urllib.parse.quote(name)}/versions/{number}"


def to_alertmanager(
    alert: dict[str, Any],
    suggestion: dict[str, Any] | None,
    settings: Settings,
    *,
    ends_at: datetime,
) -> dict[str, Any]:
    """The API v2 body of one Mileage alert."""
    name, section = alert_name(str(alert["kind"]))
    annotations = {
        "summary": f"{alert['pipeline']}: {alert['title']}",
        "description": (
            f"Mileage alert {alert['id']} ({alert['kind']}, {alert['batches']} batch(es), "
            f"first {alert['first_batch']}, last {alert['last_batch']}); details: "
            f"'mileage alerts show {alert['id']}'. Ack with 'mileage alerts ack {alert['id']}' "
            "(silences it here too)."
        ),
        "runbook_url": f"{settings.runbook_url}#{section}",
    }
    if suggestion is not None:
        annotations["suggestion"] = (
            f"mileage suggestions show {suggestion['id']}: {suggestion['title']}"
        )
        link = _suggestion_url(settings, alert, suggestion)
        if link:
            annotations["suggestion_url"] = link
    severity = str(alert["level"])
    if alert["kind"] in PAGED_BY_RULES and severity == "page":
        severity = "ticket"
    body: dict[str, Any] = {
        "labels": {
            "alertname": name,
            "pipeline": str(alert["pipeline"]),
            "severity": severity,
            "cause": str(alert["kind"]),
            "mileage_alert_id": str(alert["id"]),
        },
        "annotations": annotations,
        "startsAt": _iso(alert["opened_at"]),
        "endsAt": _iso(ends_at),
    }
    if settings.public_url:
        body["generatorURL"] = settings.public_url
    return body


def push_alerts(
    store: TraceStore,
    settings: Settings,
    *,
    client: AlertmanagerClient | None = None,
    pipeline: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> PushReport:
    """Push every open page/ticket alert as firing and recently closed ones as resolved.

    Args:
        store: The trace store.
        settings: ``alertmanager_url``, push interval, runbook and public URLs.
        client: Alertmanager client (built from the settings by default).
        pipeline: Only this pipeline's alerts (after its monitor cycle).
        clock: Now.

    Raises:
        PagerError: Alertmanager is unreachable or refused the alerts (also checked when
            there is nothing to push, so /healthz says so before the first page is lost).
    """
    report = PushReport()
    if client is None:
        if not settings.alertmanager_url:
            return report
        client = AlertmanagerClient(settings.alertmanager_url, settings.http_timeout_seconds)
    now = clock()
    ahead = max(settings.alertmanager_push_interval_seconds * ENDS_AFTER_PUSHES, MIN_AHEAD_SECONDS)
    ends = now + timedelta(seconds=ahead)
    query = select(t.alerts).where(
        t.alerts.c.level.in_(PUSHED_LEVELS),
        or_(
            t.alerts.c.status.in_(("open", "acknowledged")),
            t.alerts.c.resolved_at >= now - RESOLVED_LOOKBACK,
        ),
    )
    if pipeline is not None:
        query = query.where(t.alerts.c.pipeline == pipeline)
    with store.connect() as conn:
        alerts = [dict(r._mapping) for r in conn.execute(query.order_by(t.alerts.c.id))]
    suggestions = _suggestions(store, [int(a["id"]) for a in alerts])
    bodies = []
    for a in alerts:
        closed = a["status"] == "resolved"
        end = as_utc(a["resolved_at"] or now) if closed else ends
        bodies.append(to_alertmanager(a, suggestions.get(int(a["id"])), settings, ends_at=end))
        (report.resolved if closed else report.firing).append(int(a["id"]))
    if bodies:
        client.post_alerts(bodies)
    else:  # nothing to send: still find out (and report) whether the pager is reachable
        client.ping()
    if report.resolved:
        report.silences_expired = _expire(client, report.resolved)
    return report


def _silences_of(client: AlertmanagerClient, wanted: set[str]) -> list[dict[str, Any]]:
    """The silences not yet expired that match ``mileage_alert_id`` equal to one of ``wanted``."""
    out = []
    for silence in client.silences():
        status = silence.get("status")
        if isinstance(status, dict) and status.get("state") == "expired":
            continue
        matchers = silence.get("matchers")
        ids = {
            m.get("value")
            for m in (matchers if isinstance(matchers, list) else [])
            if isinstance(m, dict) and m.get("name") == "mileage_alert_id" and not m.get("isRegex")
        }
        if ids & wanted and silence.get("id"):
            out.append(silence)
    return out


def _expire(client: AlertmanagerClient, alert_ids: list[int]) -> int:
    silences = _silences_of(client, {str(i) for i in alert_ids})
    for silence in silences:
        client.expire_silence(str(silence["id"]))
    return len(silences)


def silence_alert(
    store: TraceStore,
    settings: Settings,
    alert_id: int,
    *,
    by: str,
    client: AlertmanagerClient | None = None,
) -> str | None:
    """Silence one alert in Alertmanager (after ``mileage alerts ack``); returns the silence id,
    or None when no Alertmanager is configured.

    A silence of this alert that still holds is kept and its id returned, so acking again
    (after Alertmanager was away, or after the silence lapsed) makes exactly one.

    Raises:
        PagerError: Alertmanager is unreachable.
    """
    if client is None:
        if not settings.alertmanager_url:
            return None
        client = AlertmanagerClient(settings.alertmanager_url, settings.http_timeout_seconds)
    with store.connect() as conn:
        row = conn.execute(
            select(t.alerts.c.pipeline, t.alerts.c.kind).where(t.alerts.c.id == alert_id)
        ).one()
    holding = _silences_of(client, {str(alert_id)})
    if holding:
        return str(holding[0]["id"])
    return client.create_silence(
        {
            "alertname": alert_name(str(row.kind))[0],
            "pipeline": str(row.pipeline),
            "mileage_alert_id": str(alert_id),
        },
        ends_at=utcnow() + timedelta(days=SILENCE_DAYS),
        by=by,
        comment=f"acknowledged in Mileage: 'mileage alerts show {alert_id}'",
    )


def unsilence_alert(
    settings: Settings, alert_id: int, *, client: AlertmanagerClient | None = None
) -> int:
    """Expire the silences of one alert (after ``mileage alerts resolve``); returns how many.

    Raises:
        PagerError: Alertmanager is unreachable.
    """
    if client is None:
        if not settings.alertmanager_url:
            return 0
        client = AlertmanagerClient(settings.alertmanager_url, settings.http_timeout_seconds)
    return _expire(client, [alert_id])


__all__ = [
    "ALERT_NAMES",
    "PAGED_BY_RULES",
    "AlertmanagerClient",
    "PagerError",
    "PushReport",
    "alert_name",
    "push_alerts",
    "silence_alert",
    "to_alertmanager",
    "unsilence_alert",
]
