"""auto-sklearn's meta-data: incumbents per dataset and metric, 37 meta-features, portfolios."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import func, select

from mileage.collectors.metadata import MetadataReport, import_metadata
from mileage.collectors.metadata._autosklearn import _arff
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.platform.vocabulary import META_FEATURES
from mileage.testing import require_shared_data

SOURCE = "autosklearn"
FOLDER = "autosklearn-metadata"


def test_counts_and_statuses(imported: tuple[TraceStore, MetadataReport]) -> None:
    store, report = imported
    assert (report.datasets, report.tasks) == (319, 319)  # 208 classification + 111 regression
    assert report.runs_seen == 8622 and report.scored_runs == 6600
    assert report.portfolio_members == 24 * 32
    # the same configuration in several folders and portfolios is one row
    assert report.configurations == 9178 and report.distinct_configurations == 2028
    with store.connect() as conn:
        statuses: dict[str, int] = dict(
            conn.execute(select(t.runs.c.status, func.count()).group_by(t.runs.c.status)).all()
        )
    assert statuses == {"FINISHED": 6600, "SKIPPED": 2022}  # metric not applicable: not a failure


def test_all_37_meta_features_map_into_the_vocabulary(
    imported: tuple[TraceStore, MetadataReport],
) -> None:
    store, _ = imported
    header, _ = _arff(
        require_shared_data(
            FOLDER, "metalearning", "accuracy_binary.classification_dense", "feature_values.arff"
        )
    )
    published = set(header) - {"instance_id", "repetition"}
    mapped = {f.autosklearn: f.name for f in META_FEATURES if f.autosklearn}
    assert len(published) == 37 and published == set(mapped)
    with store.connect() as conn:
        anneal = conn.execute(
            select(t.datasets.c.meta_features, t.datasets.c.profile).where(
                t.datasets.c.external_id == "classification/anneal"
            )
        ).one()
    assert set(mapped.values()) <= set(anneal.meta_features)
    assert anneal.meta_features["n_features"] == 38 and anneal.meta_features["n_instances"] == 602
    assert anneal.profile["meta_feature_basis"] == "auto-sklearn's training split"


def test_costs_become_scores(imported: tuple[TraceStore, MetadataReport]) -> None:
    store, _ = imported
    with store.connect() as conn:
        run_id = conn.execute(
            select(t.runs.c.id).where(
                t.runs.c.external_id == "accuracy_binary.classification_dense/anneal/58"
            )
        ).scalar_one()
        regression = conn.execute(
            select(t.runs.c.id).where(t.runs.c.external_id.like("r2_regression_dense/abalone/%"))
        ).scalar_one()
    assert store.metric_history(run_id, "accuracy")["value"][0] == 1 - 0.0033783783783783994
    assert 0 < store.metric_history(regression, "r2")["value"][0] < 1


def test_an_identical_multiclass_folder_is_not_imported_twice(tmp_path: Path) -> None:
    root = tmp_path / "askl"
    (root / "metalearning").mkdir(parents=True)
    src = require_shared_data(FOLDER, "metalearning", "accuracy_binary.classification_dense")
    shutil.copytree(src, root / "metalearning" / src.name)
    shutil.copytree(src, root / "metalearning" / "accuracy_multiclass.classification_dense")
    store = TraceStore.open(f"sqlite:///{tmp_path / 'trace.db'}")
    report = import_metadata(store, SOURCE, root)
    assert report.runs_seen == 205 and report.datasets == 208
    store.close()
