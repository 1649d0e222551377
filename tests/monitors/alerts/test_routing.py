"""Routing against real servers: a real MLflow tracking server (``mileage.testing.MlflowServer``)
for the inbox, model-version tags and rollbacks; a real HTTP receiver on 127.0.0.1 for the
webhook. A failing router never loses a suggestion; plugins that fail to load are warnings."""

from __future__ import annotations

import json
import logging
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from typer.testing import CliRunner

from mileage.cli import app
from mileage.monitors import MonitorConfig, create_monitor, monitor_cycle, respond
from mileage.monitors._metrics import AlertsSource
from mileage.monitors._registry import get_monitor, save_report
from mileage.monitors.alerts._inbox import get_suggestion, list_suggestions
from mileage.monitors.alerts._routing import (
    Dispatcher,
    RouterPluginWarning,
    WebhookRouter,
    available_routers,
    load_routers,
)
from mileage.monitors.alerts._suggest import no_warm_starts
from mileage.monitors.checks._findings import BatchReport, Finding, Severity
from mileage.platform.errors import ConfigError
from mileage.platform.metrics import StoreCollector
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore
from mileage.testing import MlflowServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    root = tmp_path_factory.mktemp("mlflow-server")
    try:
        srv = MlflowServer(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts").start()
    except RuntimeError as exc:
        pytest.fail(f"cannot start the MLflow tracking server: {exc}", pytrace=False)
    yield srv
    srv.stop()


def _client(url: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=url, registry_uri=url)


def _register(url: str) -> str:
    """A registered model with versions 1 and 2; ``champion`` serves 2."""
    name = f"cancer-{uuid.uuid4().hex[:8]}"
    client = _client(url)
    client.create_registered_model(name)
    for i in (1, 2):  # metadata only: batches carry their predictions, nothing is loaded
        client.create_model_version(name, source=f"s3://models/{name}/{i}")
    client.set_registered_model_alias(name, "champion", "2")
    client.update_model_version(name, "2", description="Owned by the oncology team.")
    return name


def _pipeline(
    cancer: Any, root: Path, *, wrong: bool = False, broken: bool = False
) -> dict[str, Path]:
    """Reference and one batch with predictions (right, or wrong for 40% of rows), labels."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, validation = cancer.reference.iloc[:170], cancer.reference.iloc[170:]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    model.fit(train[cancer.features], train["label"])
    ref = root / "ref.parquet"
    validation.assign(prediction=model.predict(validation[cancer.features])).to_parquet(ref)
    batches = root / "batches"
    batches.mkdir()
    batch = cancer.held_out.iloc[:120].copy()
    batch["prediction"] = model.predict(batch[cancer.features])
    if wrong:  # what a broken model version does: wrong answers, inputs unchanged
        flip = batch.index[: int(0.4 * len(batch))]
        batch.loc[flip, "prediction"] = 1 - batch.loc[flip, "label"]
    if broken:
        batch["mean_radius"] = batch["mean_radius"] * 1000
    batch.drop(columns=["label"]).to_parquet(batches / "2026-11-20.parquet")
    labels = root / "labels.csv"
    cancer.held_out[["id", "label"]].to_csv(labels, index=False)
    return {"ref": ref, "batches": batches, "labels": labels}


def _config(files: dict[str, Path], **kw: Any) -> MonitorConfig:
    return MonitorConfig(
        name=kw.pop("name", "cancer"),
        reference_uri=str(files["ref"]),
        batches_uri=str(files["batches"]),
        labels_uri=str(files["labels"]),
        id_column="id",
        owner="oncology-ml",
        performance={"slo": 0.9},
        **kw,
    )


def _settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings.load(**{"home": tmp_path / "home", "route_backoff_seconds": 0, **kw})


@pytest.mark.slow  # an MLflow tracking server and model registrations
def test_suggestions_reach_the_inbox_and_the_model_version(
    server: MlflowServer, sqlite_store: TraceStore, cancer, tmp_path: Path, monkeypatch
) -> None:
    name = _register(server.url)
    files = _pipeline(cancer, tmp_path, broken=True)
    create_monitor(
        sqlite_store,
        _config(
            files,
            model_uri=f"models:/{name}@champion",
            tracking_uri=server.url,
            on_call="ana",
            shadows=["bo"],
        ),
    )
    settings = _settings(tmp_path)
    _, response = monitor_cycle(
        sqlite_store, "cancer", settings=settings, routers=load_routers(settings, ["mlflow"])
    )
    assert response.to_dict()["pages"] == 1
    (s,) = [
        s
        for s in list_suggestions(sqlite_store, recipient="oncology-ml")
        if s.kind == "fix_upstream"
    ]
    assert list_suggestions(sqlite_store, recipient="bo")  # the shadow has a copy ...
    roles = {r["name"]: r for r in s.recipients}
    assert (
        roles["ana"]["pages"] and roles["bo"]["copy"] and "pages" not in roles["bo"]
    )  # ... not a page
    mv = _client(server.url).get_model_version(name, "2")
    tag = json.loads(mv.tags[f"mileage.suggestion.{s.id}"])
    assert (
        tag["kind"] == "fix_upstream" and tag["level"] == "page" and tag["owner"] == "oncology-ml"
    )
    assert any("mean_radius" in c for c in tag["failed_checks"])
    assert tag["accept"] == f"mileage suggestions accept {s.id}"
    assert str(s.id) in mv.tags["mileage.suggestion.open"].split(",")
    assert mv.description.startswith("Owned by the oncology team.")  # the owner's text stays
    assert f"#{s.id} [page]" in mv.description
    deliveries = {d.router: d.status for d in get_suggestion(sqlite_store, s.id).deliveries}
    assert deliveries == {"inbox": "delivered", "mlflow": "delivered"}

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MILEAGE_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        app,
        [
            "--db-url",
            sqlite_store.url,
            "suggestions",
            "dismiss",
            str(s.id),
            "--by",
            "ana",
            "--reason",
            "known",
        ],
    )
    assert result.exit_code == 0, result.output
    mv = _client(server.url).get_model_version(name, "2")
    assert json.loads(mv.tags[f"mileage.suggestion.{s.id}"])["status"] == "dismissed"
    assert str(s.id) not in mv.tags["mileage.suggestion.open"].split(",")
    again = respond(
        sqlite_store, "cancer", settings=settings, routers=load_routers(settings, ["mlflow"])
    )
    assert again.deliveries == []  # nothing is sent twice


@pytest.mark.slow  # an MLflow tracking server and model registrations
def test_a_rollback_through_accept_moves_the_alias_once(
    server: MlflowServer, sqlite_store: TraceStore, cancer, tmp_path: Path, monkeypatch
) -> None:
    name = _register(server.url)
    files = _pipeline(cancer, tmp_path, wrong=True)
    create_monitor(
        sqlite_store,
        _config(
            files,
            model_uri=f"models:/{name}@champion",
            tracking_uri=server.url,
            fallback_version="1",
        ),
    )
    settings = _settings(tmp_path)
    monitor_cycle(sqlite_store, "cancer", settings=settings, routers=[], warm_start=no_warm_starts)
    client = _client(server.url)
    assert client.get_model_version_by_alias(name, "champion").version == "2"  # nothing ran
    (rollback,) = [s for s in list_suggestions(sqlite_store) if s.kind == "rollback"]
    assert rollback.rank == 1 and rollback.auto is False
    assert "-  champion: '2'" in rollback.diff and "+  champion: '1'" in rollback.diff
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MILEAGE_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    argv = [
        "--db-url",
        sqlite_store.url,
        "suggestions",
        "accept",
        str(rollback.id),
        "--by",
        "ana",
    ]
    first = runner.invoke(app, argv)
    assert first.exit_code == 0, first.output
    assert "accepted by ana" in first.output
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert client.get_model_version(name, "1").tags["mileage.rollback.from"] == "2"
    second = runner.invoke(app, [*argv[:-1], "bo", "--json"])
    assert second.exit_code == 0, second.output
    data = json.loads(second.output)
    assert data["noop"] and "already accepted by ana" in data["message"]
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert get_suggestion(sqlite_store, rollback.id).decided_by == "ana"


@pytest.mark.slow  # an MLflow tracking server and model registrations
def test_an_allowed_rollback_runs_by_itself_when_the_slo_breaks(
    server: MlflowServer, sqlite_store: TraceStore, cancer, tmp_path: Path
) -> None:
    name = _register(server.url)
    files = _pipeline(cancer, tmp_path, wrong=True)
    create_monitor(
        sqlite_store,
        _config(
            files,
            model_uri=f"models:/{name}@champion",
            tracking_uri=server.url,
            fallback_version="1",
            rollback_policy="auto",
        ),
    )
    _, response = monitor_cycle(
        sqlite_store, "cancer", settings=_settings(tmp_path), routers=[], warm_start=no_warm_starts
    )
    assert _client(server.url).get_model_version_by_alias(name, "champion").version == "1"
    (rollback,) = [s for s in list_suggestions(sqlite_store, statuses=None) if s.kind == "rollback"]
    assert rollback.status == "applied" and rollback.decided_by == "mileage"
    assert response.suggestions.applied == [rollback.id]
    others = [s for s in list_suggestions(sqlite_store, statuses=None) if s.kind != "rollback"]
    assert others and all(s.status == "open" for s in others)  # nothing else ran


class Receiver:
    """An HTTP receiver on 127.0.0.1 that fails the first ``failures`` requests."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[int, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = 500 if len(outer.requests) < outer.failures else 200
                outer.requests.append((code, dict(self.headers), body))
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok" if code == 200 else b"try later")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/T0-secret-token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def received(self) -> list[dict[str, Any]]:
        return [json.loads(b) for code, _, b in self.requests if code == 200]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(failures=2)
    yield r
    r.close()


def test_a_webhook_that_fails_twice_gets_the_message_once(
    sqlite_store: TraceStore, cancer, tmp_path: Path, receiver: Receiver, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("ONCOLOGY_HOOK", receiver.url)
    files = _pipeline(cancer, tmp_path, broken=True)
    create_monitor(sqlite_store, _config(files, webhook_env="ONCOLOGY_HOOK", on_call="ana"))
    settings = _settings(tmp_path, route_retries=3, route_backoff_seconds=0.5)
    pauses: list[float] = []
    caplog.set_level(logging.DEBUG)
    monitor_cycle(
        sqlite_store,
        "cancer",
        settings=settings,
        routers=[WebhookRouter(settings)],
        warm_start=no_warm_starts,
        sleep=pauses.append,
    )
    assert [code for code, _, _ in receiver.requests] == [500, 500, 200]
    assert pauses == [0.5, 1.0]  # bounded, doubling
    (message,) = receiver.received()
    assert receiver.requests[-1][1]["Idempotency-Key"].startswith("mileage-suggestion-")
    text = json.dumps(message["blocks"])
    assert message["text"].startswith("[PAGE] cancer:")
    assert (
        "Failed checks" in text
        and "mean_radius" in text
        and "expect_column_values_to_be_between" in text
    )
    assert "*Paged:* ana" in text and "mileage suggestions accept" in text
    (s,) = [s for s in list_suggestions(sqlite_store) if s.kind == "fix_upstream"]
    (delivery,) = [
        d for d in get_suggestion(sqlite_store, s.id).deliveries if d.router == "webhook"
    ]
    assert delivery.status == "delivered" and delivery.attempts == 3
    assert delivery.last_error is not None
    assert "HTTP 500" in delivery.last_error and "ONCOLOGY_HOOK" in delivery.last_error
    # the next cycles send nothing more: exactly once
    respond(
        sqlite_store,
        "cancer",
        settings=settings,
        routers=[WebhookRouter(settings)],
        sleep=pauses.append,
    )
    assert len(receiver.requests) == 3
    # the URL (a secret) is nowhere: not in stored errors, logs or metrics
    registry = CollectorRegistry()
    registry.register(StoreCollector(sqlite_store, [("alerts", AlertsSource())]))
    exposed = generate_latest(registry).decode()
    assert 'mileage_suggestion_deliveries_total{router="webhook",status="delivered"} 1.0' in exposed
    for text in (
        exposed,
        caplog.text,
        json.dumps(get_suggestion(sqlite_store, s.id).to_dict(), default=str),
    ):
        assert "secret-token" not in text and str(receiver.httpd.server_address[1]) not in text


class Broken:
    """A router whose endpoint is down."""

    name = "pager"

    def __init__(self) -> None:
        self.calls = 0

    def deliver(self, message: Any) -> str:
        self.calls += 1
        raise ConnectionError("pager.example.com:443 refused https://pager.example.com/k3y")


def _synthetic_alert(store: TraceStore, cancer: Any, tmp_path: Path) -> None:
    files = _pipeline(cancer, tmp_path)
    create_monitor(store, _config(files))
    report = BatchReport("cancer", "b1", None, 100, 9)
    report.add(
        [Finding("input", "read_batch", None, "readable", 0, 1, Severity.BLOCKING, "unreadable")]
    )
    save_report(
        store,
        get_monitor(store, "cancer"),
        report,
        kind="check",
        suite_version=1,
        started_at=datetime.now(UTC),
    )


def test_a_failing_router_never_loses_a_suggestion(
    sqlite_store: TraceStore, cancer, tmp_path: Path
) -> None:
    _synthetic_alert(sqlite_store, cancer, tmp_path)
    now = [datetime(2026, 11, 20, tzinfo=UTC)]
    settings = _settings(tmp_path, route_retries=2, route_max_attempts=5, route_backoff_seconds=10)
    broken = Broken()
    respond(
        sqlite_store,
        "cancer",
        settings=settings,
        routers=[broken],
        clock=lambda: now[0],
        sleep=lambda s: None,
    )
    (s,) = list_suggestions(sqlite_store)
    (d,) = [d for d in get_suggestion(sqlite_store, s.id).deliveries if d.router == "pager"]
    assert (d.status, d.attempts, broken.calls) == ("pending", 2, 2)
    assert d.last_error is not None
    assert "k3y" not in d.last_error and "<url>" in d.last_error
    dispatcher = Dispatcher(
        sqlite_store, [broken], settings, sleep=lambda s: None, clock=lambda: now[0]
    )
    assert dispatcher.retry_pending() == []  # its pause has not passed
    now[0] += timedelta(hours=2)
    (outcome,) = dispatcher.retry_pending()
    assert (outcome.status, outcome.attempts) == ("pending", 4)
    now[0] += timedelta(hours=2)
    (outcome,) = dispatcher.retry_pending()
    assert (outcome.status, outcome.attempts) == ("failed", 5)  # bounded
    now[0] += timedelta(days=1)
    assert dispatcher.retry_pending() == []
    assert [x.id for x in list_suggestions(sqlite_store)] == [s.id]  # still in the inbox


def _plugin_dir(root: Path) -> Path:
    """A distribution's metadata with two ``mileage.routers`` entry points, one broken."""
    (root / "mileage_test_router.py").write_text(
        "class Router:\n"
        "    name = 'chat'\n"
        "    def __init__(self, settings):\n"
        "        self.settings = settings\n"
        "    def deliver(self, message):\n"
        "        return 'delivered'\n"
    )
    meta = root / "mileage_test_router-0.1.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mileage-test-router\nVersion: 0.1\n"
    )
    (meta / "entry_points.txt").write_text(
        "[mileage.routers]\nchat = mileage_test_router:Router\nbroken = no_such_module:Router\n"
    )
    return root


def test_router_plugins_load_and_a_broken_one_is_a_warning(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(_plugin_dir(tmp_path)))
    monkeypatch.delitem(sys.modules, "mileage_test_router", raising=False)
    with pytest.warns(RouterPluginWarning, match=r"'broken'.*Routers available: .*chat.*mlflow"):
        known = available_routers()
    assert {"mlflow", "webhook", "chat"} <= set(known) and "broken" not in known
    settings = Settings.load(home=tmp_path)
    with pytest.warns(RouterPluginWarning):
        (router,) = load_routers(settings, ["chat"])
    assert router.deliver(None) == "delivered"
    with (
        pytest.warns(RouterPluginWarning),
        pytest.raises(ConfigError, match=r"'pagerduty' unknown; available: .*chat"),
    ):
        load_routers(settings, ["pagerduty"])


def test_a_cycle_that_stopped_after_the_policy_is_finished_by_the_next(
    sqlite_store: TraceStore, cancer, tmp_path: Path
) -> None:
    from mileage.monitors import AlertPolicy

    _synthetic_alert(sqlite_store, cancer, tmp_path)
    assert AlertPolicy(sqlite_store).process("cancer").opened  # then the process died
    assert list_suggestions(sqlite_store) == []
    pager = Broken()
    pager.deliver = lambda message: "delivered"  # type: ignore[method-assign]
    response = respond(sqlite_store, "cancer", settings=_settings(tmp_path), routers=[pager])
    assert response.alerts.runs == 0  # nothing new to read ...
    (s,) = list_suggestions(sqlite_store)  # ... but the alert got its suggestion
    assert s.kind == "fix_upstream"
    assert {(d.router, d.status) for d in response.deliveries} == {
        ("inbox", "delivered"),
        ("pager", "delivered"),
    }
    again = respond(sqlite_store, "cancer", settings=_settings(tmp_path), routers=[pager])
    assert again.deliveries == [] and again.suggestions.created == []


def test_default_webhook_as_env_reference_delivers_and_never_shows_the_url(
    sqlite_store: TraceStore, cancer, tmp_path: Path, monkeypatch, caplog
) -> None:
    """``webhook_url = "env:TEAM_HOOK"`` in mileage.toml: the file holds no secret, the URL is
    read from the variable when a message is sent, and is printed nowhere."""
    toml = tmp_path / "mileage.toml"
    toml.write_text('webhook_url = "env:TEAM_HOOK"\n')
    settings = Settings.load(config_file=toml, home=tmp_path / "home", route_backoff_seconds=0)
    assert "TEAM_HOOK" not in repr(settings) and "env:" not in repr(settings)
    _synthetic_alert(sqlite_store, cancer, tmp_path)
    monkeypatch.delenv("TEAM_HOOK", raising=False)
    caplog.set_level(logging.DEBUG)
    respond(sqlite_store, "cancer", settings=settings, routers=[WebhookRouter(settings)])
    (s,) = list_suggestions(sqlite_store)
    (failed,) = [d for d in get_suggestion(sqlite_store, s.id).deliveries if d.router == "webhook"]
    assert failed.status == "failed" and failed.last_error is not None
    assert "environment variable TEAM_HOOK is not set" in failed.last_error
    receiver = Receiver(failures=0)
    try:
        monkeypatch.setenv("TEAM_HOOK", receiver.url)
        (tmp_path / "second").mkdir()
        files = _pipeline(cancer, tmp_path / "second")
        create_monitor(sqlite_store, _config(files, name="cancer2"))
        report = BatchReport("cancer2", "b1", None, 100, 9)
        report.add(
            [Finding("input", "read_batch", None, "readable", 0, 1, Severity.BLOCKING, "gone")]
        )
        save_report(
            sqlite_store,
            get_monitor(sqlite_store, "cancer2"),
            report,
            kind="check",
            suite_version=1,
            started_at=datetime.now(UTC),
        )
        respond(sqlite_store, "cancer2", settings=settings, routers=[WebhookRouter(settings)])
        (message,) = receiver.received()
        assert message["text"].startswith("[PAGE] cancer2:")
    finally:
        receiver.close()
    for text in (caplog.text, toml.read_text(), repr(settings)):
        assert "T0-secret-token" not in text
    assert b"T0-secret-token" not in (tmp_path / "trace.db").read_bytes()
    with pytest.raises(ConfigError, match="value not shown") as bad:
        Settings.load(config_file=toml, webhook_url="hooks.example.com/T0-secret-token")
    assert "T0-secret-token" not in str(bad.value)


@pytest.mark.parametrize("value", ["T0-secret-token", "file:///etc/passwd", "ftp://h/x"])
def test_a_webhook_variable_holding_no_http_url_fails_at_once_and_unshown(
    sqlite_store: TraceStore, cancer, tmp_path: Path, monkeypatch, caplog, value: str
) -> None:
    """``env:HOOK`` holding a pasted token or a file:// URL: failed at once (no retries, no
    pauses), named by its variable, the value shown nowhere, no file opened."""
    settings = _settings(tmp_path, webhook_url="env:TEAM_HOOK")
    _synthetic_alert(sqlite_store, cancer, tmp_path)
    monkeypatch.setenv("TEAM_HOOK", value)
    caplog.set_level(logging.DEBUG)
    respond(sqlite_store, "cancer", settings=settings, routers=[WebhookRouter(settings)])
    (s,) = list_suggestions(sqlite_store)
    (failed,) = [d for d in get_suggestion(sqlite_store, s.id).deliveries if d.router == "webhook"]
    assert failed.status == "failed" and failed.attempts == 1
    assert failed.last_error is not None and "$TEAM_HOOK is not an http(s) URL" in failed.last_error
    assert value not in caplog.text and value not in failed.last_error
