"""Benchmark: alert fatigue. How many notifications reach people, and does every fault still
reach its owner with the right remedy?

Every batch goes through the real path: ``check_batch`` (validation, drift, performance),
``save_report`` into a SQLite trace store, then ``respond`` (alert policy, suggestion engine,
routing). Notifications are the page and ticket messages routers send; info-level (demoted)
alerts only go to the inbox. The baseline is the naive policy: one notification per warning
or blocking finding, every batch.

Scenarios:

1. **Monitors benchmark, clean sequences** (real data): the clean batch sequences of
   ``benchmarks/monitor_faults.py`` (same generator, same draws), one pipeline per data set.
2. **Monitors benchmark, fault batches** (real data, injected faults): its fault batches,
   each checked on its own in a fresh pipeline, as that benchmark does.
3. **A week of daily batches, 20 pipelines** (real data; the fault schedule, release, label
   timing and on-call behaviour are SYNTHETIC): 4 pipelines per data set, 7 daily batches each,
   labels arriving one day after the predictions. Faults persist from a random onset day until
   fixed two days after someone accepts the suggestion (a rollback takes effect the next day;
   the simulated on-call handles pages the same day, tickets the next, inbox-only items two
   days later):
   the monitors benchmark's faults (same ``inject``), a bad model release (the training job
   multiplied the most important feature by 1000, so the served model mis-reads it), and a
   broken upstream join (four columns 60% null). Three pipelines have a harmless drift in
   their least important feature and a SYNTHETIC history of 8 drift alerts nobody acted on;
   three are clean. A simulated on-call accepts the suggestion of every alert raised by a
   fault and dismisses the rest. Half of the bad-release pipelines allow automatic rollback; a
   real MLflow registry (SQLite) holds each pipeline's versions and alias.

Run: ``python benchmarks/alert_fatigue.py`` (``--quick`` for a smoke run). Writes
``benchmarks/results/alert_fatigue.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, select

# The repository root, so that `python benchmarks/<name>.py` finds the `benchmarks` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, machine_line, table, write_results
from benchmarks.monitor_faults import (
    FAULTS,
    Setup,
    inject,
    load_datasets,
    prepare,
    sequences,
    with_predictions,
)
from mileage.monitors import check_batch
from mileage.monitors._registry import (
    MonitorRecord,
    add_monitor,
    drift_history,
    get_monitor,
    save_report,
)
from mileage.monitors._respond import respond
from mileage.monitors.alerts._inbox import accept_suggestion, dismiss_suggestion
from mileage.monitors.alerts._policy import POLICY, resolve_alert
from mileage.monitors.alerts._routing import Message, MlflowRouter
from mileage.monitors.alerts._suggest import no_warm_starts
from mileage.monitors.checks._check import judge_performance
from mileage.monitors.checks._drift import DriftOptions
from mileage.monitors.checks._findings import BatchReport, Severity
from mileage.monitors.checks._models import ResolvedModel
from mileage.monitors.checks._performance import compute_baseline
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t

#: The remedy each injected fault calls for.
EXPECTED = {
    "missing_column": "fix_upstream",
    "null_burst": "fix_upstream",
    "unit_change_x1000": "fix_upstream",
    "category_renamed": "fix_upstream",
    "stuck_constant": "fix_upstream",
    "covariate_shift": "retrain",
    "label_shift": "retrain",
    "label_shift_labelled": "retrain",
    "bad_release": "rollback",
    "upstream_join": "fix_upstream",
    "fan_out": "fix_upstream",  # duplicated rows come from the producer, not the model
    "retried_write": "fix_upstream",
    "benign_drift": "refresh_reference",
}
WEEK_FAULTS = (
    "missing_column",
    "null_burst",
    "unit_change_x1000",
    "category_renamed",
    "stuck_constant",
    "covariate_shift",
    "label_shift",
    "bad_release",
    "upstream_join",
)
#: The second fault of the pipelines that get two of a kind (a rollback policy each way).
SECOND_FAULTS = ("bad_release", "covariate_shift", "label_shift", "upstream_join", "null_burst")
QUICK_PLAN = (
    "bad_release",
    "bad_release",
    "unit_change_x1000",
    "covariate_shift",
    "upstream_join",
    "category_renamed",
    "label_shift",
    "clean",
    "benign_drift",
    "missing_column",
)
START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
#: Days between accepting a remedy and the fault being gone (SYNTHETIC on-call behaviour).
FIX_DAYS = 2
#: Days before the simulated on-call handles an alert of each level.
RESPONSE_DAYS = {"page": 0, "ticket": 1, "info": 2}


class Clock:
    """Simulated time, advanced by the replay."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Pager:
    """Stands in for a pager / ticket webhook: records what would ping people."""

    name = "pager"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sent: list[dict[str, Any]] = []

    def deliver(self, message: Message) -> str:
        if message.level == "info":
            return "skipped"
        self.sent.append(
            {
                "pipeline": message.config.name,
                "level": message.level,
                "alert": int(message.alert["id"]),
                "kind": message.suggestion["kind"],
                "at": self.clock(),
            }
        )
        return "delivered"


