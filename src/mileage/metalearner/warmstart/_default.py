"""The warm-start model shipped inside the package, so recommendations work right after
installation with an empty trace store.

It is the :class:`~mileage.metalearner.warmstart._ranker.WarmStartRanker` trained on TabRepo's
LightGBM matrix (104 configurations on 93 OpenML tasks; Apache-2.0, autogluon/tabrepo at
commit 27aa88f; licence and attribution in the ``default/`` folder), stored as LightGBM text
models plus JSON (no pickle). A model trained into the trace store, or traces imported there,
take precedence (:func:`~mileage.metalearner.warmstart._service.resolve_warmstart`).

``mileage warmstart build-default --data DIR`` rebuilds the files from the TabRepo folder;
:func:`build_default_files` is deterministic (one thread, fixed seeds, sorted JSON), so a
rebuild on the same platform gives the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mileage.metalearner.warmstart._service import LoadedModel
    from mileage.metalearner.warmstart._traces import Traces

#: Folder of the shipped artefact (inside the installed package).
DEFAULT_DIR = Path(__file__).resolve().parent / "default"
#: Version of the shipped artefact; bump it when the files change.
DEFAULT_VERSION = 1
#: The date the artefact's version was built (kept fixed so rebuilds are byte-identical).
DEFAULT_BUILT = "2026-12-05T00:00:00+00:00"
#: Where the training data came from.
DEFAULT_SOURCE = {
    "name": "tabrepo-lightgbm",
    "repository": "https://github.com/autogluon/tabrepo",
    "commit": "27aa88f",
    "licence": "Apache-2.0",
    "files": [
        "lightgbm_results_ranked_by_dataset_valid.csv",
        "configs_lightgbm_20221004.json",
        "lightgbm_task_metadata_new_and_old.csv",
        "task_metadata_244.csv",
    ],
}
#: Files of the artefact besides the model (licence and attribution).
LEGAL_FILES = ("LICENSE-tabrepo", "NOTICE")


def build_default_files(traces: Traces, params: dict[str, Any] | None = None) -> dict[str, str]:
    """The artefact's model files (name -> text) from TabRepo's traces.

    Args:
        traces: What :func:`~mileage.metalearner.warmstart._traces.read_traces` read from a
            store holding only TabRepo's LightGBM matrix.
        params: Ranker parameters (default: the ranker's defaults).
    """
    from mileage.metalearner.warmstart._configspace import FEATURE_NAMES
    from mileage.metalearner.warmstart._ranker import WarmStartRanker

    X = traces.meta_matrix()
    features = traces.configurations[list(FEATURE_NAMES)].to_numpy(dtype=float)
    model = WarmStartRanker(**dict(params or {})).fit(
        X, traces.errors.to_numpy(dtype=float), configurations=features
    )
    by_source: dict[str, int] = {}
    for source in traces.tasks["source"]:
        by_source[source] = by_source.get(source, 0) + 1
    metadata = {
        "kind": "warmstart",
        "version": DEFAULT_VERSION,
        "trained_at": DEFAULT_BUILT,
        "built_from": DEFAULT_SOURCE,
        "meta_features": list(X.columns),
        "tasks_by_source": by_source,
        "problem_types": {
            str(k): int(v) for k, v in sorted(traces.tasks["problem_type"].value_counts().items())
        },
        "skipped": dict(sorted(traces.skipped.items())),
        "configurations": [
            {
                "key": key,
                "learner": row["learner"],
                "params": row["params"],
                "names": dict(sorted(row["names"].items())),
            }
            for key, row in traces.configurations.iterrows()
        ],
    }
    return model.to_files(metadata)


def load_default() -> LoadedModel:
    """The shipped model.

    Raises:
        ModelFormatError: The package was installed without its data files.
    """
    from mileage.metalearner.warmstart._ranker import WarmStartRanker
    from mileage.metalearner.warmstart._service import LoadedModel

    model = WarmStartRanker.load(DEFAULT_DIR)
    metadata = dict(model.metadata_)
    created = datetime.fromisoformat(metadata.get("trained_at", DEFAULT_BUILT)).astimezone(UTC)
    return LoadedModel(model, metadata, 0, created, origin="embedded")


__all__ = [
    "DEFAULT_DIR",
    "DEFAULT_SOURCE",
    "DEFAULT_VERSION",
    "LEGAL_FILES",
    "build_default_files",
    "load_default",
]
