"""Alerts: the response to what the checks found.

Findings become alerts, one per likely cause (:class:`AlertPolicy`: root-cause grouping,
dedupe across batches, persistence before paging, actionability), each answered by suggested
remedies (:class:`SuggestionEngine`) that reach the pipeline's owner through the inbox, MLflow
model-version tags and webhooks (:class:`Dispatcher` with the routers of
:func:`load_routers`). Pages go through Alertmanager (:func:`push_alerts`; acks become
silences with :func:`silence_alert`).
"""

from __future__ import annotations

from mileage.monitors.alerts._inbox import (
    PENDING,
    Decision,
    SuggestionNotFoundError,
    accept_suggestion,
    acknowledge_suggestion,
    dismiss_suggestion,
    get_suggestion,
    list_suggestions,
)
from mileage.monitors.alerts._pager import (
    AlertmanagerClient,
    PagerError,
    PushReport,
    alert_name,
    push_alerts,
    silence_alert,
    unsilence_alert,
)
from mileage.monitors.alerts._policy import (
    AlertNotFoundError,
    AlertOptions,
    AlertPolicy,
    CycleReport,
    Notification,
    acknowledge_alert,
    actionability_table,
    get_alert,
    list_alerts,
    resolve_alert,
    unacknowledge_alert,
)
from mileage.monitors.alerts._records import (
    Actionability,
    Alert,
    AlertDetail,
    AlertEvent,
    InboxSuggestion,
    Suggestion,
    SuggestionBrief,
    SuggestionDelivery,
    SuggestionDetail,
)
from mileage.monitors.alerts._routing import (
    ENTRY_POINT_GROUP,
    DeliveryOutcome,
    Dispatcher,
    Message,
    MlflowRouter,
    Router,
    RouterError,
    RouterPluginWarning,
    WebhookRouter,
    available_routers,
    load_routers,
    slack_payload,
)
from mileage.monitors.alerts._suggest import (
    SuggestionEngine,
    WarmStartProvider,
    WarmStarts,
    metalearner_warm_starts,
    no_warm_starts,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "PENDING",
    "Actionability",
    "Alert",
    "AlertDetail",
    "AlertEvent",
    "AlertNotFoundError",
    "AlertOptions",
    "AlertPolicy",
    "AlertmanagerClient",
    "CycleReport",
    "Decision",
    "DeliveryOutcome",
    "Dispatcher",
    "InboxSuggestion",
    "Message",
    "MlflowRouter",
    "Notification",
    "PagerError",
    "PushReport",
    "Router",
    "RouterError",
    "RouterPluginWarning",
    "Suggestion",
    "SuggestionBrief",
    "SuggestionDelivery",
    "SuggestionDetail",
    "SuggestionEngine",
    "SuggestionNotFoundError",
    "WarmStartProvider",
    "WarmStarts",
    "WebhookRouter",
    "accept_suggestion",
    "acknowledge_alert",
    "acknowledge_suggestion",
    "actionability_table",
    "alert_name",
    "available_routers",
    "dismiss_suggestion",
    "get_alert",
    "get_suggestion",
    "list_alerts",
    "list_suggestions",
    "load_routers",
    "metalearner_warm_starts",
    "no_warm_starts",
    "push_alerts",
    "resolve_alert",
    "silence_alert",
    "slack_payload",
    "unacknowledge_alert",
    "unsilence_alert",
]