def naive_count(report: BatchReport) -> int:
    """One notification per warning or blocking finding."""
    return sum(1 for f in report.findings if f.severity >= Severity.WARNING)


@dataclass
class Ctx:
    store: TraceStore
    settings: Settings
    clock: Clock
    pager: Pager
    routers: list[Any]
    naive: Counter[str] = field(default_factory=Counter)


def register(ctx: Ctx, setup: Setup, name: str, **overrides: Any) -> MonitorRecord:
    config = dataclasses.replace(setup.config, name=name, owner=f"{name}-owner", **overrides)
    add_monitor(ctx.store, config, setup.suite, note="benchmark")
    return get_monitor(ctx.store, name)


def check(
    ctx: Ctx,
    record: MonitorRecord,
    setup: Setup,
    batch: pd.DataFrame,
    batch_id: str,
    *,
    scenario: str,
    version: str | None = None,
    labels: pd.DataFrame | None = None,
) -> tuple[BatchReport, pd.DataFrame | None]:
    """The runner's check of one batch: history from the store, report saved."""
    config = record.config
    if "__labels__" in batch.columns:  # monitor_faults' labelled label shift
        labels = pd.DataFrame({"row_id": batch["row_id"], config.label_column: batch["__labels__"]})
        batch = batch.drop(columns=["__labels__"])
        config = dataclasses.replace(config, id_column="row_id")
    history = drift_history(
        ctx.store, record.id, exclude_batch=batch_id, limit=DriftOptions().persistence - 1
    )
    model = (
        ResolvedModel(config.model_uri or "", config.model_uri or "", version) if version else None
    )
    report, predictions = check_batch(
        batch,
        reference=setup.ref_labelled,
        suite=setup.suite,
        config=config,
        batch_id=batch_id,
        pipeline=config.name,
        model=model,
        labels=labels,
        history=history,
    )
    save_report(ctx.store, record, report, kind="check", suite_version=1, started_at=ctx.clock())
    ctx.naive[scenario] += naive_count(report)
    return report, predictions


# -- scenarios 1 and 2: the monitors benchmark's sequences ---------------------------------


def replay_monitor_batches(
    ctx: Ctx, setups: list[Setup], args: argparse.Namespace
) -> dict[str, Any]:
    rng = np.random.default_rng(2026)  # monitor_faults' seed: the same batches
    faults: list[dict[str, Any]] = []
    clean_alerts = 0
    for setup in setups:
        clean = register(ctx, setup, f"{setup.ds.name}-clean")
        n = 0
        for kind, fault, batch, expected in sequences(setup, args, rng):
            if kind == "clean":
                ctx.clock.now += timedelta(days=1)
                check(
                    ctx,
                    clean,
                    setup,
                    with_predictions(setup.model, batch),
                    f"clean-{n:03d}",
                    scenario="clean",
                )
                response = respond(
                    ctx.store,
                    clean.config.name,
                    settings=ctx.settings,
                    routers=ctx.routers,
                    warm_start=no_warm_starts,
                    clock=ctx.clock,
                    sleep=lambda s: None,
                )
                clean_alerts += len(response.alerts.opened)
                n += 1
            elif kind == "fault":
                assert fault is not None
                faults.append(fault_batch(ctx, setup, fault, batch, expected, len(faults)))
        print(f"  {setup.ds.name}: replayed", file=sys.stderr)
    return {"faults": faults, "clean_alerts": clean_alerts}


def _fault_alert(alerts: list[dict[str, Any]], expected: str | None) -> dict[str, Any] | None:
    named = [a for a in alerts if expected and expected in (a["columns"] or [])]
    pool = named or alerts
    order = {"page": 0, "ticket": 1, "info": 2}
    return min(pool, key=lambda a: (order[a["level"]], a["id"])) if pool else None


