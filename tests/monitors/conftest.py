"""Fixtures for the monitor tests: real data (scikit-learn's breast cancer set) and a real
model registered in a real MLflow store (SQLite tracking URI) under an alias."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest


@dataclass
class CancerData:
    """The breast cancer data with an ``id`` column, split into reference (training rows,
    with labels and the model's predictions) and held-out rows."""

    reference: pd.DataFrame
    held_out: pd.DataFrame
    features: list[str]


@pytest.fixture(scope="session")
def cancer() -> CancerData:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame = frame.rename(columns={"target": "label"})
    frame.insert(0, "id", np.arange(len(frame)))
    features = [c for c in frame.columns if c not in ("id", "label")]
    ref, held = train_test_split(frame, test_size=0.4, random_state=0, stratify=frame["label"])
    return CancerData(ref.reset_index(drop=True), held.reset_index(drop=True), features)


@dataclass
class RegisteredModel:
    tracking_uri: str
    model_uri: str
    version: str


@pytest.fixture(scope="session")
def registered_model(
    cancer: CancerData, tmp_path_factory: pytest.TempPathFactory
) -> RegisteredModel:
    """A scikit-learn pipeline logged with mlflow.sklearn and registered as cancer@champion."""
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    import logging

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import mlflow
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment("monitors", artifact_location=(root / "artifacts").as_uri())
    X, y = cancer.reference[cancer.features], cancer.reference["label"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X, y)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with warnings.catch_warnings(), mlflow.start_run(experiment_id=exp):
        warnings.simplefilter("ignore")
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=X.head(2), registered_model_name="cancer"
        )
    client.set_registered_model_alias("cancer", "champion", info.registered_model_version)
    return RegisteredModel(uri, "models:/cancer@champion", f"cancer/{info.registered_model_version}")

