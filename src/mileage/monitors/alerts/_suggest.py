"""Suggestion engine: each alert gets remedies, ranked, with evidence and expected effect.

=====================  ======================================================================
alert kind             remedies, best first
=====================  ======================================================================
broken_column          fix the named column(s) upstream (before/after values; a suite diff in
                       case the change is intended)
input_error            fix the batch source upstream
labels_unavailable     fix the label source upstream
model_release          roll back to the fallback version; retrain
slo_breach             roll back to the fallback version; retrain
performance_regression retrain on a recent window; roll back
drift                  retrain on a recent window, or, once the drift has persisted while the
                       SLO holds, refresh the reference; look upstream
prediction_drift       retrain; refresh the reference
label_shift            retrain on a recent window
slice_regression       add the failing slice to the validation set; retrain
=====================  ======================================================================

Remedies that change configuration carry a diff (YAML or JSON) of exactly what accepting
them changes. Nothing runs by itself except a rollback, and only when the pipeline's
``rollback_policy`` is ``auto`` and its SLO is breached; everything else waits in the inbox
for ``mileage suggestions accept``. Retrain remedies list the batches to train on (those that
passed validation: a model retrained on bad data is worse than a stale one) and, when a
warm-start model of the meta-learner (``mileage.metalearner.warmstart._ranker``) can be loaded,
the configurations it ranks best for the pipeline's reference data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, insert, select, update

from mileage.monitors._registry import get_monitor, get_suite, performance_statistics
from mileage.monitors.alerts._plans import (
    SUGGESTION_KINDS,
    Remedy,
    SuggestContext,
    WarmStarts,
    json_diff,
    remedies_for,
    yaml_diff,
)
from mileage.monitors.alerts._policy import AlertOptions, slo_state
from mileage.monitors.checks._check import MonitorConfig
from mileage.monitors.checks._sources import read_frame
from mileage.platform.store import TraceStore, utcnow
from mileage.platform.store import schema as t

log = logging.getLogger(__name__)


class WarmStartProvider(Protocol):
    """Ranks configurations for a pipeline's data (the meta-learner, or a test double)."""

    def __call__(self, store: TraceStore, config: MonitorConfig, k: int) -> WarmStarts:
        """``k`` configurations for the pipeline's reference data."""
        ...


def metalearner_warm_starts(store: TraceStore, config: MonitorConfig, k: int) -> WarmStarts:
    """Warm starts from the meta-learner's newest model in the trace store, when it exists.

    Degrades to an explanatory note (never an error) when no model has been trained or the
    reference has no labels: a retrain suggestion is useful without warm starts.
    """
    from mileage.metalearner import metafeatures
    from mileage.metalearner.warmstart import load_warmstart, recommend

    try:
        loaded = load_warmstart(store)
        reference = read_frame(config.reference_uri, what="reference")
        label = config.label_column
        if label not in reference.columns:
            return WarmStarts([], note=f"the reference has no label column {label!r}")
        drop = [c for c in config.excluded if c != label and c in reference.columns]
        if config.id_column in reference.columns:
            drop.append(str(config.id_column))
        features, problem = metafeatures.compute_meta_features(reference.drop(columns=drop), label)
        ranked = recommend(loaded, features, problem, k=k)
    except Exception as exc:  # optional enrichment: never let it break a suggestion
        log.warning("warm starts unavailable for %s: %s", config.name, exc)
        return WarmStarts([], note=f"warm starts unavailable: {type(exc).__name__}: {exc}"[:300])
    configurations = [r.to_dict() for r in ranked]
    return WarmStarts(
        configurations, source=f"mileage.metalearner.warmstart (model {loaded.model_id})"
    )


def no_warm_starts(store: TraceStore, config: MonitorConfig, k: int) -> WarmStarts:
    """A provider that offers none (benchmarks, or to switch the meta-learner off)."""
    return WarmStarts([], note="warm starts switched off")


# -- the engine ----------------------------------------------------------------------------