def _alerts(ctx: Ctx, pipeline: str) -> list[dict[str, Any]]:
    with ctx.store.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(
                select(t.alerts).where(t.alerts.c.pipeline == pipeline).order_by(t.alerts.c.id)
            )
        ]


def _primary(ctx: Ctx, alert_id: int) -> dict[str, Any] | None:
    with ctx.store.connect() as conn:
        row = conn.execute(
            select(t.suggestions).where(
                t.suggestions.c.alert_id == alert_id, t.suggestions.c.rank == 1
            )
        ).first()
    return dict(row._mapping) if row else None


def _inbox_delivered(ctx: Ctx, suggestion_id: int) -> bool:
    with ctx.store.connect() as conn:
        return bool(
            conn.execute(
                select(t.suggestion_deliveries.c.id).where(
                    t.suggestion_deliveries.c.suggestion_id == suggestion_id,
                    t.suggestion_deliveries.c.router == "inbox",
                    t.suggestion_deliveries.c.status == "delivered",
                )
            ).first()
        )


def fault_batch(
    ctx: Ctx, setup: Setup, fault: str, batch: pd.DataFrame, expected: str | None, i: int
) -> dict[str, Any]:
    """One fault batch checked on its own: does it reach its owner, with which remedy?"""
    record = register(ctx, setup, f"{setup.ds.name}-fault-{i:03d}")
    ctx.clock.now += timedelta(hours=1)
    report, _ = check(
        ctx,
        record,
        setup,
        with_predictions(setup.model, batch),
        f"fault-{i:03d}",
        scenario="faults",
    )
    sent_before = len(ctx.pager.sent)
    response = respond(
        ctx.store,
        record.config.name,
        settings=ctx.settings,
        routers=ctx.routers,
        warm_start=no_warm_starts,
        clock=ctx.clock,
        sleep=lambda s: None,
    )
    alerts = _alerts(ctx, record.config.name)
    alert = _fault_alert(alerts, expected)
    primary = _primary(ctx, int(alert["id"])) if alert else None
    return {
        "scenario": "faults",
        "dataset": setup.ds.name,
        "fault": fault,
        "expected_column": expected,
        "naive": naive_count(report),
        "detected": report.worst is not None and report.worst >= Severity.WARNING,
        "alerts": len(alerts),
        "notifications": len(ctx.pager.sent) - sent_before,
        "level": alert["level"] if alert else None,
        "paged": any(a["level"] == "page" for a in alerts),
        "reached_owner_same_cycle": bool(primary and _inbox_delivered(ctx, int(primary["id"]))),
        "first_page_days": 0 if any(a["level"] == "page" for a in alerts) else None,
        "suggestion": primary["kind"] if primary else None,
        "expected_suggestion": EXPECTED[fault],
        "alert_kind": alert["kind"] if alert else None,
        "respond": response.to_dict(),
    }


# -- scenario 3: a week of daily batches ---------------------------------------------------


@dataclass
class WeekPipe:
    name: str
    setup: Setup
    record: MonitorRecord
    role: str  # a fault name, "clean" or "benign_drift"
    onset: int | None
    seed: int
    pool: pd.DataFrame
    bad_model: Any = None
    auto_rollback: bool = False
    fixed_from: int | None = None
    predictions: dict[int, pd.DataFrame] = field(default_factory=dict)
    labels: list[pd.DataFrame] = field(default_factory=list)
    events: dict[str, Any] = field(default_factory=dict)


class BadModel:
    """The model a buggy training job produces: it learnt ``feature`` x1000, serving sends x1."""

    def __init__(self, setup: Setup) -> None:
        from benchmarks.monitor_faults import Model

        train = setup.ref_raw.copy()
        train[setup.important] = train[setup.important] * 1000
        self.model = Model(setup.ds, train)

    def predict(self, frame: pd.DataFrame) -> np.ndarray | None:
        return self.model.predict(frame)


def _slo(setup: Setup, pool_scored: pd.DataFrame) -> tuple[dict[str, Any], float]:
    metric = setup.config.performance_options().metric
    base = compute_baseline(
        pool_scored,
        label_column=setup.ds.target,
        prediction_column="prediction",
        metric=metric,
        slices=[],
    )
    assert base.overall is not None
    if metric == "accuracy":
        p = base.overall
        return base.to_dict(), round(p - max(0.05, 3 * (p * (1 - p) / 200) ** 0.5), 4)
    return base.to_dict(), round(base.overall * 1.3, 4)


