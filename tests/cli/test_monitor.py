"""``mileage monitor``: end to end through the CLI with a model registered in a real MLflow
store (SQLite tracking URI) under an alias, real data, a real trace store."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mileage.cli import app
from mileage.testing.monitoring import CancerData, RegisteredModel, cancer_data, register_model


@pytest.fixture(scope="module")
def cancer() -> CancerData:
    return cancer_data()


@pytest.fixture(scope="module")
def registered_model(
    cancer: CancerData, tmp_path_factory: pytest.TempPathFactory
) -> RegisteredModel:
    return register_model(cancer, tmp_path_factory.mktemp("mlflow"))


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for key in ("MILEAGE_DB_URL", "MILEAGE_CONFIG", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(key, raising=False)
    return CliRunner()


@pytest.fixture
def pipeline(cancer, registered_model, tmp_path: Path) -> dict[str, str]:
    """Reference (labelled rows the model was trained on), a folder with a clean batch and a
    faulty one (a unit change and a dropped column), and the labels."""
    ref = tmp_path / "ref.parquet"
    cancer.reference.to_parquet(ref)
    batches = tmp_path / "batches"
    batches.mkdir()
    held = cancer.held_out.drop(columns=["label"])
    held.iloc[:110].to_parquet(batches / "2026-11-20.parquet")
    bad = held.iloc[110:].copy()
    bad["mean_radius"] = bad["mean_radius"] * 1000
    bad.drop(columns=["worst_area"]).to_parquet(batches / "2026-11-21.parquet")
    labels = tmp_path / "labels.csv"
    cancer.held_out[["id", "label"]].to_csv(labels, index=False)
    return {
        "ref": str(ref),
        "batches": str(batches),
        "labels": str(labels),
        "tracking": registered_model.tracking_uri,
        "model": registered_model.model_uri,
        "version": registered_model.version,
    }


@pytest.mark.slow  # a registered MLflow model checked end to end through the CLI
def test_add_run_show_edit_remove(cli: CliRunner, pipeline: dict[str, str], tmp_path: Path) -> None:
    added = cli.invoke(
        app,
        [
            "monitor",
            "add",
            "cancer",
            "--model",
            pipeline["model"],
            "--tracking-uri",
            pipeline["tracking"],
            "--reference",
            pipeline["ref"],
            "--batches",
            pipeline["batches"],
            "--labels",
            pipeline["labels"],
            "--id-column",
            "id",
            "--slo",
            "0.9",
            "--slice",
            "big: mean_radius > 15",
            "--cadence",
            "1d",
            "--owner",
            "oncology-ml",
            "--json",
        ],
    )
    assert added.exit_code == 0, added.output
    data = json.loads(added.stdout)
    assert data["suite_version"] == 1 and data["baseline"]["metric"] == "accuracy"
    assert data["warnings"] == []
    ownerless = cli.invoke(
        app,
        [
            *("monitor", "add", "cancer-2", "--model", pipeline["model"]),
            *("--tracking-uri", pipeline["tracking"], "--reference", pipeline["ref"], "--json"),
        ],
    )
    assert ownerless.exit_code == 0, ownerless.output
    (warning,) = json.loads(ownerless.stdout)["warnings"]
    assert "unassigned" in warning and "monitor edit cancer-2 --owner" in warning
    assert cli.invoke(app, ["monitor", "remove", "cancer-2", "--yes"]).exit_code == 0

    run = cli.invoke(app, ["monitor", "run", "cancer", "--json"])
    assert run.exit_code == 1, run.output  # the faulty batch has blocking findings
    batches = {b["batch_id"]: b for b in json.loads(run.stdout)["batches"]}
    clean, bad = batches["2026-11-20"], batches["2026-11-21"]
    assert clean["model_version"] == pipeline["version"]  # the alias, resolved
    assert clean["counts"]["blocking"] == 0
    coverage = [s["value"] for s in clean["statistics"] if s["statistic"] == "label_coverage"]
    assert coverage == [1.0]
    named = {(f["check"], f["column"]) for f in bad["findings"] if f["severity"] == "blocking"}
    assert ("expect_column_to_exist", "worst_area") in named
    assert ("expect_column_values_to_be_between", "mean_radius") in named
    assert ("scoring", None) in named  # the model needs worst_area: reported, not a crash

    again = cli.invoke(app, ["monitor", "run", "cancer"])
    assert again.exit_code == 0 and "no new batches" in again.stdout

    found = json.loads(
        cli.invoke(
            app, ["monitor", "findings", "cancer", "--severity", "blocking", "--json"]
        ).stdout
    )
    assert {f["batch_id"] for f in found} == {"2026-11-21"}
    assert all(f["model_version"] == pipeline["version"] for f in found)

    shown = json.loads(cli.invoke(app, ["monitor", "show", "cancer", "--json"]).stdout)
    assert shown["config"]["owner"] == "oncology-ml" and len(shown["recent_runs"]) == 2

    listed = json.loads(cli.invoke(app, ["monitor", "list", "--json"]).stdout)
    assert [(m["name"], m["runs"], m["last_status"]) for m in listed] == [("cancer", 2, "failed")]

    edit = cli.invoke(app, ["monitor", "edit", "cancer", "--drop-column", "worst_area", "--json"])
    assert edit.exit_code == 0, edit.output
    assert json.loads(edit.stdout)["suite_version"] == 2
    edited = cli.invoke(
        app,
        [
            *("monitor", "edit", "cancer", "--slo-window", "3", "--on-call", "ana"),
            *("--shadow", "bo", "--shadow", "cy", "--json"),
        ],
    )
    assert edited.exit_code == 0, edited.output
    config = json.loads(edited.stdout)["config"]
    assert config["performance"]["slo_window"] == 3 and config["performance"]["slo"] == 0.9
    assert config["on_call"] == "ana" and config["shadows"] == ["bo", "cy"]
    assert config["owner"] == "oncology-ml"  # options not given are kept
    rerun = json.loads(
        cli.invoke(app, ["monitor", "run", "cancer", "--batch", "2026-11-21", "--json"]).stdout
    )
    columns = {
        f["column"] for f in rerun["batches"][0]["findings"] if f["check_kind"] == "validation"
    }
    assert "worst_area" not in columns and "mean_radius" in columns

    exported = tmp_path / "suite.json"
    out = cli.invoke(app, ["monitor", "suite", "cancer", "--export", str(exported)])
    assert out.exit_code == 0 and "versions: 1, 2" in out.stdout
    suite = json.loads(exported.read_text())
    suite["columns"]["mean_radius"]["max"] = 1e9  # the user accepts the new unit
    imported = cli.invoke(app, ["monitor", "suite", "cancer", "--import", str(exported), "--json"])
    assert json.loads(imported.stdout)["suite_version"] == 3

    removed = cli.invoke(app, ["monitor", "remove", "cancer", "--yes", "--json"])
    assert json.loads(removed.stdout) == {
        "name": "cancer",
        "runs": 3,
        "findings": json.loads(removed.stdout)["findings"],
    }
    missing = cli.invoke(app, ["monitor", "show", "cancer"])
    assert missing.exit_code == 1 and "no monitor is called 'cancer'" in missing.stderr


@pytest.mark.slow  # a registered MLflow model checked end to end through the CLI
def test_one_shot_check(cli: CliRunner, pipeline: dict[str, str], tmp_path: Path, cancer) -> None:
    batches = Path(pipeline["batches"])
    base = ["monitor", "check", "--reference", pipeline["ref"]]
    ok = cli.invoke(app, [*base, "--batch", str(batches / "2026-11-20.parquet"), "--json"])
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.stdout)["batches"][0]
    assert report["status"] in ("passed", "warning") and report["n_rows"] == 110

    bad = cli.invoke(app, [*base, "--batch", str(batches / "2026-11-21.parquet"), "--json"])
    assert bad.exit_code == 1
    assert any(
        f["column"] == "mean_radius" for f in json.loads(bad.stdout)["batches"][0]["findings"]
    )

    # scored by the registered model, joined with labels: performance appears
    scored = cli.invoke(
        app,
        [
            *base,
            "--batch",
            str(batches / "2026-11-20.parquet"),
            "--model",
            pipeline["model"],
            "--tracking-uri",
            pipeline["tracking"],
            "--labels",
            pipeline["labels"],
            "--id-column",
            "id",
            "--json",
        ],
    )
    assert scored.exit_code == 0, scored.output
    stats = {
        s["statistic"]: s["value"]
        for s in json.loads(scored.stdout)["batches"][0]["statistics"]
        if s["check_kind"] == "performance" and not s["slice"]
    }
    assert stats["label_coverage"] == 1.0 and stats["accuracy"] > 0.8

    garbage = tmp_path / "broken.parquet"
    garbage.write_bytes(b"PAR1 truncated")
    broken = cli.invoke(app, [*base, "--batch", str(garbage)])
    assert broken.exit_code == 1 and "cannot be read as parquet" in broken.stdout
    assert "Traceback" not in broken.output

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "the batch is empty" in cli.invoke(app, [*base, "--batch", str(empty)]).stdout

    typed = tmp_path / "typed.csv"
    cancer.held_out.head(50).assign(mean_radius="12.5 mm").to_csv(typed, index=False)
    wrong = cli.invoke(app, [*base, "--batch", str(typed), "--json"])
    checks = {(f["check"], f["column"]) for f in json.loads(wrong.stdout)["batches"][0]["findings"]}
    assert ("expect_column_values_to_be_in_type_list", "mean_radius") in checks

    usage = cli.invoke(app, [*base, "--batch", str(typed), "--fail-on", "sometimes"])
    assert usage.exit_code == 2 and "Invalid value for '--fail-on'" in usage.stderr
    nofile = cli.invoke(
        app, ["monitor", "check", "--reference", "nope.parquet", "--batch", str(typed)]
    )
    assert nofile.exit_code == 1 and "reference file 'nope.parquet' does not exist" in nofile.stderr


def test_key_columns_are_validated_stored_and_checked(
    cli: CliRunner, pipeline: dict[str, str], tmp_path: Path, cancer
) -> None:
    base = ["monitor", "add", "keyed", "--reference", pipeline["ref"], "--owner", "ml"]
    bad = cli.invoke(app, [*base, "--key", "order_id"])
    assert bad.exit_code == 2, bad.output
    assert "--key 'order_id': the reference has no such column" in bad.stderr
    batches = tmp_path / "keyed"
    batches.mkdir()
    held = cancer.held_out.drop(columns=["label"]).iloc[:60]
    pd.concat([held, held.iloc[[5]]]).to_parquet(batches / "b1.parquet")
    added = cli.invoke(app, [*base, "--key", "id", "--batches", str(batches), "--json"])
    assert added.exit_code == 0, added.output
    shown = json.loads(cli.invoke(app, ["monitor", "show", "keyed", "--json"]).stdout)
    assert shown["config"]["key_columns"] == ["id"]
    run = cli.invoke(app, ["monitor", "run", "keyed", "--json"])
    assert run.exit_code == 1, run.output
    (batch,) = json.loads(run.stdout)["batches"]
    blocking = [f for f in batch["findings"] if f["severity"] == "blocking"]
    assert [(f["check"], f["column"]) for f in blocking] == [("key_unique", "id")]
    edit = cli.invoke(app, ["monitor", "edit", "keyed", "--key", "nope"])
    assert edit.exit_code == 2 and "--key 'nope'" in edit.stderr
