"""TabRepo's LightGBM table: 93 tasks x 104 configurations, every run scored."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mileage.collectors.metadata import MetadataReport, import_metadata
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.testing import require_shared_data
from mileage.testing.dump import dump_store

SOURCE = FOLDER = "tabrepo-lightgbm"


def source_path(_: str = SOURCE) -> Path:
    return require_shared_data(FOLDER)


@pytest.mark.slow  # imports the whole table on both backends
def test_import_stores_93_tasks_104_configurations_and_9672_scored_runs(
    any_store: TraceStore,
) -> None:
    report = import_metadata(any_store, SOURCE, source_path(SOURCE))
    assert (report.tasks, report.configurations, report.scored_runs) == (93, 104, 9672)
    assert report.distinct_configurations == 104 and report.warnings == []
    counts = any_store.counts()
    assert (counts["tasks"], counts["source_configurations"], counts["runs"]) == (93, 104, 9672)
    assert counts["configurations"] == 104
    before = dump_store(any_store)
    again = import_metadata(any_store, SOURCE, source_path(SOURCE))
    assert again.unchanged and again.runs_written == 0 and again.scored_runs == 9672
    assert dump_store(any_store) == before


@pytest.mark.slow  # imports the whole table on both backends
def test_scores_follow_the_vocabulary(imported: tuple[TraceStore, MetadataReport]) -> None:
    store, _ = imported
    with (source_path(SOURCE) / "lightgbm_results_ranked_by_dataset_valid.csv").open() as fh:
        rows = {(r["dataset"], r["framework"]): r for r in csv.DictReader(fh)}
    with store.connect() as conn:
        tasks = {r.external_id: r for r in conn.execute(select(t.tasks))}
        runs = {
            r.external_id: r.id for r in conn.execute(select(t.runs.c.external_id, t.runs.c.id))
        }
    by_type: dict[str, Any] = {}
    for task in tasks.values():
        by_type.setdefault(task.problem_type, task)
    assert {p: (k.metric, k.metric_direction) for p, k in by_type.items()} == {
        "binary": ("roc_auc", "score"),
        "multiclass": ("log_loss", "error"),
        "regression": ("rmse", "error"),
    }
    for problem, task in by_type.items():
        row = rows[(task.external_id, "LightGBM_r7")]
        value = store.metric_history(runs[f"{task.external_id}/LightGBM_r7"], task.metric)["value"][
            0
        ]
        expected = float(row["metric_error"])
        assert value == (1 - expected if problem == "binary" else expected)
        fit = store.metric_history(runs[f"{task.external_id}/LightGBM_r7"], "fit_time_s")["value"][
            0
        ]
        assert fit == float(row["time_train_s"])


@pytest.mark.slow  # imports the whole table on both backends
def test_configurations_use_lightgbm_names_and_keep_the_default(
    imported: tuple[TraceStore, MetadataReport],
) -> None:
    store, _ = imported
    with store.connect() as conn:
        configs = dict(
            conn.execute(
                select(t.source_configurations.c.external_id, t.configurations.c.params).join(
                    t.configurations,
                    t.configurations.c.id == t.source_configurations.c.configuration_id,
                )
            ).all()
        )
        learners = set(conn.execute(select(t.configurations.c.learner)).scalars())
    assert learners == {"autogluon.lightgbm"}
    assert configs["LightGBM_c1"] == {}  # AutoGluon's default: its own defaults apply
    assert set(configs["LightGBM_r1"]) == {
        "extra_trees",
        "feature_fraction",
        "learning_rate",
        "min_data_in_leaf",
        "num_leaves",
    }


def test_the_same_source_from_another_folder_adds_nothing(
    imported: tuple[TraceStore, MetadataReport], tmp_path: Path
) -> None:
    store, _ = imported
    copy = tmp_path / "tabrepo-copy"
    shutil.copytree(source_path(SOURCE), copy)
    before = store.counts()
    report = import_metadata(store, SOURCE, copy)
    assert report.unchanged  # same files, same digest
    full = import_metadata(store, SOURCE, copy, full=True)
    assert full.runs_written == 9672
    after = store.counts()
    assert after.pop("collector_passes") == before.pop("collector_passes") + 2
    assert after == before
