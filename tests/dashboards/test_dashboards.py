"""Dashboards and rules: current on disk, valid for promtool and amtool, and every panel query
answered by a real Prometheus that scraped a real daemon."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from mileage.collectors.metadata import import_metadata
from mileage.collectors.mlflow import MlflowCollector
from mileage.daemon import PROVIDERS, RUNNERS, Daemon, JobSpec
from mileage.dashboards import DASHBOARDS, stale
from mileage.monitors import create_monitor
from mileage.monitors.alerts._inbox import dismiss_suggestion, list_suggestions
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore
from mileage.testing import require_shared_data
from mileage.testing.monitoring import cancer_data, monitored_pipeline, register_model
from mileage.testing.servers import PrometheusServer

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "dashboards"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found: install Debian's prometheus and prometheus-alertmanager ('make test' does)",
            pytrace=False,
        )
    return path


def test_committed_artefacts_are_current() -> None:
    assert stale(ARTEFACTS) == [], "run 'mileage dashboards build' and commit the result"


def test_promtool_checks_and_unit_tests_pass() -> None:
    promtool = _tool("promtool")
    check = subprocess.run(
        [promtool, "check", "rules", "rules/mileage.rules.yml"],
        cwd=ARTEFACTS / "prometheus",
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(
        [promtool, "test", "rules", "mileage.rules.test.yml"],
        cwd=ARTEFACTS / "prometheus" / "tests",
        capture_output=True,
        text=True,
        check=False,
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr


def test_alertmanager_config_is_valid() -> None:
    result = subprocess.run(
        [_tool("amtool"), "check-config", str(ARTEFACTS / "alertmanager" / "alertmanager.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 inhibit rules" in result.stdout


def test_every_panel_has_a_description_and_unique_ids() -> None:
    import json

    for spec in DASHBOARDS:
        data = json.loads((ARTEFACTS / "grafana" / f"{spec.uid}.json").read_text())
        ids = [p["id"] for p in data["panels"]]
        assert len(ids) == len(set(ids))
        for panel in data["panels"]:
            if panel["type"] != "row":
                assert panel.get("description"), panel["title"]
                assert panel["datasource"]["uid"] == "${datasource}"


def _concrete(expr: str) -> str:
    """Substitute Grafana's variables the way Grafana would for 'All'."""
    expr = expr.replace("$__rate_interval", "30s")
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


@pytest.mark.slow
def test_every_panel_query_returns_data(
    sqlite_store: TraceStore, agnias47: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = {"n": 0}

    def sometimes_failing(d: Daemon, spec: JobSpec) -> Mapping[str, Any]:
        calls["n"] += 1
        if calls["n"] % 2:
            raise RuntimeError("upstream flaked")
        return {}

    MlflowCollector(str(agnias47)).collect(sqlite_store)
    # public meta-data, so the daemon's metalearner job trains a model and its panels have data
    import_metadata(sqlite_store, "tabrepo-lightgbm", require_shared_data("tabrepo-lightgbm"))
    # a monitored pipeline whose second batch breaks a column upstream: the daemon's monitor
    # job checks it, opens alerts and routes suggestions, so every monitor series exists
    data = cancer_data()
    model = register_model(data, tmp_path)
    for name in ("cancer", "cancer-b"):  # "cancer" also estimates its accuracy before labels
        config = monitored_pipeline(data, tmp_path, model, name=name, estimate=name == "cancer")
        create_monitor(sqlite_store, config)
    daemon = Daemon(
        Settings.load(job_backoff_seconds=0, job_retries=2, home=tmp_path / "home"),
        sqlite_store,
        registry=CollectorRegistry(),
        providers=[*PROVIDERS, lambda d: [JobSpec("flaky:demo", "flaky", 60)]],
        runners={**RUNNERS, "flaky": sometimes_failing},
    )
    monitored = [r for r in daemon.run_once() if r["job"].startswith("monitor:")]
    assert [r["status"] for r in monitored] == ["succeeded"] * 2, monitored
    for s in list_suggestions(sqlite_store, pipeline="cancer-b"):
        dismiss_suggestion(sqlite_store, s.id, by="ana")  # a decision: actionability
    daemon.metrics.scheduler_leader.set(1)
    host, port = daemon.serve_http("127.0.0.1", 0)
    try:
        with PrometheusServer(
            [f"{host}:{port}"], [ARTEFACTS / "prometheus" / "rules" / "mileage.rules.yml"]
        ) as prom:
            for cycle in range(6):
                daemon.run_once()
                if cycle == 2:
                    daemon.runners["flaky"] = lambda d, s: (_ for _ in ()).throw(
                        RuntimeError("down")
                    )
                time.sleep(1.2)
            empty = []
            for spec in DASHBOARDS:
                for title, expr in spec.queries():
                    if not prom.query(_concrete(expr)):
                        empty.append(f"{spec.uid} / {title}: {expr}")
                for var in spec.variables:
                    metric = re.search(r"label_values\((\w+)", var.query)
                    assert metric and prom.query(metric.group(1)), var.query
    finally:
        daemon.close()
    assert empty == [], "panels without data:\n" + "\n".join(empty)
