"""Typed read models of alerts and suggestions (rows of ``alerts``, ``suggestions``...)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mileage.platform.records import Record


@dataclass(frozen=True)
class AlertEvent(Record):
    """One state change of an alert (a row of ``alert_events``)."""

    id: int
    alert_id: int
    event: str
    level: str
    actor: str
    detail: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class SuggestionBrief(Record):
    """A suggestion named from elsewhere: an alert's remedies, a suggestion's alternatives."""

    id: int
    kind: str
    status: str
    title: str


@dataclass(frozen=True)
class Alert(Record):
    """One alert (a row of ``alerts``).

    Attributes:
        id: Alert id.
        monitor_id: The monitor that raised it.
        pipeline: The monitor's name.
        key: What identifies the cause across batches (``drift``, ``slo``, ``slice:north``...).
        kind: Cause kind (``broken_column``, ``drift``, ``model_release``...).
        level: Current level (``info``, ``ticket``, ``page``).
        policy_level: The level the policy gave before any demotion.
        status: ``open``, ``acknowledged`` or ``resolved``.
        demoted: Lowered because alerts of this kind are rarely acted on.
        slo_breached: The SLO is broken.
        owner: Who receives it.
        model_version: The model version served when it opened.
        columns: Columns concerned.
        title: One-line summary.
        evidence: The numbers behind it.
        first_batch: Batch that opened it.
        last_batch: Latest batch that confirmed it.
        batches: Batches that confirmed it.
        quiet_batches: Batches since, whose checks found nothing.
        n_findings: Findings grouped into it.
        opened_at: When it opened.
        updated_at: Last change.
        acknowledged_at: When someone acknowledged it.
        acknowledged_by: Who.
        resolved_at: When it was resolved.
        resolved_by: By whom (the policy when it went quiet).
    """

    id: int
    monitor_id: int
    pipeline: str
    key: str
    kind: str
    level: str
    policy_level: str
    status: str
    demoted: bool
    slo_breached: bool
    owner: str
    model_version: str | None
    columns: list[str]
    title: str
    evidence: dict[str, Any]
    first_batch: str
    last_batch: str
    batches: int
    quiet_batches: int
    n_findings: int
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None


@dataclass(frozen=True)
class Actionability(Record):
    """How often people acted on one pipeline's alerts of one kind (``alerts actionability``).

    Attributes:
        pipeline: The monitor's name.
        kind: Alert kind.
        closed: Closed alerts considered (the most recent, up to the window).
        acted: Those a person acted on.
        ratio: ``acted / closed`` (None before any closed alert).
        demoted: New alerts of this kind open one level lower.
    """

    pipeline: str
    kind: str
    closed: int
    acted: int
    ratio: float | None
    demoted: bool


@dataclass(frozen=True)
class AlertDetail(Alert):
    """An alert with its history and its suggested remedies (:func:`get_alert`)."""

    events: tuple[AlertEvent, ...]
    suggestions: tuple[SuggestionBrief, ...]


@dataclass(frozen=True)
class Suggestion(Record):
    """One suggested remedy (a row of ``suggestions``).

    Attributes:
        id: Suggestion id.
        alert_id: The alert it answers.
        monitor_id: The monitor concerned.
        pipeline: The monitor's name.
        kind: The remedy (``fix_upstream``, ``retrain``, ``rollback``...).
        rank: 1 for the primary remedy of its alert.
        status: ``open``, ``acknowledged``, ``accepted``, ``applied`` or ``dismissed``.
        auto: Applied by the policy without a person.
        title: One-line summary.
        rationale: Why this remedy.
        expected_effect: What should change once it is done.
        confidence: ``medium`` or ``high``.
        evidence: The numbers behind it.
        diff: The proposed change, empty when there is none.
        diff_format: Format of ``diff`` (``json``, ``yaml``, or empty).
        action: What accepting it performs.
        owner: Who decides.
        recipients: Who it is routed to.
        model_version: The model version concerned.
        created_at: When it was made.
        updated_at: Last change.
        decided_by: Who accepted or dismissed it.
        decided_at: When.
        result: What performing it did.
    """

    id: int
    alert_id: int
    monitor_id: int
    pipeline: str
    kind: str
    rank: int
    status: str
    auto: bool
    title: str
    rationale: str
    expected_effect: str
    confidence: str
    evidence: dict[str, Any]
    diff: str
    diff_format: str
    action: dict[str, Any]
    owner: str
    recipients: list[dict[str, Any]]
    model_version: str | None
    created_at: datetime
    updated_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    result: dict[str, Any] | None


@dataclass(frozen=True)
class InboxSuggestion(Suggestion):
    """A suggestion as the inbox lists it, with its alert's level, status and title."""

    alert_level: str
    alert_status: str
    alert_title: str


@dataclass(frozen=True)
class SuggestionDelivery(Record):
    """Where a suggestion was routed and how that went (a row of ``suggestion_deliveries``)."""

    router: str
    level: str
    status: str
    attempts: int
    last_error: str | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class SuggestionDetail(Suggestion):
    """A suggestion with its alert, deliveries and the other remedies of that alert."""

    alert: Alert
    deliveries: tuple[SuggestionDelivery, ...]
    alternatives: tuple[SuggestionBrief, ...]


__all__ = [
    "Actionability",
    "Alert",
    "AlertDetail",
    "AlertEvent",
    "InboxSuggestion",
    "Suggestion",
    "SuggestionBrief",
    "SuggestionDelivery",
    "SuggestionDetail",
]