@dataclass
class SuggestReport:
    """What :meth:`SuggestionEngine.suggest` stored."""

    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    applied: list[int] = field(default_factory=list)
    primary: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def recipients_of(config: MonitorConfig) -> list[dict[str, Any]]:
    """Owner (everything), on-call (pages too), shadows (copies, never pages)."""
    out: list[dict[str, Any]] = [{"name": config.owner or "unassigned", "role": "owner"}]
    if config.on_call and config.on_call != config.owner:
        out.append({"name": config.on_call, "role": "on_call", "pages": True})
    out += [{"name": s, "role": "shadow", "copy": True} for s in config.shadows]
    return out


class SuggestionEngine:
    """Stores remedies for alerts as suggestions (the inbox) and runs allowed rollbacks.

    Args:
        store: The trace store.
        home: Mileage's home (retrain requests, new references, validation sets).
        warm_start: Provider of warm-started configurations for retrain suggestions.
        clock: Current time.
        k: Warm-started configurations per retrain suggestion.
    """

    def __init__(
        self,
        store: TraceStore,
        *,
        home: Path,
        warm_start: WarmStartProvider = metalearner_warm_starts,
        clock: Callable[[], datetime] = utcnow,
        k: int = 5,
    ) -> None:
        self.store, self.home, self.warm_start, self.clock, self.k = (
            store,
            home,
            warm_start,
            clock,
            k,
        )

    def context(self, pipeline: str) -> SuggestContext:
        record = get_monitor(self.store, pipeline)
        suite = get_suite(self.store, record.id)
        options = AlertOptions.from_dict(record.config.alerts)
        with self.store.connect() as conn:
            runs = [
                dict(r._mapping)
                for r in conn.execute(
                    select(
                        t.monitor_runs.c.id,
                        t.monitor_runs.c.batch_id,
                        t.monitor_runs.c.model_version,
                        t.monitor_runs.c.status,
                    )
                    .where(
                        t.monitor_runs.c.monitor_id == record.id, t.monitor_runs.c.kind == "check"
                    )
                    .order_by(t.monitor_runs.c.id.desc())
                    .limit(200)
                )
            ][::-1]
            open_alerts = [
                dict(r._mapping)
                for r in conn.execute(
                    select(t.alerts.c.kind).where(
                        t.alerts.c.monitor_id == record.id, t.alerts.c.status != "resolved"
                    )
                )
            ]
            slo = slo_state(conn, record.id, record.config, options, open_alerts)
            version_metrics = _version_metrics(conn, record.id, record.config)
        cache: list[WarmStarts] = []

        def warm() -> WarmStarts:
            if not cache:
                cache.append(self.warm_start(self.store, record.config, self.k))
            return cache[0]

        return SuggestContext(
            record=record,
            suite=suite["spec"],
            suite_version=int(suite["version"]),
            slo=slo,
            options=options,
            runs=runs,
            finding_evidence={},
            version_metrics=version_metrics,
            warm_starts=warm,
            home=self.home,
        )

    def suggest(self, pipeline: str, alert_ids: list[int]) -> SuggestReport:
        """Create or refresh the suggestions of ``alert_ids``; run allowed rollbacks."""
        report = SuggestReport()
        if not alert_ids:
            return report
        ctx = self.context(pipeline)
        with self.store.connect() as conn:
            alerts = [
                dict(r._mapping)
                for r in conn.execute(
                    select(t.alerts).where(t.alerts.c.id.in_(alert_ids)).order_by(t.alerts.c.id)
                )
            ]
            finding_ids = [
                int(c["finding_id"])
                for a in alerts
                for c in (a["evidence"] or {}).get("failed_checks", [])
            ]
            if finding_ids:
                ctx.finding_evidence = {
                    int(i): dict(ev or {})
                    for i, ev in conn.execute(
                        select(t.monitor_findings.c.id, t.monitor_findings.c.evidence).where(
                            t.monitor_findings.c.id.in_(finding_ids)
                        )
                    )
                }
        recipients = recipients_of(ctx.config)
        for alert in alerts:
            remedies = remedies_for(alert, ctx)
            with self.store.begin() as conn:
                ids = [
                    self._upsert(conn, alert, remedy, rank, recipients, report)
                    for rank, remedy in enumerate(remedies, start=1)
                ]
            if ids:
                report.primary[int(alert["id"])] = ids[0]
            for remedy, sid in zip(remedies, ids):
                if remedy.auto:
                    self._auto(sid, report)
        return report

    def _upsert(
        self,
        conn: Connection,
        alert: dict[str, Any],
        remedy: Remedy,
        rank: int,
        recipients: list[dict[str, Any]],
        report: SuggestReport,
    ) -> int:
        now = self.clock()
        content = {
            "rank": rank,
            "auto": remedy.auto,
            "title": remedy.title,
            "rationale": remedy.rationale,
            "expected_effect": remedy.expected_effect,
            "confidence": remedy.confidence,
            "evidence": remedy.evidence,
            "diff": remedy.diff,
            "diff_format": remedy.diff_format,
            "action": remedy.action,
            "owner": alert["owner"],
            "recipients": recipients,
            "model_version": alert["model_version"],
        }
        row = conn.execute(
            select(t.suggestions.c.id, t.suggestions.c.status).where(
                t.suggestions.c.alert_id == alert["id"], t.suggestions.c.kind == remedy.kind
            )
        ).first()
        if row is None:
            sid = int(
                conn.execute(
                    insert(t.suggestions)
                    .values(
                        alert_id=alert["id"],
                        monitor_id=alert["monitor_id"],
                        pipeline=alert["pipeline"],
                        kind=remedy.kind,
                        status="open",
                        created_at=now,
                        updated_at=now,
                        **content,
                    )
                    .returning(t.suggestions.c.id)
                ).scalar_one()
            )
            report.created.append(sid)
            return sid
        if row.status in ("open", "acknowledged"):
            conn.execute(
                update(t.suggestions)
                .where(t.suggestions.c.id == row.id)
                .values(updated_at=now, **content)
            )
            report.updated.append(int(row.id))
        return int(row.id)

    def _auto(self, suggestion_id: int, report: SuggestReport) -> None:
        from mileage.monitors.alerts._inbox import accept_suggestion
        from mileage.monitors.alerts._policy import POLICY

        try:
            outcome = accept_suggestion(
                self.store, suggestion_id, by=POLICY, home=self.home, clock=self.clock
            )
        except Exception as exc:  # an automatic rollback that fails stays a suggestion
            log.warning("automatic rollback of suggestion %d failed: %s", suggestion_id, exc)
            report.errors.append(f"suggestion {suggestion_id}: automatic rollback failed: {exc}")
            return
        if outcome.changed or not outcome.noop:
            report.applied.append(suggestion_id)


