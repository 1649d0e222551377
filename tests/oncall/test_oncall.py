"""On call for real: the daemon as a process (started from another folder than the monitor
was added from), Prometheus with the shipped config and rules, Alertmanager with the shipped
config whose receivers point at a recording webhook. Each step asserts what reaches people.

Timings are shortened the sanctioned ways only: scrape and evaluation every second, ``for:``
durations of a few seconds, short Alertmanager group waits, a monitor cadence of seconds.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mileage.dashboards import with_receivers
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.testing import (
    AlertmanagerServer,
    PrometheusServer,
    WebhookReceiver,
    free_port,
)
from mileage.testing.monitoring import cancer_data

# a few minutes on an idle machine; a busy shared runner needs more than the default timeout
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "dashboards"


def _wait(predicate: Callable[[], Any], timeout: float = 180, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"not reached in {timeout:.0f} s: {what}")


def fast_rules(out: Path) -> Path:
    """The shipped rules with ``for:`` durations of seconds and groups evaluated every second."""
    rules = yaml.safe_load((SHIPPED / "prometheus" / "rules" / "mileage.rules.yml").read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "3s"
    path = out / "mileage.rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


class Stack:
    """The processes of one on-call drill and what the receiver got."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "trace.db"
        self.port = free_port()
        self.receiver = WebhookReceiver()
        self.daemons: list[subprocess.Popen[bytes]] = []
        self.env = {
            **os.environ,
            "MILEAGE_DB_URL": f"sqlite:///{self.db}",
            "MILEAGE_ROUTERS": '["webhook"]',
            "MILEAGE_RUNBOOK_URL": "https://runbooks.example/runbooks.md",
            "PYTHONPATH": str(ROOT / "src"),
        }
        for key in ("MILEAGE_CONFIG", "MILEAGE_WEBHOOK_URL", "ONCALL_HOOK_UNSET"):
            self.env.pop(key, None)

    def cli(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mileage.cli", *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def start_daemon(self, am_url: str, port: int | None = None) -> subprocess.Popen[bytes]:
        cwd = self.root / "elsewhere"
        cwd.mkdir(exist_ok=True)
        env = {
            **self.env,
            "MILEAGE_ALERTMANAGER_URL": am_url,
            "MILEAGE_ALERTMANAGER_PUSH_INTERVAL_SECONDS": "1",
            "MILEAGE_HOME": str(self.root / "home"),
            "MILEAGE_JOB_BACKOFF_SECONDS": "0.1",
        }
        log = (self.root / f"daemon-{len(self.daemons)}.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "mileage.cli", "daemon", "--port", str(port or self.port)),
            ],
            cwd=cwd,  # not where the monitor was added: stored paths must be absolute
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        self.daemons.append(proc)
        return proc

    def pages(self, alertname: str, status: str = "firing") -> list[dict[str, Any]]:
        """Alerts of ``alertname`` in the notifications that reached the pager, by status."""
        return [
            a
            for n in self.receiver.on("/page")
            for a in n["alerts"]
            if a["labels"]["alertname"] == alertname and a["status"] == status
        ]

    def tickets(self, alertname: str) -> list[dict[str, Any]]:
        return [
            a
            for n in self.receiver.on("/ticket")
            for a in n["alerts"]
            if a["labels"]["alertname"] == alertname and a["status"] == "firing"
        ]

    def close(self) -> None:
        for proc in self.daemons:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        self.receiver.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A reference with predictions and a clean batch, then a batch whose ``mean_radius``
    arrives x1000 (a unit change upstream)."""
    from sklearn.linear_model import LogisticRegression

    data = cancer_data()
    model = LogisticRegression(max_iter=5000).fit(
        data.reference[data.features], data.reference["label"]
    )
    project = tmp_path / "project"
    (project / "batches").mkdir(parents=True)
    data.reference.assign(prediction=model.predict(data.reference[data.features])).to_parquet(
        project / "ref.parquet"
    )
    held = data.held_out.drop(columns=["label"])
    held = held.assign(prediction=model.predict(held[data.features]))
    held.iloc[:70].to_parquet(project / "batches" / "2026-11-20.parquet")
    for i, day in enumerate(("2026-11-21", "2026-11-22")):
        bad = held.iloc[70 + 70 * i : 140 + 70 * i].copy()
        bad["mean_radius"] = bad["mean_radius"] * 1000
        bad.to_parquet(project / f"{day}.parquet.later")
    shutil.move(project / "2026-11-21.parquet.later", project / "batches" / "2026-11-21.parquet")
    return project


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


def _leading(port: int) -> bool:
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return bool(json.loads(resp.read()).get("leader"))
    except OSError:
        return False


def _prometheus_config(stack: Stack, am: AlertmanagerServer, rules: Path) -> dict[str, Any]:
    """The shipped prometheus.yml, rewritten only for addresses and fast intervals."""
    config = yaml.safe_load((SHIPPED / "prometheus" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(rules)]
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [am.url[7:]]
    config["scrape_configs"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{stack.port}"]
    return config


def test_the_on_call_drill(project: Path, stack: Stack, tmp_path: Path) -> None:
    added = stack.cli(
        *("monitor", "add", "cancer", "--reference", "ref.parquet", "--batches", "batches/"),
        *("--owner", "oncology-ml", "--cadence", "3", "--webhook-env", "ONCALL_HOOK_UNSET"),
        cwd=project,
    )
    assert added.returncode == 0, added.stderr
    assert "ONCALL_HOOK_UNSET is not set" in added.stderr  # warned at configuration time

    am_config = with_receivers(
        yaml.safe_load((SHIPPED / "alertmanager" / "alertmanager.yml").read_text()),
        {"pager": f"{stack.receiver.url}/page", "tickets": f"{stack.receiver.url}/ticket"},
        group_wait="1s",
        group_interval="2s",
    )
    amtool = shutil.which("amtool")
    assert amtool, "amtool not found: install Debian's prometheus-alertmanager"
    (tmp_path / "am.yml").write_text(yaml.safe_dump(am_config))
    amcheck = subprocess.run(
        [amtool, "check-config", str(tmp_path / "am.yml")], capture_output=True, check=False
    )
    assert amcheck.returncode == 0, amcheck.stdout + amcheck.stderr

    with AlertmanagerServer(am_config) as am:
        stack.start_daemon(am.url)
        _wait(lambda: _leading(stack.port), what="the daemon leading")
        rules = fast_rules(tmp_path)
        config = _prometheus_config(stack, am, rules)
        with PrometheusServer([], config=config) as prom:
            # 1. a faulty batch: one page naming the cause, with a suggestion and a runbook
            (page,) = _wait(
                lambda: stack.pages("MileageBrokenColumn"), what="the broken column's page"
            )
            assert page["labels"]["pipeline"] == "cancer"
            assert page["labels"]["cause"] == "broken_column"
            assert "mean_radius" in page["annotations"]["summary"]
            assert page["annotations"]["suggestion"].startswith("mileage suggestions show ")
            assert page["annotations"]["runbook_url"] == (
                "https://runbooks.example/runbooks.md#broken-column"
            )
            alert_id = page["labels"]["mileage_alert_id"]

            # 2. an unset webhook variable: a ticket, not silence
            _wait(
                lambda: stack.tickets("MileageSuggestionUndelivered"),
                what="the undelivered-suggestion ticket",
            )

            # 3. the same fault on the next batch: checked, folded into the alert, no new page
            shutil.move(
                project / "2026-11-22.parquet.later", project / "batches" / "2026-11-22.parquet"
            )
            store = TraceStore.open(f"sqlite:///{stack.db}")
            try:

                def checked(batch: str) -> bool:
                    with store.connect() as conn:
                        return bool(
                            conn.execute(
                                t.monitor_runs.select().where(t.monitor_runs.c.batch_id == batch)
                            ).first()
                        )

                _wait(lambda: checked("2026-11-22"), what="the daemon checking the next batch")
                time.sleep(6)  # pushes, evaluations and group intervals go by
                assert len(stack.pages("MileageBrokenColumn")) == 1

                # 4. an old clean batch re-checked (twice): the later batches' alert holds
                for _ in range(2):
                    rerun = stack.cli(
                        "monitor", "run", "cancer", "--batch", "2026-11-20", cwd=tmp_path
                    )
                    assert rerun.returncode == 0, rerun.stderr
                with store.connect() as conn:
                    status = conn.execute(
                        t.alerts.select().where(t.alerts.c.id == int(alert_id))
                    ).one()
                assert status.status == "open" and status.batches == 2
                time.sleep(4)
                assert stack.pages("MileageBrokenColumn", "resolved") == []
                assert len(stack.pages("MileageBrokenColumn")) == 1
            finally:
                store.close()

            # 5. the daemon killed: the dead-man's page, once; back: resolved
            assert stack.pages("MileageSchedulerDown") == []  # it led from the first scrape
            leader = stack.daemons[0]
            os.killpg(leader.pid, signal.SIGKILL)
            leader.wait(timeout=30)
            _wait(lambda: stack.pages("MileageSchedulerDown"), what="the dead-man's page")
            time.sleep(6)
            assert len(stack.pages("MileageSchedulerDown")) == 1
            stack.start_daemon(am.url)
            _wait(
                lambda: stack.pages("MileageSchedulerDown", "resolved"),
                what="the dead-man's page resolved",
            )
            # the restart re-pushed the open alert: Alertmanager knew it, no second page
            assert len(stack.pages("MileageBrokenColumn")) == 1

            # 6. two daemons on one store: one leads, nobody pages twice
            stack.start_daemon(am.url, port=free_port())
            time.sleep(10)
            assert len(stack.pages("MileageBrokenColumn")) == 1
            leaders = prom.query("sum(mileage_scheduler_leader)")
            assert leaders and float(leaders[0]["value"][1]) == 1.0  # type: ignore[index]