def _registry(workdir: Path) -> Any:
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from mlflow import MlflowClient

    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    return uri, MlflowClient(tracking_uri=uri, registry_uri=uri)


def _synthetic_history(ctx: Ctx, record: MonitorRecord, n: int = 8) -> None:
    """SYNTHETIC: n earlier drift alerts of this pipeline that went quiet untouched."""
    then = START - timedelta(days=60)
    with ctx.store.begin() as conn:
        for i in range(n):
            at = then + timedelta(days=6 * i)
            conn.execute(
                insert(t.alerts).values(
                    monitor_id=record.id,
                    pipeline=record.config.name,
                    key="drift",
                    kind="drift",
                    level="ticket",
                    policy_level="ticket",
                    status="resolved",
                    demoted=False,
                    slo_breached=False,
                    owner=record.config.owner or "",
                    model_version=None,
                    columns=[],
                    title="SYNTHETIC history: drift nobody acted on",
                    evidence={"batches": [], "failed_checks": [], "synthetic": True},
                    first_batch=f"history-{i}",
                    last_batch=f"history-{i}",
                    batches=1,
                    quiet_batches=2,
                    n_findings=1,
                    opened_at=at,
                    updated_at=at,
                    resolved_at=at + timedelta(days=2),
                    resolved_by=POLICY,
                )
            )


