"""FLAML's zero-shot portfolios and neighbour tables."""

from __future__ import annotations

import json

from sqlalchemy import select

from mileage.collectors.metadata import MetadataReport
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.testing import require_shared_data

SOURCE = "flaml-zeroshot"
FOLDER = "flaml-zeroshot"


def test_portfolios_neighbours_and_choices(imported: tuple[TraceStore, MetadataReport]) -> None:
    store, report = imported
    files = sorted(require_shared_data(FOLDER).glob("*/*.json"))
    data = [json.loads(f.read_text()) for f in files]
    assert (
        report.portfolio_members == report.configurations == sum(len(d["portfolio"]) for d in data)
    )
    assert report.runs_seen == sum(len(n["choice"]) for d in data for n in d["neighbors"])
    # per-learner files repeat their datasets and configurations in all/: stored once
    assert report.datasets == 60 and report.distinct_configurations == 72
    with store.connect() as conn:
        ranks = conn.execute(select(t.tasks.c.metric, t.tasks.c.metric_direction).distinct()).all()
    assert ranks == [("portfolio_rank", "error")]


def test_neighbour_meta_features_are_destandardised(
    imported: tuple[TraceStore, MetadataReport],
) -> None:
    store, _ = imported
    with store.connect() as conn:
        features = [r for r in conn.execute(select(t.datasets.c.meta_features)).scalars()]
    assert all(f["n_instances"] == int(f["n_instances"]) > 0 for f in features)
    assert all(0 <= f["numeric_features_ratio"] <= 1 for f in features)
    assert {f["n_classes"] for f in features} >= {0.0, 2.0}


def test_lightgbm_configurations_share_the_vocabulary(
    imported: tuple[TraceStore, MetadataReport],
) -> None:
    store, _ = imported
    with store.connect() as conn:
        rows = (
            conn.execute(
                select(t.configurations.c.params).where(
                    t.configurations.c.learner == "flaml.lightgbm"
                )
            )
            .scalars()
            .all()
        )
    assert {} in rows  # FLAML's own default
    tuned = [r for r in rows if r]
    assert tuned and all("feature_fraction" in r and "colsample_bytree" not in r for r in tuned)
    assert all(r["max_bin"] in {2**k - 1 for k in range(3, 12)} for r in tuned)
