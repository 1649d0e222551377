"""LCDB: learning curves with train times, from the aggregated table or the raw sdist layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from mileage.collectors.metadata import MetadataReport
from mileage.collectors.metadata._lcdb import aggregate_raw, learner_of
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t

SOURCE = "lcdb"
FOLDER = "lcdb"


@pytest.mark.slow  # imports the whole published table
def test_curves_of_20_learners_on_248_datasets(imported: tuple[TraceStore, MetadataReport]) -> None:
    store, report = imported
    assert (report.tasks, report.configurations, report.runs_seen) == (248, 20, 4367)
    assert report.scored_runs == 4367 and report.datasets == 270
    assert any("without OpenML qualities (no meta-features) (51x" in w for w in report.warnings)
    with store.connect() as conn:
        run_id = conn.execute(
            select(t.runs.c.id).where(t.runs.c.external_id == "3/SVC_linear")
        ).scalar_one()
    accuracy = store.metric_history(run_id, "accuracy")
    assert accuracy["step"][:3].tolist() == [16, 23, 32]
    assert np.all(np.diff(accuracy["step"]) > 0)
    assert abs(accuracy["value"][0] - 0.687497) < 1e-6
    times = store.metric_history(run_id, "fit_time_s")
    assert times["step"].tolist() == accuracy["step"].tolist() and times["value"][0] > 0
    assert {"roc_auc", "log_loss", "test_accuracy", "train_accuracy", "n_seeds"} <= _keys(
        store, run_id
    )


def _keys(store: TraceStore, run_id: int) -> set[str]:
    with store.connect() as conn:
        return set(
            conn.execute(
                select(t.metric_histories.c.key).where(t.metric_histories.c.run_id == run_id)
            ).scalars()
        )


def test_raw_per_seed_files_aggregate_like_the_published_table(tmp_path: Path) -> None:
    # The sdist's layout (one row per seed), written here for two anchors of one curve.
    raw = pd.DataFrame(
        {
            "openmlid": [3, 3, 3, 3],
            "learner": ["sklearn.tree.DecisionTreeClassifier"] * 4,
            "size_train": [16, 16, 16, 23],
            "size_test": [100] * 4,
            "outer_seed": [0, 1, 2, 0],
            "inner_seed": [0, 0, 0, 0],
            "traintime": [0.1, 0.2, 0.3, 0.4],
            "score_train": [1.0, 1.0, 1.0, 1.0],
            "score_valid": [0.5, 0.6, 0.7, 0.8],
            "score_test": [0.4, 0.5, 0.6, 0.7],
        }
    )
    raw.to_csv(tmp_path / "database-accuracy.csv", index=False)
    agg = aggregate_raw(tmp_path)
    first = agg.iloc[0]
    assert first["learner"] == "tree.DecisionTreeClassifier"  # as in the published table
    assert (first["n"], first["valid_mean"]) == (3, 0.6)
    assert abs(first["valid_std"] - 0.1) < 1e-12 and np.isnan(agg.iloc[1]["valid_std"])
    assert learner_of("SVC_rbf") == ("sklearn.svm.SVC", {"kernel": "rbf"})
