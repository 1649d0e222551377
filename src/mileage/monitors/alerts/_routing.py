"""Routing: every suggestion reaches its pipeline's owner, through every configured router.

The inbox (the ``suggestions`` table, read by ``mileage suggestions``) always holds it.
Routers deliver it further:

* ``mlflow`` (:class:`MlflowRouter`): tags on the model version the alert concerns
  (``mileage.suggestion.<id>`` with kind, status, level, owner, failed checks and the command
  that accepts it; ``mileage.suggestion.open`` listing the pending ids) and a section of its
  description, kept in step as suggestions are accepted or dismissed;
* ``webhook`` (:class:`WebhookRouter`): a Slack-compatible JSON message listing the failed
  checks, the likely cause, the remedy with its diff, and who is paged. The URL comes from
  the environment variable the monitor names (``--webhook-env``) or ``MILEAGE_WEBHOOK_URL``
  and is never logged, stored or exported. Info-level (demoted) alerts do not ping;
* plugins: any factory registered in the entry point group ``mileage.routers`` that returns
  an object with a ``name`` and ``deliver(message)``; a plugin that fails to load is a
  warning listing the routers that did.

The primary suggestion of an alert is delivered once per router and alert level (an
escalation to a page is a new message). A failing delivery is retried ``route_retries`` times
with doubling pauses, then again at later cycles until ``route_max_attempts``; the
suggestion stays in the inbox whatever happens.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import insert, select, update

from mileage.monitors._registry import get_monitor
from mileage.monitors.checks._check import MonitorConfig
from mileage.monitors.checks._sources import webhook_variable
from mileage.platform.errors import ConfigError, MileageError
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore, as_utc, utcnow
from mileage.platform.store import schema as t

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mileage.routers"
INBOX = "inbox"
DESCRIPTION_START = "<!-- mileage:suggestions -->"
DESCRIPTION_END = "<!-- /mileage:suggestions -->"
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+")
_MAX_PAUSE = 3600.0


class RouterError(MileageError, ConnectionError):
    """A router could not deliver a message (it will be retried)."""


class RouterConfigError(RouterError):
    """A router is configured so that no retry can deliver (a webhook variable that is not set):
    the delivery fails at once, is counted and alerts, instead of being skipped silently."""


class RouterPluginWarning(UserWarning):
    """A ``mileage.routers`` plugin could not be loaded; it is skipped."""


def scrub(text: str) -> str:
    """``text`` with anything that looks like a URL replaced (errors may quote secrets)."""
    return _URL.sub("<url>", text)[:1000]


@dataclass(frozen=True)
class Message:
    """What a router delivers: a suggestion, the alert it answers, and who must know.

    Attributes:
        suggestion: The ``suggestions`` row.
        alert: The ``alerts`` row.
        alternatives: Other suggestions of the alert (id, kind, status, title).
        config: The pipeline's monitor configuration.
        level: ``page``, ``ticket`` or ``info``.
    """

    suggestion: dict[str, Any]
    alert: dict[str, Any]
    alternatives: list[dict[str, Any]]
    config: MonitorConfig
    level: str

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        return list((self.alert["evidence"] or {}).get("failed_checks", []))

    @property
    def recipients(self) -> list[dict[str, Any]]:
        return list(self.suggestion["recipients"] or [])

    def summary(self) -> str:
        """One line: level, pipeline, likely cause, remedy."""
        s = self.suggestion
        return (
            f"[{self.level.upper()}] {self.config.name}: {self.alert['title']} | suggestion "
            f"{s['id']} ({s['kind']}): {s['title']}"
        )


@runtime_checkable
class Router(Protocol):
    """Delivers messages somewhere people look.

    ``deliver`` returns ``"delivered"``, or ``"skipped"`` when the router does not apply to
    this message (no model version to tag, no webhook configured); it raises on failure (any
    exception; :class:`RouterError` preferably) and is then retried. It must be idempotent:
    a retry after a lost answer must not double what people see (the webhook sends an
    ``Idempotency-Key`` header for that).
    """

    name: str

    def deliver(self, message: Message) -> str:
        """Deliver ``message``."""
        ...


# -- MLflow ----------------------------------------------------------------------------------


class MlflowRouter:
    """Tags and describes the MLflow model version an alert concerns."""

    name = "mlflow"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    def deliver(self, message: Message) -> str:
        version = message.suggestion["model_version"] or message.alert["model_version"]
        if not version or "/" not in str(version) or not message.config.model_uri:
            return "skipped"
        name, _, number = str(version).rpartition("/")
        from mlflow.exceptions import MlflowException

        from mileage.monitors.checks._models import _quiet

        _quiet()
        from mlflow import MlflowClient

        uri = message.config.tracking_uri
        try:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            key = f"mileage.suggestion.{message.suggestion['id']}"
            if message.suggestion["status"] == "closed":
                # its alert resolved undecided: the tags show what still needs a decision
                mv = client.get_model_version(name, number)
                if key in (mv.tags or {}):
                    client.delete_model_version_tag(name, number, key)
            else:
                client.set_model_version_tag(name, number, key, _tag(message))
            mv = client.get_model_version(name, number)
            tags = dict(mv.tags or {})
            pending = sorted(
                (int(k.rsplit(".", 1)[1]), json.loads(v))
                for k, v in tags.items()
                if re.fullmatch(r"mileage\.suggestion\.\d+", k)
            )
            open_ids = [i for i, v in pending if v.get("status") in ("open", "acknowledged")]
            client.set_model_version_tag(
                name, number, "mileage.suggestion.open", ",".join(map(str, open_ids))
            )
            client.update_model_version(
                name, number, description=_description(mv.description or "", pending)
            )
        except (MlflowException, OSError, ValueError) as exc:
            raise RouterError(
                f"MLflow router: tagging {name} version {number} failed: "
                f"{scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}"
            ) from None
        return "delivered"

    def refresh(self, message: Message) -> str:
        """Update the tags after a decision (same as delivering again)."""
        return self.deliver(message)


def _tag(message: Message) -> str:
    s = message.suggestion
    data = {
        "kind": s["kind"],
        "status": s["status"],
        "level": message.level,
        "owner": s["owner"],
        "alert": int(message.alert["id"]),
        "alert_kind": message.alert["kind"],
        "title": s["title"],
        "cause": message.alert["title"],
        "failed_checks": [c["what"] for c in message.failed_checks[:10]],
        "batches": (message.alert["evidence"] or {}).get("batches", [])[-5:],
        "decided_by": s.get("decided_by"),
        "accept": f"mileage suggestions accept {s['id']}",
    }
    return json.dumps(data, default=str)[:20000]


def _description(current: str, suggestions: list[tuple[int, dict[str, Any]]]) -> str:
    before, _, rest = current.partition(DESCRIPTION_START)
    _, _, after = rest.partition(DESCRIPTION_END)
    lines = [
        f"- #{i} [{v.get('level')}] {v.get('title')} ({v.get('status')})"
        for i, v in suggestions[-10:]
    ]
    block = "\n".join([DESCRIPTION_START, "Mileage suggestions:", *lines, DESCRIPTION_END])
    return (before.rstrip() + ("\n\n" if before.strip() else "") + block + after).strip()


# -- webhook -------------------------------------------------------------------------------


class WebhookRouter:
    """POSTs Slack-compatible JSON to the pipeline's webhook.

    Args:
        settings: Default URL (``webhook_url``) and HTTP timeout.
    """

    name = "webhook"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.load()

    def _url(self, config: MonitorConfig) -> tuple[str | None, str]:
        if config.webhook_env:
            try:
                name = webhook_variable(config.webhook_env)
            except ConfigError:  # stored before names were checked: never echo it
                raise RouterConfigError(
                    f"webhook of pipeline {config.name!r}: its webhook setting is not an "
                    "environment variable name (value not shown); set one with 'mileage "
                    f"monitor edit {shlex.quote(config.name)} --webhook-env env:NAME'"
                ) from None
            return os.environ.get(name or "") or None, f"${name}"
        return self.settings.webhook()

    def deliver(self, message: Message) -> str:
        if message.level == "info":
            return "skipped"
        url, source = self._url(message.config)
        if not url and source.startswith("$"):
            # a webhook was asked for: an unset variable loses its owner's messages
            if message.config.webhook_env:
                whose = f"pipeline {message.config.name!r}"
                stop = "'mileage monitor edit NAME --webhook-env \"\"' stops using it"
            else:
                whose = f"MILEAGE_WEBHOOK_URL (env:{source[1:]})"
                stop = "unsetting webhook_url stops using it"
            raise RouterConfigError(
                f"webhook of {whose}: environment variable {source[1:]} is not set in the "
                f"daemon's environment; set it to the webhook URL ({stop})"
            )
        if not url:
            return "skipped"
        if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https") or not (
            urllib.parse.urlsplit(url).netloc
        ):
            # no retry can help, and the value (maybe a token pasted in the wrong place) is
            # never shown; urllib would also open file:// and ftp:// URLs
            raise RouterConfigError(
                f"webhook of pipeline {message.config.name!r}: the URL from {source} is not an "
                "http(s) URL (value not shown); set it to the webhook's https:// URL"
            )
        body = json.dumps(slack_payload(message), default=str).encode()
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": f"mileage-suggestion-{message.suggestion['id']}-{message.level}",
                "User-Agent": "mileage",
            },
        )
        where = f"webhook of pipeline {message.config.name!r} (URL from {source})"
        try:
            with urllib.request.urlopen(
                request, timeout=self.settings.http_timeout_seconds
            ) as resp:
                code = int(resp.status)
        except urllib.error.HTTPError as exc:
            raise RouterError(f"{where} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RouterError(f"{where} is unreachable: {type(reason).__name__}") from None
        if not 200 <= code < 300:
            raise RouterError(f"{where} answered HTTP {code}")
        return "delivered"


def _text(text: str, limit: int = 2900) -> str:
    """Slack ``mrkdwn`` text: ``&``, ``<`` and ``>`` escaped, so a column name or a title
    taken from data (``<!channel>``, ``<https://evil|click>``) can neither ping a channel nor
    show a link. Our own markup uses none of the three."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _plain(text, limit)


def _plain(text: str, limit: int = 2900) -> str:
    """``plain_text``: shown as written, so only cut to Slack's limit."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def slack_payload(message: Message) -> dict[str, Any]:
    """The webhook body: a ``text`` fallback and Block Kit sections (failed checks listed)."""
    s, a, config = message.suggestion, message.alert, message.config
    evidence = a["evidence"] or {}
    batches = evidence.get("batches", [])
    people = [f"*Owner:* {s['owner']}"]
    paged = [r["name"] for r in message.recipients if r.get("pages")]
    copies = [r["name"] for r in message.recipients if r.get("copy")]
    if message.level == "page" and paged:
        people.append(f"*Paged:* {', '.join(paged)}")
    if copies:
        people.append(f"*Copy (shadow, not paged):* {', '.join(copies)}")
    checks = []
    for c in message.failed_checks[:12]:
        where = f" on `{c['column']}`" if c.get("column") else ""
        where += f" slice `{c['slice']}`" if c.get("slice") else ""
        checks.append(
            f"• {c['check_kind']} `{c['check']}`{where}: {c['what']} "
            f"({c['severity']}, batch {c['batch_id']}"
            + (f", {c['batches']} batches" if c.get("batches", 1) > 1 else "")
            + ")"
        )
    more = len(message.failed_checks) - 12
    if more > 0:
        checks.append(f"• ... and {more} more (mileage alerts show {a['id']})")
    applied = s["status"] == "applied"
    remedy = (
        f"*{'Applied automatically' if applied else 'Suggested'}* ({s['kind']}, "
        f"{s['confidence']} confidence): {s['title']}\n*Why:* {s['rationale']}\n"
        f"*Expected effect:* {s['expected_effect']}"
    )
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _plain(
                    f"{message.level.upper()} · {config.name}: {a['kind'].replace('_', ' ')}", 150
                ),
            },
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _text(
                    f"*Likely cause:* {a['title']}\n"
                    + "  ".join(people)
                    + f"\n*Model version:* {a['model_version'] or 'unknown'}  *Batches:* "
                    + (f"{batches[0]} … {batches[-1]} ({a['batches']})" if batches else "-")
                ),
            },
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _text("*Failed checks*\n" + "\n".join(checks))},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _text(remedy)}},
    ]
    if s["diff"]:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _text(f"```{s['diff']}```")}}
        )
    context = [
        f"`mileage suggestions show {s['id']}`",
        f"accept: `mileage suggestions accept {s['id']}`",
        f"dismiss: `mileage suggestions dismiss {s['id']}`",
    ]
    if message.alternatives:
        context.append(
            "alternatives: " + "; ".join(f"#{o['id']} {o['kind']}" for o in message.alternatives)
        )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _text(" · ".join(context))}]}
    )
    return {"text": _text(message.summary(), 3000), "blocks": blocks}


# -- loading -------------------------------------------------------------------------------

BUILTIN: dict[str, Callable[[Settings], Router]] = {
    "mlflow": MlflowRouter,
    "webhook": WebhookRouter,
}


def available_routers() -> dict[str, Callable[[Settings], Any]]:
    """Built-in routers and the plugins of the ``mileage.routers`` group that load."""
    from importlib.metadata import entry_points

    out: dict[str, Callable[[Settings], Any]] = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            factory = ep.load()
        except Exception as exc:  # a broken plugin is a warning, not a crash
            warnings.warn(
                f"router plugin {ep.name!r} ({ep.value}) cannot be loaded: "
                f"{type(exc).__name__}: {scrub(str(exc))}; it is skipped. Routers available: "
                f"{', '.join(sorted(out))}.",
                RouterPluginWarning,
                stacklevel=2,
            )
            continue
        out[ep.name] = factory
    return out


def load_routers(settings: Settings, names: list[str] | None = None) -> list[Any]:
    """Instantiate the routers named (``settings.routers`` by default).

    Raises:
        ConfigError: A name is neither built in nor a loadable plugin; the message lists the
            known ones.
    """
    names = list(settings.routers if names is None else names)
    # Plugins are looked up only when a name is not built in: scanning every installed
    # distribution's entry points costs milliseconds and, in a daemon that loads routers on
    # each of hundreds of monitor runs per slot, grew importlib's metadata caches run after run.
    builtin_only = all(n in BUILTIN or n == INBOX for n in names)
    known: dict[str, Callable[[Settings], Any]] = (
        dict(BUILTIN) if builtin_only else available_routers()
    )
    unknown = [n for n in names if n not in known and n != INBOX]
    if unknown:
        raise ConfigError(
            f"router(s) {', '.join(map(repr, unknown))} unknown; available: "
            f"{', '.join(sorted(known))} (plugins register in the {ENTRY_POINT_GROUP!r} entry "
            "point group). Fix MILEAGE_ROUTERS or 'routers' in mileage.toml."
        )
    routers = []
    for name in names:
        if name == INBOX:
            continue  # always on: the suggestions table
        try:
            router = known[name](settings)
        except Exception as exc:
            warnings.warn(
                f"router {name!r} could not be created: {type(exc).__name__}: {scrub(str(exc))}; "
                f"it is skipped. Routers available: {', '.join(sorted(known))}.",
                RouterPluginWarning,
                stacklevel=2,
            )
            continue
        if not callable(getattr(router, "deliver", None)):
            warnings.warn(
                f"router {name!r} has no deliver(message) method; it is skipped.",
                RouterPluginWarning,
                stacklevel=2,
            )
            continue
        if not getattr(router, "name", None):
            router.name = name
        routers.append(router)
    return routers


# -- dispatching ---------------------------------------------------------------------------


@dataclass
class DeliveryOutcome:
    """One delivery's state after this cycle."""

    suggestion_id: int
    router: str
    level: str
    status: str
    attempts: int
    error: str | None = None


@dataclass
class Dispatcher:
    """Delivers suggestions through routers, recording every attempt.

    Args:
        store: The trace store.
        routers: Router objects (see :func:`load_routers`).
        settings: Retry counts and pauses.
        sleep: Pause between attempts (tests inject a no-op).
        clock: Current time.
    """

    store: TraceStore
    routers: list[Any]
    settings: Settings
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], datetime] = utcnow
    outcomes: list[DeliveryOutcome] = field(default_factory=list)

    def message(self, suggestion_id: int, level: str | None = None) -> Message:
        with self.store.connect() as conn:
            s = dict(
                conn.execute(select(t.suggestions).where(t.suggestions.c.id == suggestion_id))
                .one()
                ._mapping
            )
            a = dict(
                conn.execute(select(t.alerts).where(t.alerts.c.id == s["alert_id"])).one()._mapping
            )
            others = [
                dict(r._mapping)
                for r in conn.execute(
                    select(
                        t.suggestions.c.id,
                        t.suggestions.c.kind,
                        t.suggestions.c.status,
                        t.suggestions.c.title,
                    )
                    .where(
                        t.suggestions.c.alert_id == s["alert_id"],
                        t.suggestions.c.id != suggestion_id,
                    )
                    .order_by(t.suggestions.c.rank)
                )
            ]
        config = get_monitor(self.store, s["pipeline"]).config
        return Message(s, a, others, config, level or a["level"])

    def route_alerts(self, alert_ids: list[int]) -> list[DeliveryOutcome]:
        """Deliver each open alert's primary suggestion at its level, once per router.

        Acknowledged alerts are not sent again (their owner is on them); resolved ones
        neither. An automatic rollback's suggestion, applied in the same cycle, is sent.
        """
        out: list[DeliveryOutcome] = []
        if not alert_ids:
            return out
        with self.store.connect() as conn:
            rows = conn.execute(
                select(t.suggestions.c.id, t.suggestions.c.alert_id, t.alerts.c.level)
                .join(t.alerts, t.alerts.c.id == t.suggestions.c.alert_id)
                .where(
                    t.suggestions.c.alert_id.in_(alert_ids),
                    t.suggestions.c.rank == 1,
                    t.alerts.c.status == "open",  # acknowledged: someone is on it already
                )
                .order_by(t.suggestions.c.id)
            ).all()
        for sid, _, level in rows:
            out.extend(self.route(int(sid), level))
        return out

    def route(self, suggestion_id: int, level: str | None = None) -> list[DeliveryOutcome]:
        """Deliver one suggestion through the inbox and every router that has not had it at
        this level yet (pending deliveries are left to :meth:`retry_pending`)."""
        if level is None:
            level = self.message(suggestion_id).level
        out: list[DeliveryOutcome] = []
        if self._row(suggestion_id, INBOX, level) is None:
            out.append(self._ensure(suggestion_id, INBOX, level, delivered=True))
        message: Message | None = None
        for router in self.routers:
            if self._row(suggestion_id, router.name, level) is not None:
                continue
            self._ensure(suggestion_id, router.name, level, delivered=False)
            row = self._row(suggestion_id, router.name, level)
            assert row is not None
            message = message or self.message(suggestion_id, level)
            out.append(self._attempt(router, message, row))
        self.outcomes.extend(out)
        return out

    def retry_pending(self, pipeline: str | None = None) -> list[DeliveryOutcome]:
        """Retry deliveries left pending by earlier cycles whose pause has passed."""
        now = self.clock()
        query = (
            select(t.suggestion_deliveries)
            .join(t.suggestions, t.suggestions.c.id == t.suggestion_deliveries.c.suggestion_id)
            .where(t.suggestion_deliveries.c.status == "pending")
        )
        if pipeline is not None:
            query = query.where(t.suggestions.c.pipeline == pipeline)
        with self.store.connect() as conn:
            rows = [
                dict(r._mapping) for r in conn.execute(query.order_by(t.suggestion_deliveries.c.id))
            ]
        by_name = {r.name: r for r in self.routers}
        out = []
        for row in rows:
            due = row["next_attempt_at"]
            if due is not None and as_utc(due) > as_utc(now):
                continue
            router = by_name.get(row["router"])
            if router is None:
                continue  # router no longer configured: stays pending, visible in the inbox
            out.append(
                self._attempt(router, self.message(int(row["suggestion_id"]), row["level"]), row)
            )
        self.outcomes.extend(out)
        return out

    def refresh_alert(self, alert_id: int) -> list[int]:
        """Refresh every suggestion of one alert (after it was resolved by hand, its closed
        suggestions leave the model version's tags); returns their ids."""
        with self.store.connect() as conn:
            ids = [
                int(i)
                for i in conn.execute(
                    select(t.suggestions.c.id)
                    .where(t.suggestions.c.alert_id == alert_id)
                    .order_by(t.suggestions.c.id)
                ).scalars()
            ]
        for sid in ids:
            self.refresh(sid)
        return ids

    def refresh(self, suggestion_id: int) -> None:
        """Let routers that show status (MLflow tags) catch up with a decision; best effort."""
        message = None
        for router in self.routers:
            refresh = getattr(router, "refresh", None)
            if refresh is None:
                continue
            message = message or self.message(suggestion_id)
            try:
                refresh(message)
            except Exception as exc:  # status display only: the decision is already stored
                log.warning(
                    "router %s could not show the new status of suggestion %d: %s",
                    router.name,
                    suggestion_id,
                    scrub(str(exc)),
                )

    # -- rows ------------------------------------------------------------------------------

    def _row(self, suggestion_id: int, router: str, level: str) -> dict[str, Any] | None:
        with self.store.connect() as conn:
            row = conn.execute(
                select(t.suggestion_deliveries).where(
                    t.suggestion_deliveries.c.suggestion_id == suggestion_id,
                    t.suggestion_deliveries.c.router == router,
                    t.suggestion_deliveries.c.level == level,
                )
            ).first()
        return dict(row._mapping) if row else None

    def _ensure(
        self, suggestion_id: int, router: str, level: str, *, delivered: bool
    ) -> DeliveryOutcome:
        row = self._row(suggestion_id, router, level)
        if row is None:
            now = self.clock()
            with self.store.begin() as conn:
                conn.execute(
                    insert(t.suggestion_deliveries).values(
                        suggestion_id=suggestion_id,
                        router=router,
                        level=level,
                        status="delivered" if delivered else "pending",
                        attempts=1 if delivered else 0,
                        delivered_at=now if delivered else None,
                        created_at=now,
                        updated_at=now,
                    )
                )
            return DeliveryOutcome(
                suggestion_id,
                router,
                level,
                "delivered" if delivered else "pending",
                int(delivered),
            )
        return DeliveryOutcome(suggestion_id, router, level, row["status"], int(row["attempts"]))

    def _attempt(self, router: Any, message: Message, row: dict[str, Any]) -> DeliveryOutcome:
        retries = self.settings.route_retries
        backoff = self.settings.route_backoff_seconds
        attempts = int(row["attempts"])
        error: str | None = row.get("last_error")
        for i in range(max(0, min(retries, self.settings.route_max_attempts - attempts))):
            attempts += 1
            try:
                status = router.deliver(message)
            except RouterConfigError as exc:  # no retry can help: failed now, and counted
                error = scrub(str(exc))
                log.warning(
                    "router %s: suggestion %d not delivered: %s",
                    router.name,
                    message.suggestion["id"],
                    error,
                )
                self._save(
                    row["id"],
                    status="failed",
                    attempts=attempts,
                    last_error=error,
                    next_attempt_at=None,
                )
                return DeliveryOutcome(
                    int(message.suggestion["id"]),
                    router.name,
                    message.level,
                    "failed",
                    attempts,
                    error,
                )
            except Exception as exc:  # any router failure is retried, never fatal
                error = scrub(f"{type(exc).__name__}: {exc}")
                log.warning(
                    "router %s: suggestion %d attempt %d failed: %s",
                    router.name,
                    message.suggestion["id"],
                    attempts,
                    error,
                )
                self._save(row["id"], status="pending", attempts=attempts, last_error=error)
                if i + 1 < retries and attempts < self.settings.route_max_attempts:
                    self.sleep(backoff * 2**i)
                continue
            status = "skipped" if status == "skipped" else "delivered"
            now = self.clock()
            self._save(
                row["id"], status=status, attempts=attempts, delivered_at=now, next_attempt_at=None
            )
            return DeliveryOutcome(
                int(message.suggestion["id"]), router.name, message.level, status, attempts
            )
        final = attempts >= self.settings.route_max_attempts
        pause = min(_MAX_PAUSE, backoff * 2 ** min(attempts, 20))
        self._save(
            row["id"],
            status="failed" if final else "pending",
            attempts=attempts,
            last_error=error,
            next_attempt_at=None if final else self.clock() + timedelta(seconds=pause),
        )
        return DeliveryOutcome(
            int(message.suggestion["id"]),
            router.name,
            message.level,
            "failed" if final else "pending",
            attempts,
            error,
        )

    def _save(self, delivery_id: int, **values: Any) -> None:
        with self.store.begin() as conn:
            conn.execute(
                update(t.suggestion_deliveries)
                .where(t.suggestion_deliveries.c.id == delivery_id)
                .values(updated_at=self.clock(), **values)
            )


__all__ = [
    "ENTRY_POINT_GROUP",
    "DeliveryOutcome",
    "Dispatcher",
    "Message",
    "MlflowRouter",
    "Router",
    "RouterConfigError",
    "RouterError",
    "RouterPluginWarning",
    "WebhookRouter",
    "available_routers",
    "load_routers",
    "scrub",
    "slack_payload",
]
