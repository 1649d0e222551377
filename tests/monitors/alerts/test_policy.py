"""The alert policy on a real trace store: findings stored as the runner stores them, read
back by the policy with an injected clock. Deduplication across batches, grouping by root
cause, persistence before paging, resolution, demotion, history and the cursor."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from mileage.monitors import MonitorConfig
from mileage.monitors._registry import MonitorRecord, add_monitor, get_monitor, save_report
from mileage.monitors.alerts import Alert
from mileage.monitors.alerts._inbox import dismiss_suggestion
from mileage.monitors.alerts._policy import (
    AlertPolicy,
    acknowledge_alert,
    actionability_table,
    get_alert,
    list_alerts,
    resolve_alert,
)
from mileage.monitors.alerts._suggest import SuggestionEngine, no_warm_starts
from mileage.monitors.checks._findings import BatchReport, Finding, Severity
from mileage.monitors.checks._suite import infer_suite
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t

BOUNDS = "expect_column_values_to_be_between"
DOMAIN = "expect_column_values_to_be_in_set"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, hours: float = 24) -> None:
        self.now += timedelta(hours=hours)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _monitor(store: TraceStore, cancer: Any, name: str = "cancer", **kw: Any) -> MonitorRecord:
    config = MonitorConfig(
        name=name,
        reference_uri="ref.parquet",
        owner="oncology-ml",
        id_column="id",
        performance={"slo": 0.9, **kw.pop("performance", {})},
        **kw,
    )
    suite = infer_suite(cancer.reference, id_column="id", exclude=("label", "prediction"))
    add_monitor(store, config, suite)
    return get_monitor(store, name)


def bounds(column: str, severity: Severity = Severity.BLOCKING) -> Finding:
    return Finding(
        "validation",
        BOUNDS,
        column,
        "unexpected_fraction",
        1.0,
        0.0,
        severity,
        f"column {column!r}: values outside the reference range",
        {"values": [14000.0], "observed": {"min": 8000.0, "max": 24000.0}},
    )


def drift(column: str, effect: float = 0.4, severity: Severity = Severity.WARNING) -> Finding:
    return Finding(
        "drift",
        "value_drift",
        column,
        "wasserstein_normed",
        effect,
        0.1,
        severity,
        f"column {column!r} drifted",
        {"reference": {"mean": 1.0}, "batch": {"mean": 2.0}},
    )


def slo_breach(value: float = 0.8) -> Finding:
    return Finding(
        "performance", "slo", None, "accuracy", value, 0.9, Severity.BLOCKING, "SLO broken"
    )


def run(
    store: TraceStore,
    record: MonitorRecord,
    batch: str,
    findings: list[Finding],
    *,
    kind: str = "check",
    version: str | None = "cancer/1",
    stats: dict[str, float] | None = None,
    columns: tuple[str, ...] = ("mean_radius", "mean_texture"),
) -> int:
    """Store one run the way the monitor runner does."""
    report = BatchReport(record.config.name, batch, version if kind == "check" else None, 100, 9)
    report.add(findings)
    if kind == "check":
        for column in columns:  # every check measures every column, failing or not
            report.stat("drift", column, "drift_level", 0)
    for name, value in (stats or {}).items():
        report.stat("performance", None, name, value)
    run_id = save_report(
        store,
        record,
        report,
        kind=kind,
        suite_version=1,
        started_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    assert run_id is not None
    return run_id


def alerts_of(store: TraceStore) -> list[Alert]:
    return list_alerts(store, include_closed=True)


def test_repeats_are_deduplicated_and_one_cause_is_one_alert(
    any_store: TraceStore, cancer, clock: Clock
) -> None:
    record = _monitor(any_store, cancer)
    policy = AlertPolicy(any_store, clock=clock)
    naive = 0
    for day in range(3):
        findings = [
            bounds("mean_radius"),
            drift("mean_radius", 3.2, Severity.BLOCKING if day == 2 else Severity.WARNING),
            drift("prediction", 0.3),
        ]
        naive += len(findings)
        run(any_store, record, f"2026-11-{20 + day}", findings)
        report = policy.process("cancer")
        clock.tick()
        if day == 0:
            assert [(n.kind, n.level, n.event) for n in report.notifications] == [
                ("broken_column", "page", "opened")
            ]
        else:
            assert report.notifications == [] and report.updated
    # the labels of the first batch arrive: its SLO breach belongs to the broken column
    run(
        any_store,
        record,
        "2026-11-20",
        [slo_breach()],
        kind="performance",
        stats={"final": 1.0, "accuracy": 0.8},
    )
    assert policy.process("cancer").notifications == []
    (alert,) = alerts_of(any_store)
    assert alert.kind == "broken_column" and alert.level == "page"
    assert alert.columns == ["mean_radius"] and alert.batches == 3
    assert alert.slo_breached is True and alert.owner == "oncology-ml"
    assert "mean_radius" in alert.title and "100% of values outside" in alert.title
    with any_store.connect() as conn:
        linked = conn.execute(select(func.count()).select_from(t.alert_findings)).scalar_one()
    assert linked == naive + 1  # every finding, the SLO breach included, explains this alert
    checks = {(c["check_kind"], c["column"]) for c in alert.evidence["failed_checks"]}
    assert checks == {
        ("validation", "mean_radius"),
        ("drift", "mean_radius"),
        ("drift", "prediction"),
        ("performance", None),
    }


def test_a_new_broken_column_is_a_new_alert_and_overlap_joins(
    sqlite_store: TraceStore, cancer, clock: Clock
) -> None:
    record = _monitor(sqlite_store, cancer)
    policy = AlertPolicy(sqlite_store, clock=clock)
    run(sqlite_store, record, "b1", [bounds("mean_radius")])
    policy.process("cancer")
    run(sqlite_store, record, "b2", [bounds("mean_radius"), bounds("worst_area")])
    assert policy.process("cancer").notifications == []  # overlaps the open alert: joins it
    run(sqlite_store, record, "b3", [bounds("mean_radius"), bounds("mean_texture")])
    policy.process("cancer")
    run(sqlite_store, record, "b4", [bounds("concavity_error")])
    report = policy.process("cancer")
    assert [n.kind for n in report.notifications] == ["broken_column"]
    alerts = sorted(alerts_of(sqlite_store), key=lambda a: a.id)
    assert [a.columns for a in alerts] == [
        ["mean_radius", "mean_texture", "worst_area"],
        ["concavity_error"],
    ]


def test_drift_pages_only_when_it_persists_and_the_slo_is_at_risk(
    sqlite_store: TraceStore, cancer, clock: Clock
) -> None:
    fine = _monitor(sqlite_store, cancer, name="fine")
    risky = _monitor(sqlite_store, cancer, name="risky")
    policy = AlertPolicy(sqlite_store, clock=clock)
    levels: dict[str, list[str]] = {"fine": [], "risky": []}
    for day in range(5):
        for record, accuracy in ((fine, 0.97), (risky, 0.905)):
            batch = f"d{day}"
            run(sqlite_store, record, batch, [drift("mean_texture")])
            run(
                sqlite_store,
                record,
                batch,
                [],
                kind="performance",
                stats={"final": 1.0, "accuracy": accuracy, "label_coverage": 1.0},
            )
            policy.process(record.config.name)
            (alert,) = list_alerts(sqlite_store, pipeline=record.config.name)
            levels[record.config.name].append(alert.level)
        clock.tick()
    assert levels["fine"] == ["ticket"] * 5  # performance is fine: never a page
    assert levels["risky"] == ["ticket", "ticket", "page", "page", "page"]
    (alert,) = list_alerts(sqlite_store, pipeline="risky")
    events = [e.event for e in get_alert(sqlite_store, alert.id).events]
    assert events == ["opened", "escalated"]


def test_alerts_resolve_after_quiet_batches_and_history_has_times(
    sqlite_store: TraceStore, cancer, clock: Clock
) -> None:
    record = _monitor(sqlite_store, cancer)
    policy = AlertPolicy(sqlite_store, clock=clock)
    run(sqlite_store, record, "b1", [drift("mean_texture")])
    policy.process("cancer")
    (alert,) = list_alerts(sqlite_store)
    clock.tick(1)
    assert acknowledge_alert(sqlite_store, alert.id, by="ana", clock=clock)
    assert not acknowledge_alert(sqlite_store, alert.id, by="ana", clock=clock)
    for batch in ("b2", "b3"):
        clock.tick()
        run(sqlite_store, record, batch, [])  # checked, nothing found
        report = policy.process("cancer")
    assert report.resolved == [alert.id]
    assert list_alerts(sqlite_store) == []  # nothing open ...
    history = get_alert(sqlite_store, alert.id)  # ... but nothing is lost
    assert history.status == "resolved" and history.resolved_by == "mileage"
    events = [(e.event, e.actor) for e in history.events]
    assert events == [("opened", "mileage"), ("acknowledged", "ana"), ("resolved", "mileage")]
    times = [e.at.replace(tzinfo=UTC) for e in history.events]
    assert times == sorted(times) and times[0] == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    # a performance-only run of an old batch says nothing about drift: no reopening
    assert not resolve_alert(sqlite_store, alert.id, by="ana")


def test_kinds_nobody_acts_on_are_demoted_never_muted(
    sqlite_store: TraceStore, cancer, clock: Clock, tmp_path
) -> None:
    record = _monitor(sqlite_store, cancer, performance={"slo": None})
    policy = AlertPolicy(sqlite_store, clock=clock)
    engine = SuggestionEngine(sqlite_store, home=tmp_path, warm_start=no_warm_starts, clock=clock)
    for i in range(5):  # five drift alerts, each dismissed by the on-call
        run(sqlite_store, record, f"a{i}", [drift("mean_texture")])
        report = policy.process("cancer")
        suggested = engine.suggest("cancer", report.touched)
        dismiss_suggestion(sqlite_store, suggested.primary[report.opened[0]], by="ana")
        for j in range(2):
            run(sqlite_store, record, f"a{i}-quiet{j}", [])
            policy.process("cancer")
        clock.tick()
    run(sqlite_store, record, "b", [drift("mean_texture"), bounds("mean_radius")])
    report = policy.process("cancer")
    levels = {n.kind: n.level for n in report.notifications}
    assert levels == {"drift": "info", "broken_column": "page"}  # only drift was ignored
    (demoted,) = list_alerts(sqlite_store, demoted_only=True)
    assert demoted.policy_level == "ticket" and demoted.status == "open"
    event = next(e for e in get_alert(sqlite_store, demoted.id).events if e.event == "demoted")
    assert event.detail["acted"] == 0 and event.detail["closed"] == 5
    table = {(r.pipeline, r.kind): r for r in actionability_table(sqlite_store)}
    assert table[("cancer", "drift")].demoted and table[("cancer", "drift")].ratio == 0


def test_slo_breaches_are_never_demoted(sqlite_store: TraceStore, cancer, clock: Clock) -> None:
    record = _monitor(sqlite_store, cancer)
    policy = AlertPolicy(sqlite_store, clock=clock)
    for i in range(6):
        run(sqlite_store, record, f"p{i}", [slo_breach()], kind="performance", stats={"final": 1.0})
        policy.process("cancer")
        (alert,) = list_alerts(sqlite_store)
        resolve_alert(sqlite_store, alert.id, by="mileage")  # went away, nobody acted
    run(sqlite_store, record, "p9", [slo_breach()], kind="performance", stats={"final": 1.0})
    (n,) = policy.process("cancer").notifications
    assert (n.kind, n.level) == ("slo_breach", "page")


def test_a_release_explains_prediction_drift_and_the_slo_breach(
    sqlite_store: TraceStore, cancer, clock: Clock
) -> None:
    record = _monitor(sqlite_store, cancer, model_uri="models:/cancer@champion")
    policy = AlertPolicy(sqlite_store, clock=clock)
    run(sqlite_store, record, "b1", [], version="cancer/1")
    run(sqlite_store, record, "b2", [], version="cancer/1")
    run(sqlite_store, record, "b3", [drift("prediction", 0.5)], version="cancer/2")
    (n,) = policy.process("cancer").notifications
    assert (n.kind, n.level) == ("model_release", "ticket")
    run(sqlite_store, record, "b3", [slo_breach(0.7)], kind="performance", stats={"final": 1.0})
    report = policy.process("cancer")
    assert [(x.kind, x.level, x.event) for x in report.notifications] == [
        ("model_release", "page", "escalated")
    ]
    (alert,) = list_alerts(sqlite_store)
    assert alert.evidence["release"] == ["cancer/1", "cancer/2"]
    assert "cancer/2 (replacing cancer/1)" in alert.title


def test_the_cursor_reads_each_run_once(sqlite_store: TraceStore, cancer, clock: Clock) -> None:
    record = _monitor(sqlite_store, cancer)
    policy = AlertPolicy(sqlite_store, clock=clock)
    run(sqlite_store, record, "b1", [bounds("mean_radius")])
    run(sqlite_store, record, "b2", [bounds("mean_radius")])
    first = policy.process("cancer")
    assert first.runs == 2 and len(first.opened) == 1
    again = policy.process("cancer")
    assert again.runs == 0 and again.notifications == []
    (alert,) = alerts_of(sqlite_store)
    assert alert.batches == 2 and alert.n_findings == 2


def test_options_are_validated(sqlite_store: TraceStore, cancer) -> None:
    from mileage.monitors.alerts._policy import AlertOptions
    from mileage.platform.errors import ConfigError

    with pytest.raises(ConfigError, match="page_drift_after"):
        AlertOptions(page_drift_after=0)
    record = _monitor(sqlite_store, cancer, alerts={"resolve_after": 1, "page_drift_after": 1})
    assert AlertOptions.from_dict(record.config.alerts).resolve_after == 1
    with pytest.raises(ConfigError, match="rollback policy"):
        dataclasses.replace(record.config, rollback_policy="sometimes")


def scoring_failed() -> Finding:
    return Finding(
        "input",
        "scoring",
        None,
        "scored",
        0,
        1,
        Severity.BLOCKING,
        "monitor 'cancer' batch: the model could not score: unknown category 'NORTH'",
        {"model": "cancer/1"},
    )


def slice_regression(name: str) -> Finding:
    return dataclasses.replace(
        Finding(
            "performance",
            "slice_regression",
            None,
            "accuracy",
            0.6,
            0.95,
            Severity.BLOCKING,
            f"slice {name!r}: accuracy 0.6 vs 0.95 on the reference",
        ),
        slice=name,
    )


def test_an_upstream_column_fault_is_one_alert_with_its_symptoms(
    sqlite_store: TraceStore, cancer, clock: Clock
) -> None:
    """A renamed category breaks the column and the scoring; a x1000 unit change breaks the
    column, the metric and three slices: each is one alert holding all its evidence."""
    record = _monitor(sqlite_store, cancer)
    category = dataclasses.replace(bounds("mean_texture"), check=DOMAIN)
    run(sqlite_store, record, "2026-11-20", [category, scoring_failed()])
    run(
        sqlite_store,
        record,
        "2026-11-20",
        [slo_breach(), *(slice_regression(s) for s in ("north", "south", "big"))],
        kind="judge",
        stats={"final": 1.0, "label_coverage": 1.0},
    )
    AlertPolicy(sqlite_store, clock=clock).process("cancer")
    (alert,) = alerts_of(sqlite_store)
    assert alert.kind == "broken_column" and alert.level == "page"
    checks = {c["check"] for c in alert.evidence["failed_checks"]}
    assert {DOMAIN, "scoring", "slo", "slice_regression"} <= checks
    assert {c.get("slice") for c in alert.evidence["failed_checks"]} >= {"north", "big"}

    run(sqlite_store, record, "2026-11-21", [bounds("mean_radius"), slice_regression("north")])
    AlertPolicy(sqlite_store, clock=clock).process("cancer")
    kinds = sorted(a.kind for a in alerts_of(sqlite_store))
    assert "slice_regression" not in kinds and "input_error" not in kinds
