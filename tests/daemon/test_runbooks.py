"""Every runbook link resolves: the rules' and the pushed alerts' sections exist in
docs/runbooks.md, the package ships that page, and the daemon serves it with those anchors."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from mileage.daemon import Daemon
from mileage.daemon._runbooks import anchors, render_html, runbooks_markdown
from mileage.dashboards import render
from mileage.monitors.alerts import alert_name
from mileage.monitors.alerts._pager import to_alertmanager
from mileage.monitors.alerts._rootcause import KINDS
from mileage.platform.errors import ConfigError
from mileage.platform.settings import DEFAULT_RUNBOOK_URL, Settings
from mileage.platform.store import TraceStore, utcnow

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "runbooks.md"
RULES = ROOT / "dashboards" / "prometheus" / "rules" / "mileage.rules.yml"


def _rule_links(text: str) -> dict[str, str]:
    rules = yaml.safe_load(text)
    return {
        r["alert"]: r["annotations"]["runbook_url"]
        for g in rules["groups"]
        for r in g["rules"]
        if "alert" in r
    }


def test_the_package_ships_docs_runbooks() -> None:
    assert runbooks_markdown() == DOCS.read_text(encoding="utf-8"), (
        "src/mileage/daemon/runbooks.md differs from docs/runbooks.md: "
        "cp docs/runbooks.md src/mileage/daemon/runbooks.md"
    )


def test_every_alert_rule_links_an_existing_section() -> None:
    sections = anchors(DOCS.read_text(encoding="utf-8"))
    shipped = _rule_links(RULES.read_text())
    assert len(shipped) >= 7
    for name, url in shipped.items():
        base, _, section = url.partition("#")
        assert base == DEFAULT_RUNBOOK_URL, name  # the default: the daemon's page
        assert section in sections, f"{name} links #{section}, not a section of runbooks.md"
    # built for a team's own copy: the same sections under its base
    built = _rule_links(
        render("https://runbooks.example/ops.md")["prometheus/rules/mileage.rules.yml"]
    )
    assert {n: u.rpartition("#")[2] for n, u in built.items()} == {
        n: u.rpartition("#")[2] for n, u in shipped.items()
    }
    assert all(u.startswith("https://runbooks.example/ops.md#") for u in built.values())


def test_every_pushed_alert_kind_links_an_existing_section() -> None:
    sections = anchors(DOCS.read_text(encoding="utf-8"))
    settings = Settings.load(home=Path("/nonexistent"))
    for kind in KINDS:
        name, section = alert_name(kind)
        assert section in sections, f"{kind} ({name}) links #{section}, missing in runbooks.md"
        alert = {
            "id": 1,
            "kind": kind,
            "pipeline": "p",
            "title": "t",
            "batches": 1,
            "first_batch": "a",
            "last_batch": "a",
            "level": "page",
            "opened_at": utcnow(),
        }
        body = to_alertmanager(alert, None, settings, ends_at=utcnow())
        assert body["annotations"]["runbook_url"] == f"{DEFAULT_RUNBOOK_URL}#{section}"


def test_the_default_follows_the_daemon_and_an_explicit_url_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in ("MILEAGE_RUNBOOK_URL", "MILEAGE_DAEMON_HOST", "MILEAGE_DAEMON_PORT"):
        monkeypatch.delenv(key, raising=False)
    assert Settings.load().runbook_url == "http://127.0.0.1:9464/runbooks"
    monkeypatch.setenv("MILEAGE_DAEMON_PORT", "9500")
    monkeypatch.setenv("MILEAGE_DAEMON_HOST", "0.0.0.0")  # a wildcard bind: link loopback
    assert Settings.load().runbook_url == "http://127.0.0.1:9500/runbooks"
    monkeypatch.setenv("MILEAGE_RUNBOOK_URL", "https://wiki.example/mileage")
    assert Settings.load().runbook_url == "https://wiki.example/mileage"
    monkeypatch.setenv("MILEAGE_RUNBOOK_URL", "docs/runbooks.md")
    with pytest.raises(ConfigError, match=r"runbook_url.*absolute http"):
        Settings.load()


def test_the_daemon_serves_the_runbooks_with_their_anchors(sqlite_store: TraceStore) -> None:
    daemon = Daemon(Settings.load(), sqlite_store, registry=CollectorRegistry(), providers=[])
    host, port = daemon.serve_http("127.0.0.1", 0)
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/runbooks", timeout=10) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/html")
            page = resp.read().decode()
    finally:
        daemon.close()
    ids = set(re.findall(r'<h[1-4] id="([^"]+)"', page))
    for url in _rule_links(RULES.read_text()).values():
        assert url.rpartition("#")[2] in ids
    assert '<h2 id="slo-burn">slo-burn</h2>' in page
    assert "<script" not in render_html("<script>alert(1)</script> `x<y`")
