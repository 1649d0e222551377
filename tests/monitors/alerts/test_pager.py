"""Alertmanager as the one pager: pushed alerts, acks as silences, resolution, outages, with a
real Alertmanager (the shipped config, receivers pointed at a recording webhook)."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from mileage.daemon import Daemon
from mileage.dashboards import with_receivers
from mileage.monitors import create_monitor, monitor_cycle
from mileage.monitors.alerts import (
    Dispatcher,
    MlflowRouter,
    PagerError,
    acknowledge_alert,
    get_alert,
    list_alerts,
    list_suggestions,
    push_alerts,
    resolve_alert,
    silence_alert,
    unsilence_alert,
)
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore
from mileage.testing import AlertmanagerServer, WebhookReceiver, free_port
from mileage.testing.monitoring import cancer_data, monitored_pipeline, register_model

pytestmark = pytest.mark.slow  # starts servers or clusters, or checks big batches

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "dashboards" / "alertmanager" / "alertmanager.yml"


def _wait(predicate: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def alertmanager(receiver: WebhookReceiver) -> Iterator[AlertmanagerServer]:
    config = with_receivers(
        yaml.safe_load(SHIPPED.read_text()),
        {"pager": f"{receiver.url}/page", "tickets": f"{receiver.url}/ticket"},
        group_wait="1s",
        group_interval="2s",
    )
    with AlertmanagerServer(config) as am:
        yield am


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A monitored pipeline whose second batch changed a column's unit upstream, checked once
    for the module (the model registry and the files stay in this folder); returns the folder."""
    root = tmp_path_factory.mktemp("pager")
    store = TraceStore.open(f"sqlite:///{root / 'trace.db'}")
    try:
        data = cancer_data()
        create_monitor(store, monitored_pipeline(data, root, register_model(data, root)))
        settings = _settings(root, "")
        monitor_cycle(store, "cancer", settings=settings, routers=[MlflowRouter(settings)])
    finally:
        store.close()
    return root


@pytest.fixture
def broken(checked: Path, tmp_path: Path) -> Iterator[TraceStore]:
    """A copy of the checked trace store for one test (tests change alert states)."""
    shutil.copyfile(checked / "trace.db", tmp_path / "trace.db")
    store = TraceStore.open(f"sqlite:///{tmp_path / 'trace.db'}")
    yield store
    store.close()


def _settings(tmp_path: Path, url: str) -> Settings:
    return Settings.load(
        home=tmp_path / "home",
        alertmanager_url=url,
        alertmanager_push_interval_seconds=1,
        runbook_url="https://runbooks.example/mileage.md",
        public_url="https://mlflow.example",
        routers=[],
        job_backoff_seconds=0.01,
    )


def _alerts(notification: dict[str, Any]) -> list[dict[str, Any]]:
    return list(notification["alerts"])


def test_one_push_pages_once_an_ack_silences_and_resolution_resolves(
    broken: TraceStore,
    alertmanager: AlertmanagerServer,
    receiver: WebhookReceiver,
    checked: Path,
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, alertmanager.url)
    (page,) = [a for a in list_alerts(broken) if a.level == "page"]
    assert page.kind == "broken_column"
    for _ in range(3):  # pushed every cycle while open: one page, not three
        pushed = push_alerts(broken, settings)
        assert page.id in pushed.firing
        time.sleep(1)
    (notification,) = _wait(lambda: receiver.on("/page"))
    time.sleep(3)  # a group interval later: still one
    assert len(receiver.on("/page")) == 1
    (alert,) = [a for a in _alerts(notification) if a["labels"]["cause"] == "broken_column"]
    labels, annotations = alert["labels"], alert["annotations"]
    assert labels["alertname"] == "MileageBrokenColumn" and labels["pipeline"] == "cancer"
    assert labels["severity"] == "page" and labels["mileage_alert_id"] == str(page.id)
    assert "mean_radius" in annotations["summary"]  # names the cause
    assert annotations["runbook_url"] == "https://runbooks.example/mileage.md#broken-column"
    assert annotations["suggestion"].startswith("mileage suggestions show ")
    assert annotations["suggestion_url"].startswith("https://mlflow.example/#/models/cancer/")

    # one ack holds everywhere: acknowledged in Mileage, silenced in Alertmanager
    assert acknowledge_alert(broken, page.id, by="ana")
    silence = silence_alert(broken, settings, page.id, by="ana")
    assert silence
    push_alerts(broken, settings)
    held = _wait(
        lambda: [
            a
            for a in alertmanager.alerts()
            if a["labels"].get("mileage_alert_id") == str(page.id)
            and a["status"]["state"] == "suppressed"
        ]
    )
    assert held[0]["status"]["silencedBy"] == [silence]

    # resolved in Mileage: the silence expires and the pager hears "resolved"
    assert resolve_alert(broken, page.id, by="ana", note="fixed upstream")
    assert unsilence_alert(settings, page.id) == 1
    pushed = push_alerts(broken, settings)
    assert page.id in pushed.resolved
    resolved = _wait(
        lambda: [
            n
            for n in receiver.on("/page")
            if n["status"] == "resolved"
            and any(a["labels"]["mileage_alert_id"] == str(page.id) for a in _alerts(n))
        ]
    )
    assert len(resolved) == 1
    states = {s["id"]: s["status"]["state"] for s in alertmanager.silences()}
    assert states[silence] == "expired"

    # its undecided suggestions closed with it, and left the model version's tags
    closed = [s for s in list_suggestions(broken, statuses=None) if s.alert_id == page.id]
    assert closed and {s.status for s in closed} == {"closed"}
    assert page.model_version is not None
    tagged = _suggestion_tags(page.model_version, checked)
    assert {f"mileage.suggestion.{s.id}" for s in closed} <= tagged  # routed while open
    dispatcher = Dispatcher(broken, [MlflowRouter(settings)], settings)
    for s in closed:
        dispatcher.refresh(s.id)
    assert not {f"mileage.suggestion.{s.id}" for s in closed} & _suggestion_tags(
        page.model_version, checked
    )


