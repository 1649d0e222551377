"""``mileage suggestions`` and ``mileage alerts`` end to end through the CLI, after ``mileage
monitor add`` (owner, on-call, rollback options) and ``mileage monitor run`` on real data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mileage.cli import app
from mileage.testing.monitoring import cancer_data


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for key in ("MILEAGE_DB_URL", "MILEAGE_CONFIG", "MLFLOW_TRACKING_URI", "MILEAGE_WEBHOOK_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MILEAGE_ROUTERS", '["webhook"]')
    return CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """A reference with predictions and a folder with one batch whose column broke upstream."""
    from sklearn.linear_model import LogisticRegression

    data = cancer_data()
    model = LogisticRegression(max_iter=5000).fit(
        data.reference[data.features], data.reference["label"]
    )
    ref = tmp_path / "ref.parquet"
    data.reference.assign(prediction=model.predict(data.reference[data.features])).to_parquet(ref)
    batches = tmp_path / "batches"
    batches.mkdir()
    bad = data.held_out.drop(columns=["label"]).iloc[:100]
    bad = bad.assign(prediction=model.predict(bad[data.features]))
    bad["mean_radius"] = bad["mean_radius"] * 1000
    bad.to_parquet(batches / "2026-11-21.parquet")
    return {"ref": str(ref), "batches": str(batches)}


def _run(cli: CliRunner, *args: str) -> Any:
    result = cli.invoke(app, list(args))
    return result


@pytest.mark.slow
def test_monitor_run_routes_a_suggestion_that_the_inbox_decides(
    cli: CliRunner, files: dict[str, str]
) -> None:
    bad = _run(
        cli,
        "monitor",
        "add",
        "cancer",
        "--reference",
        files["ref"],
        "--batches",
        files["batches"],
        "--rollback-policy",
        "sometimes",
    )
    assert (
        bad.exit_code == 2 and "'--rollback-policy'" in bad.output and "'sometimes'" in bad.output
    )
    bad = _run(cli, "monitor", "add", "cancer", "--reference", files["ref"], "--cadence", "daily")
    assert bad.exit_code == 2 and "cadence 'daily'" in bad.output
    added = _run(
        cli,
        "monitor",
        "add",
        "cancer",
        "--reference",
        files["ref"],
        "--batches",
        files["batches"],
        "--owner",
        "oncology-ml",
        "--on-call",
        "ana",
        "--shadow",
        "bo",
        "--fallback-version",
        "3",
        "--rollback-policy",
        "auto",
        "--cadence",
        "6h",
    )
    assert added.exit_code == 0, added.output
    shown = json.loads(_run(cli, "monitor", "show", "cancer", "--json").output)["config"]
    assert (
        shown["on_call"],
        shown["shadows"],
        shown["fallback_version"],
        shown["rollback_policy"],
    ) == (
        "ana",
        ["bo"],
        "3",
        "auto",
    )
    ran = _run(cli, "monitor", "run", "cancer")
    assert ran.exit_code == 1  # a blocking finding
    assert (
        "new alert(s) (1 page, 0 ticket)" in ran.output and "mileage suggestions list" in ran.output
    )

    listed = json.loads(_run(cli, "suggestions", "list", "--for", "bo", "--json").output)
    (s,) = [s for s in listed if s["kind"] == "fix_upstream"]
    assert s["alert_level"] == "page" and s["owner"] == "oncology-ml"
    assert json.loads(_run(cli, "suggestions", "list", "--for", "nobody", "--json").output) == []
    human = _run(cli, "suggestions", "show", str(s["id"]))
    assert human.exit_code == 0
    assert "column 'mean_radius': reference" in human.output and "failed checks:" in human.output
    assert "delivery inbox [page]: delivered" in human.output
    assert "delivery webhook [page]: skipped" in human.output  # no URL configured

    ack = _run(cli, "suggestions", "ack", str(s["id"]), "--by", "ana", "--json")
    assert json.loads(ack.output)["status"] == "acknowledged"
    accepted = _run(cli, "suggestions", "accept", str(s["id"]), "--by", "ana")
    assert accepted.exit_code == 0 and "accepted by ana" in accepted.output
    again = _run(cli, "suggestions", "accept", str(s["id"]), "--by", "bo")
    assert again.exit_code == 0 and "already accepted by ana" in again.output
    dismissed = _run(cli, "suggestions", "dismiss", str(s["id"]), "--by", "bo")
    assert dismissed.exit_code == 0 and "already accepted" in dismissed.output
    assert json.loads(_run(cli, "suggestions", "list", "--json").output) == [
        x for x in listed if x["id"] != s["id"] and x["status"] == "open"
    ]
    missing = _run(cli, "suggestions", "show", "999")
    assert missing.exit_code == 1 and "no suggestion has id 999" in missing.output

    alerts = json.loads(_run(cli, "alerts", "list", "--json").output)
    (alert,) = [a for a in alerts if a["id"] == s["alert_id"]]
    assert alert["status"] == "acknowledged" and alert["kind"] == "broken_column"
    history = json.loads(_run(cli, "alerts", "show", str(alert["id"]), "--json").output)
    assert [e["event"] for e in history["events"]][:2] == ["opened", "acknowledged"]
    resolved = _run(cli, "alerts", "resolve", str(alert["id"]), "--by", "ana", "--note", "fixed")
    assert resolved.exit_code == 0 and "resolved" in resolved.output
    assert alert["id"] not in [
        a["id"] for a in json.loads(_run(cli, "alerts", "list", "--json").output)
    ]
    everything = json.loads(_run(cli, "alerts", "list", "--all", "--json").output)
    assert alert["id"] in [a["id"] for a in everything]  # history stays visible
    table = json.loads(_run(cli, "alerts", "actionability", "--json").output)
    row = next(r for r in table if r["kind"] == "broken_column")
    assert (row["acted"], row["closed"]) == (1, 1)