def week(ctx: Ctx, setups: list[Setup], args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    uri, client = _registry(workdir)
    roles: list[str] = []
    faults = list(WEEK_FAULTS)
    pipes: list[WeekPipe] = []
    plan = [*faults, *SECOND_FAULTS, *["clean"] * 3, *["benign_drift"] * 3]
    if args.week_pipelines < len(plan):  # a smaller week keeps a bit of everything
        plan = list(QUICK_PLAN[: args.week_pipelines])
    bad_releases = 0
    for i, role in enumerate(plan):
        setup = setups[i % len(setups)]
        if role == "category_renamed" and not setup.ds.categorical:
            setup = next(s for s in setups if s.ds.categorical)
        name = f"week-{i:02d}-{setup.ds.name}"
        pool = setup.pool.assign(row_id=np.arange(len(setup.pool)))
        pool_scored = with_predictions(
            setup.model, setup.pool.drop(columns=[setup.ds.target])
        ).assign(**{setup.ds.target: setup.pool[setup.ds.target]})
        baseline, slo = _slo(setup, pool_scored)
        client.create_registered_model(name)
        client.create_model_version(name, source=f"file://{workdir}/models/{name}/1")
        client.set_registered_model_alias(name, "champion", "1")
        auto = False
        bad = None
        if role == "bad_release":
            client.create_model_version(name, source=f"file://{workdir}/models/{name}/2")
            bad = BadModel(setup)
            auto = bad_releases % 2 == 0
            bad_releases += 1
        record = register(
            ctx,
            setup,
            name,
            model_uri=f"models:/{name}@champion",
            tracking_uri=uri,
            id_column="uid",
            timestamp_column="scored_at",
            label_timestamp_column="labelled_at",
            performance={**setup.config.performance, "slo": slo},
            baseline=baseline,
            rollback_policy="auto" if auto else "manual",
        )
        if role == "benign_drift":
            _synthetic_history(ctx, record)
        onset = int(rng.integers(1, 5)) if role != "clean" else None
        if role == "benign_drift":
            onset = 1
        pipes.append(WeekPipe(name, setup, record, role, onset, 1000 + i, pool, bad, auto))
        roles.append(role)
    for day in range(args.days):
        ctx.clock.now = START + timedelta(days=day)
        for pipe in pipes:
            week_day(ctx, pipe, day, client, rng)
    out = []
    for pipe in pipes:
        out.append(summarise_pipe(ctx, pipe))
    return {"pipelines": out, "roles": Counter(roles)}


def _serving(client: Any, pipe: WeekPipe) -> str:
    return str(client.get_model_version_by_alias(pipe.name, "champion").version)


def _week_batch(pipe: WeekPipe, day: int, rng: np.random.Generator) -> pd.DataFrame:
    setup, pool = pipe.setup, pipe.pool
    lo, hi = min(200, len(pool) // 2), min(1000, len(pool))
    m = int(rng.integers(lo, hi + 1))
    idx = rng.choice(len(pool), size=m, replace=m > len(pool))
    batch = pool.iloc[idx].drop(columns=[setup.ds.target]).reset_index(drop=True)
    active = (
        pipe.onset is not None
        and day >= pipe.onset
        and (pipe.fixed_from is None or day < pipe.fixed_from)
    )
    role = pipe.role
    if active and role in FAULTS:
        fault_rng = np.random.default_rng(pipe.seed)  # the same column every day
        injected = inject(role, batch, setup.ds, pool, fault_rng, setup.numeric, setup.important, m)
        if injected is not None:
            batch = injected[0]
            pipe.events.setdefault("expected_column", injected[1])
    elif active and role == "upstream_join":
        cols = list(
            np.random.default_rng(pipe.seed).choice(
                setup.ds.features, size=min(4, len(setup.ds.features)), replace=False
            )
        )
        rows = rng.random(len(batch)) < 0.6
        for c in cols:
            batch.loc[rows, c] = np.nan
        pipe.events.setdefault("expected_column", cols[0])
    elif active and role == "benign_drift":
        least = _least_important(setup)
        std = float(setup.ref_raw[least].std())
        batch[least] = batch[least] + 0.6 * std
        pipe.events.setdefault("expected_column", least)
    elif role == "bad_release":
        pipe.events.setdefault("expected_column", "prediction")
    return batch


_LEAST: dict[str, str] = {}


def _least_important(setup: Setup) -> str:
    """The numeric feature the model relies on least (a harmless place for drift)."""
    from sklearn.inspection import permutation_importance

    if setup.ds.name not in _LEAST:
        feats = setup.model.features
        imp = permutation_importance(
            setup.model.pipe,
            setup.pool[feats],
            setup.pool[setup.ds.target],
            n_repeats=3,
            random_state=0,
        )
        ranked = sorted(zip(feats, imp.importances_mean), key=lambda kv: kv[1])
        _LEAST[setup.ds.name] = next(c for c, _ in ranked if c in setup.numeric)
    return _LEAST[setup.ds.name]


def week_day(ctx: Ctx, pipe: WeekPipe, day: int, client: Any, rng: np.random.Generator) -> None:
    setup = pipe.setup
    target = setup.ds.target
    if pipe.role == "bad_release" and pipe.onset == day:
        client.set_registered_model_alias(pipe.name, "champion", "2")  # the release
    version = _serving(client, pipe)
    batch = _week_batch(pipe, day, rng)
    uids = day * 1_000_000 + batch["row_id"].to_numpy()
    truth = pipe.pool[target].to_numpy()[batch["row_id"].to_numpy()]
    batch = batch.drop(columns=["row_id"]).assign(uid=uids, scored_at=ctx.clock())
    model = pipe.bad_model if version == "2" and pipe.bad_model is not None else setup.model
    scored = with_predictions(model, batch)
    _, predictions = check(
        ctx,
        pipe.record,
        setup,
        scored,
        f"day-{day}",
        scenario="week",
        version=f"{pipe.name}/{version}",
    )
    if predictions is not None:
        pipe.predictions[day] = predictions
    pipe.labels.append(
        pd.DataFrame({"uid": uids, target: truth, "labelled_at": ctx.clock() + timedelta(days=1)})
    )
    if day - 1 in pipe.predictions:  # yesterday's labels arrived: judge yesterday's batch
        labels = pd.concat(pipe.labels, ignore_index=True)
        report = BatchReport(pipe.name, f"day-{day - 1}", None, len(pipe.predictions[day - 1]), 0)
        judge_performance(
            pipe.predictions[day - 1],
            labels,
            report,
            config=pipe.record.config,
            reference=setup.ref_labelled,
            where=f"monitor {pipe.name!r} batch day-{day - 1}",
            as_of=ctx.clock(),
        )
        report.sort()
        save_report(
            ctx.store,
            pipe.record,
            report,
            kind="performance",
            suite_version=1,
            started_at=ctx.clock(),
        )
        ctx.naive["week"] += naive_count(report)
    sent_before = len(ctx.pager.sent)
    response = respond(
        ctx.store,
        pipe.name,
        settings=ctx.settings,
        routers=ctx.routers,
        warm_start=no_warm_starts,
        clock=ctx.clock,
        sleep=lambda s: None,
    )
    if response.suggestions.applied:
        pipe.events.setdefault("auto_rollback_day", day)
    pipe.events.setdefault("sent", []).extend(ctx.pager.sent[sent_before:])
    queue = pipe.events.setdefault("queue", {})
    for n in response.alerts.notifications:
        due = day + RESPONSE_DAYS[n.level]
        queue[n.alert_id] = min(queue.get(n.alert_id, due), due)
    act(ctx, pipe, day, [a for a, due in queue.items() if due <= day])


def act(ctx: Ctx, pipe: WeekPipe, day: int, due: list[int]) -> None:
    """SYNTHETIC on-call: pages are handled the same day, tickets the next, inbox-only items
    two days later; the remedy of an alert a fault raised is accepted, the rest dismissed."""
    faulty = (
        pipe.onset is not None and day >= pipe.onset and pipe.role not in ("clean", "benign_drift")
    )
    for alert_id in due:
        pipe.events["queue"].pop(alert_id, None)
        primary = _primary(ctx, alert_id)
        if primary is None or primary["status"] not in ("open", "acknowledged"):
            continue
        with ctx.store.connect() as conn:
            opened = conn.execute(
                select(t.alerts.c.first_batch, t.alerts.c.status).where(t.alerts.c.id == alert_id)
            ).one()
        if opened.status == "resolved":
            continue
        if faulty:
            if primary["kind"] in ("fix_upstream", "retrain", "rollback"):
                accept_suggestion(
                    ctx.store,
                    int(primary["id"]),
                    by="oncall",
                    home=ctx.settings.home,
                    clock=ctx.clock,
                )
            else:
                resolve_alert(ctx.store, alert_id, by="oncall", note="handled", clock=ctx.clock)
            pipe.events.setdefault("accepted_day", day)
            if pipe.fixed_from is None and pipe.role != "bad_release":
                pipe.fixed_from = day + FIX_DAYS
        else:
            dismiss_suggestion(
                ctx.store,
                int(primary["id"]),
                by="oncall",
                reason="not a real problem",
                clock=ctx.clock,
            )


def summarise_pipe(ctx: Ctx, pipe: WeekPipe) -> dict[str, Any]:
    alerts = _alerts(ctx, pipe.name)
    alerts = [a for a in alerts if not (a["evidence"] or {}).get("synthetic")]
    onset = pipe.onset
    fault_alerts = [
        a for a in alerts if onset is not None and int(a["first_batch"].split("-")[1]) >= onset
    ]
    expected = pipe.events.get("expected_column")
    first = _fault_alert(fault_alerts, expected) if fault_alerts else None
    primary = _primary(ctx, int(first["id"])) if first else None
    sent = pipe.events.get("sent", [])
    pages = [s for s in sent if s["level"] == "page"]
    fault_sent = [s for s in sent if s["alert"] in {a["id"] for a in fault_alerts}]
    first_page = min(
        (s["at"] for s in pages if s["alert"] in {a["id"] for a in fault_alerts}), default=None
    )
    first_note = min((s["at"] for s in fault_sent), default=None)
    reached_day = None
    if first is not None:
        opened = first["opened_at"]
        opened = opened if opened.tzinfo else opened.replace(tzinfo=UTC)
        reached_day = (opened - START).days
    with ctx.store.connect() as conn:
        demoted = conn.execute(
            select(t.alerts.c.id).where(
                t.alerts.c.pipeline == pipe.name, t.alerts.c.demoted.is_(True)
            )
        ).all()
    return {
        "scenario": "week",
        "pipeline": pipe.name,
        "dataset": pipe.setup.ds.name,
        "fault": pipe.role,
        "onset_day": onset,
        "expected_column": expected,
        "alerts": len(alerts),
        "fault_alerts": len(fault_alerts),
        "notifications": len(sent),
        "pages": len(pages),
        "tickets": sum(1 for s in sent if s["level"] == "ticket"),
        "false_notifications": len(sent) - len(fault_sent),
        "detected": first is not None,
        "reached_owner_same_cycle": bool(
            first is not None
            and reached_day == onset
            and primary
            and _inbox_delivered(ctx, int(primary["id"]))
        ),
        "reached_owner_day": None if reached_day is None or onset is None else reached_day - onset,
        "first_notification_days": None
        if first_note is None or onset is None
        else (first_note - (START + timedelta(days=onset))).days,
        "first_page_days": None
        if first_page is None or onset is None
        else (first_page - (START + timedelta(days=onset))).days,
        "paged": first_page is not None,
        "alert_kind": first["kind"] if first else None,
        "suggestion": primary["kind"] if primary else None,
        "expected_suggestion": EXPECTED.get(pipe.role),
        "auto_rollback": pipe.auto_rollback,
        "auto_rollback_day": pipe.events.get("auto_rollback_day"),
        "demoted_alerts": len(demoted),
    }


# -- report --------------------------------------------------------------------------------


def summary(ctx: Ctx, part12: dict[str, Any], part3: dict[str, Any]) -> dict[str, Any]:
    sent = ctx.pager.sent
    by_scenario: dict[str, Counter[str]] = defaultdict(Counter)
    for s in sent:
        p = s["pipeline"]
        scenario = "week" if p.startswith("week-") else ("faults" if "-fault-" in p else "clean")
        by_scenario[scenario][s["level"]] += 1
    rows: dict[str, dict[str, Any]] = {}
    for scenario in ("clean", "faults", "week"):
        c = by_scenario[scenario]
        ours = c["page"] + c["ticket"]
        rows[scenario] = {
            "naive_notifications": ctx.naive[scenario],
            "pages": c["page"],
            "tickets": c["ticket"],
            "notifications": ours,
            "reduction": ctx.naive[scenario] / ours if ours else None,
        }
    total_naive = sum(ctx.naive.values())
    total = sum(r["notifications"] for r in rows.values())
    rows["all"] = {
        "naive_notifications": total_naive,
        "pages": sum(r["pages"] for r in rows.values()),
        "tickets": sum(r["tickets"] for r in rows.values()),
        "notifications": total,
        "reduction": total_naive / total if total else None,
    }
    faults = [f for f in part12["faults"]] + [
        p for p in part3["pipelines"] if p["fault"] not in ("clean",)
    ]
    per_fault: dict[str, dict[str, Any]] = {}
    for f in faults:
        key = f"{f['scenario']}:{f['fault']}"
        per_fault.setdefault(key, {"items": []})["items"].append(f)
    fault_rows = {}
    for key, entry in per_fault.items():
        items = entry["items"]
        detected = [i for i in items if i["detected"]]
        pages = [i["first_page_days"] for i in items if i["first_page_days"] is not None]
        fault_rows[key] = {
            "n": len(items),
            "detected": len(detected),
            "reached_same_cycle": sum(1 for i in items if i["reached_owner_same_cycle"]),
            "paged": sum(1 for i in items if i["paged"]),
            "median_days_to_first_page": statistics.median(pages) if pages else None,
            "suggestion_correct": sum(
                1 for i in detected if i["suggestion"] == i["expected_suggestion"]
            ),
            "expected": items[0]["expected_suggestion"],
            "suggestions": dict(Counter(str(i["suggestion"]) for i in detected)),
        }
    injected = [f for f in faults if f["fault"] != "benign_drift"]
    detected = [f for f in injected if f["detected"]]
    return {
        "notifications": rows,
        "faults": fault_rows,
        "injected_faults": len(injected),
        "detected": len(detected),
        "reached_owner_same_cycle": sum(1 for f in injected if f["reached_owner_same_cycle"]),
        "reached_owner_same_cycle_share_of_detected": (
            sum(1 for f in detected if f["reached_owner_same_cycle"]) / len(detected)
            if detected
            else None
        ),
        "paged_share": sum(1 for f in injected if f["paged"]) / len(injected) if injected else None,
        "suggestion_correct_share": (
            sum(1 for f in detected if f["suggestion"] == f["expected_suggestion"]) / len(detected)
            if detected
            else None
        ),
        "clean_sequence_alerts": part12["clean_alerts"],
        "week_false_notifications": sum(p["false_notifications"] for p in part3["pipelines"]),
        "week_demoted_alerts": sum(p["demoted_alerts"] for p in part3["pipelines"]),
        "auto_rollbacks": [
            p["auto_rollback_day"] for p in part3["pipelines"] if p["auto_rollback"]
        ],
    }


def tables(s: dict[str, Any]) -> str:
    names = {
        "clean": "monitors benchmark: clean sequences (real data)",
        "faults": "monitors benchmark: fault batches, each on its own (real data, injected faults)",
        "week": "a week of daily batches, 20 pipelines (real data, SYNTHETIC schedule and on-call)",
        "all": "all",
    }
    rows = []
    for key, r in s["notifications"].items():
        red = "-" if r["reduction"] is None else f"{r['reduction']:.1f}x"
        rows.append(
            [
                names[key],
                r["naive_notifications"],
                r["pages"],
                r["tickets"],
                r["notifications"],
                red,
            ]
        )
    one = table(
        [
            "scenario",
            "naive (1 per finding)",
            "ours: pages",
            "ours: tickets",
            "ours: notifications",
            "fewer",
        ],
        rows,
    )
    frows = []
    for key in sorted(s["faults"], key=lambda k: (k.split(":")[0] != "faults", k)):
        f = s["faults"][key]
        scenario, fault = key.split(":")
        med = (
            "-" if f["median_days_to_first_page"] is None else f"{f['median_days_to_first_page']:g}"
        )
        frows.append(
            [
                ("single batch" if scenario == "faults" else "week")
                + f": {fault.replace('_', ' ')}",
                f["n"],
                f["detected"],
                f"{f['reached_same_cycle']}/{f['detected']}",
                f["paged"],
                med,
                f"{f['suggestion_correct']}/{f['detected']}",
                f["expected"],
            ]
        )
    two = table(
        [
            "fault",
            "n",
            "detected",
            "reached owner same cycle",
            "paged",
            "days to 1st page (median)",
            "suggestion right",
            "expected",
        ],
        frows,
    )
    return one + "\n\n" + two


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="two small data sets, fewer batches (smoke run)"
    )
    parser.add_argument("--clean", type=int, default=30)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--week-pipelines", type=int, default=20)
    parser.add_argument("--datasets", nargs="*", default=None)
    args = parser.parse_args()
    args.benign, args.benign_rows = 20, 20_000  # drawn (to keep monitor_faults' draws), not checked
    if args.quick:
        args.clean, args.reps, args.days, args.week_pipelines = 2, 1, 3, 4
        args.datasets = args.datasets or ["cars"]  # the smallest
    info = machine()
    started = time.perf_counter()
    datasets = [d for d in load_datasets() if not args.datasets or d.name in args.datasets]
    setups = [prepare(d) for d in datasets]
    with tempfile.TemporaryDirectory(prefix="mileage-alert-fatigue-") as tmp:
        workdir = Path(tmp)
        store = TraceStore.open(f"sqlite:///{workdir / 'trace.db'}")
        clock = Clock()
        pager = Pager(clock)
        settings = Settings.load(home=workdir / "home", route_backoff_seconds=0, routers=[])
        ctx = Ctx(store, settings, clock, pager, [MlflowRouter(settings), pager])
        try:
            print("replaying the monitors benchmark's batches ...", file=sys.stderr)
            part12 = replay_monitor_batches(ctx, setups, args)
            print("a week of daily batches ...", file=sys.stderr)
            part3 = week(ctx, setups, args, workdir)
            result = summary(ctx, part12, part3)
        finally:
            store.close()
    seconds = round(time.perf_counter() - started, 1)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    payload = {
        "benchmark": "alert_fatigue",
        "machine": info,
        "settings": {k: v for k, v in vars(args).items()},
        "summary": result,
        "seconds": seconds,
        "records": {"faults": part12["faults"], "week": part3["pipelines"]},
    }
    path = write_results("alert_fatigue", payload, quick=args.quick)
    print(machine_line(info))
    print(f"data: {', '.join(d.name for d in datasets)} (real, from installed packages)")
    print(tables(result))
    n = result
    print()
    print(
        f"injected faults: {n['injected_faults']}, detected {n['detected']}, reached their owner in "
        f"the same cycle {n['reached_owner_same_cycle']} ({n['reached_owner_same_cycle_share_of_detected']:.0%} of detected); "
        f"paged {n['paged_share']:.0%}; suggestion kind right {n['suggestion_correct_share']:.0%} of detected; "
        f"week: {n['week_false_notifications']} notifications not caused by a fault, "
        f"{n['week_demoted_alerts']} demoted alerts (inbox only), automatic rollbacks on day(s) {n['auto_rollbacks']}"
    )
    print(f"written {path} in {seconds} s")


if __name__ == "__main__":
    main()