def _suggestion_tags(version: str, root: Path) -> set[str]:
    from mlflow import MlflowClient

    name, _, number = version.rpartition("/")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    tags = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version(name, number).tags
    return {k for k in tags if k.startswith("mileage.suggestion.") and k[-1].isdigit()}


def test_an_unreachable_alertmanager_is_an_error_and_the_daemon_says_so(
    broken: TraceStore, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PagerError, match=r"is unreachable .*MILEAGE_ALERTMANAGER_URL"):
        push_alerts(broken, _settings(tmp_path, url))
    daemon = Daemon(_settings(tmp_path, url), broken, registry=CollectorRegistry())
    host, port = daemon.serve_http("127.0.0.1", 0)
    try:
        results = {r["job"]: r for r in daemon.run_once()}
        assert results["pager:alertmanager"]["status"] == "failed"
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200  # the daemon keeps running and checking
            health = json.loads(resp.read())
        assert health["alertmanager"]["status"] == "unreachable"
        assert url in health["alertmanager"]["error"]
        assert health["prometheus"] == {"status": "never scraped"}
    finally:
        daemon.close()


def test_unack_on_the_command_line_expires_the_silence_and_the_alert_pages_again(
    broken: TraceStore,
    alertmanager: AlertmanagerServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from mileage.cli import app

    (page,) = [a for a in list_alerts(broken) if a.level == "page"]
    settings = _settings(tmp_path, alertmanager.url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MILEAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MILEAGE_ALERTMANAGER_URL", alertmanager.url)
    runner = CliRunner()

    def cli(*args: str) -> dict[str, Any]:
        result = runner.invoke(app, ["--db-url", broken.url, "alerts", *args, "--json"])
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.stdout))

    def state() -> str:
        (held,) = [
            a for a in alertmanager.alerts() if a["labels"].get("mileage_alert_id") == str(page.id)
        ]
        return str(held["status"]["state"])

    push_alerts(broken, settings)
    _wait(lambda: state() == "active")
    acked = cli("ack", str(page.id), "--by", "ana")
    assert acked["changed"] and acked["silence"]
    _wait(lambda: state() == "suppressed")

    unacked = cli("unack", str(page.id), "--by", "ana")
    assert unacked == {"alert": page.id, "changed": True, "silences_expired": 1}
    alert = get_alert(broken, page.id)
    assert alert.status == "open" and alert.acknowledged_by is None
    silences = {s["id"]: s["status"]["state"] for s in alertmanager.silences()}
    assert silences[acked["silence"]] == "expired"
    push_alerts(broken, settings)
    _wait(lambda: state() == "active")  # it pages again

    # again: nothing to take back, nothing to expire; an unknown id is an error
    assert cli("unack", str(page.id)) == {
        "alert": page.id,
        "changed": False,
        "silences_expired": 0,
    }
    missing = runner.invoke(app, ["--db-url", broken.url, "alerts", "unack", "999999"])
    assert missing.exit_code == 1 and "999999" in missing.output


def test_with_nothing_to_push_an_unreachable_alertmanager_is_still_found(
    sqlite_store: TraceStore, alertmanager: AlertmanagerServer, tmp_path: Path
) -> None:
    """No open alert yet: the push still checks the pager, so /healthz says it is away before
    the first page is due."""
    assert push_alerts(sqlite_store, _settings(tmp_path, alertmanager.url)).firing == []
    away = _settings(tmp_path, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(PagerError, match=r"is unreachable"):
        push_alerts(sqlite_store, away)


def test_acking_again_after_an_outage_silences_once(
    broken: TraceStore,
    alertmanager: AlertmanagerServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ack's warning says 'ack again once it is reachable': that second ack must create
    the silence (it used to answer 'not open; nothing done'), and a third must not add one."""
    from typer.testing import CliRunner

    from mileage.cli import app

    (page,) = [a for a in list_alerts(broken) if a.level == "page"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MILEAGE_HOME", str(tmp_path / "home"))
    runner = CliRunner()

    def ack(url: str) -> Any:
        monkeypatch.setenv("MILEAGE_ALERTMANAGER_URL", url)
        return runner.invoke(
            app, ["--db-url", broken.url, "alerts", "ack", str(page.id), "--by", "ana", "--json"]
        )

    away = ack(f"http://127.0.0.1:{free_port()}")
    assert away.exit_code == 0 and "ack again once it is reachable" in away.stderr
    assert json.loads(away.stdout) == {"alert": page.id, "changed": True, "silence": None}

    again = ack(alertmanager.url)
    assert again.exit_code == 0, again.output
    first = json.loads(again.stdout)
    assert first["changed"] is False and first["silence"]
    third = json.loads(ack(alertmanager.url).stdout)
    assert third["silence"] == first["silence"]  # the silence that holds, not a second one
    live = [s for s in alertmanager.silences() if s["status"]["state"] != "expired"]
    assert [s["id"] for s in live] == [first["silence"]]

    assert resolve_alert(broken, page.id, by="ana")
    resolved = ack(alertmanager.url)  # resolved: nothing to ack, no silence made
    assert json.loads(resolved.stdout) == {"alert": page.id, "changed": False, "silence": None}
