"""Real data and a real registered model for monitor tests.

:func:`cancer_data` is scikit-learn's breast cancer set with an ``id`` column, split into a
reference and held-out rows; :func:`register_model` trains a scikit-learn pipeline on the
reference, logs it with ``mlflow.sklearn`` to a fresh MLflow SQLite store and registers it
under an alias, as a user's training job would.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


#: The measurements kept (of 30): enough to be realistic, few enough for quick checks.
FEATURES = (
    "mean_radius",
    "mean_texture",
    "mean_perimeter",
    "mean_area",
    "mean_smoothness",
    "mean_concavity",
    "concavity_error",
    "worst_texture",
    "worst_area",
)


@dataclass
class CancerData:
    """Breast cancer rows with ``id`` and ``label``: reference (60%) and held-out (40%)."""

    reference: pd.DataFrame
    held_out: pd.DataFrame
    features: list[str]


@dataclass
class RegisteredModel:
    """Where the registered model lives and which version its alias points at."""

    tracking_uri: str
    model_uri: str
    version: str


def cancer_data() -> CancerData:
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame = frame.rename(columns={"target": "label"})[[*FEATURES, "label"]]
    frame.insert(0, "id", np.arange(len(frame)))
    features = list(FEATURES)
    ref, held = train_test_split(frame, test_size=0.4, random_state=0, stratify=frame["label"])
    return CancerData(ref.reset_index(drop=True), held.reset_index(drop=True), features)


def register_model(
    data: CancerData, root: Path, *, name: str = "cancer", alias: str = "champion"
) -> RegisteredModel:
    """Train, log with ``mlflow.sklearn`` and register ``name@alias`` in ``root/mlflow.db``."""
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    for logger in ("mlflow", "alembic"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    import mlflow
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment("monitors", artifact_location=(root / "artifacts").as_uri())
    X, y = data.reference[data.features], data.reference["label"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X, y)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with warnings.catch_warnings(), mlflow.start_run(experiment_id=exp):
        warnings.simplefilter("ignore")
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=X.head(2), registered_model_name=name
        )
    client.set_registered_model_alias(name, alias, info.registered_model_version)
    return RegisteredModel(
        uri, f"models:/{name}@{alias}", f"{name}/{info.registered_model_version}"
    )