def _version_metrics(
    conn: Connection, monitor_id: int, config: MonitorConfig
) -> dict[str, tuple[float, int]]:
    """Mean final metric per model version, over the batches it scored."""
    metric = config.performance_options().metric
    checks = dict(
        conn.execute(
            select(t.monitor_runs.c.batch_id, t.monitor_runs.c.model_version).where(
                t.monitor_runs.c.monitor_id == monitor_id, t.monitor_runs.c.kind == "check"
            )
        ).all()
    )
    rows = performance_statistics(conn, monitor_id, (metric, "final"))
    per_run: dict[int, dict[str, Any]] = {}
    for run_id, batch, statistic, value in rows:
        per_run.setdefault(int(run_id), {"batch": batch})[statistic] = value
    latest: dict[str, float] = {}
    for _, stats in sorted(per_run.items()):
        if stats.get("final") == 1.0 and stats.get(metric) is not None:
            latest[stats["batch"]] = float(stats[metric])
    out: dict[str, list[float]] = {}
    for batch, value in latest.items():
        version = checks.get(batch)
        if version:
            out.setdefault(str(version), []).append(value)
    return {v: (sum(xs) / len(xs), len(xs)) for v, xs in out.items()}


__all__ = [
    "SUGGESTION_KINDS",
    "Remedy",
    "SuggestContext",
    "SuggestReport",
    "SuggestionEngine",
    "WarmStartProvider",
    "WarmStarts",
    "json_diff",
    "metalearner_warm_starts",
    "no_warm_starts",
    "recipients_of",
    "remedies_for",
    "yaml_diff",
]
