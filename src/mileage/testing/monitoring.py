"""Real data and a real registered model for monitor tests.

:func:`cancer_data` is scikit-learn's breast cancer set with an ``id`` column, split into a
reference and held-out rows; :func:`register_model` trains a scikit-learn pipeline on the
reference, logs it with ``mlflow.sklearn`` to a fresh MLflow SQLite store and registers it
under an alias, as a user's training job would; :func:`monitored_pipeline` writes a
pipeline's files with a fault to find (dashboards and daemon tests).
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mileage.monitors import MonitorConfig


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


def _classifier(data: CancerData) -> Any:
    """The model :func:`register_model` registers (deterministic: refitting gives the same)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = data.reference[data.features], data.reference["label"]
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X, y)


def register_model(
    data: CancerData,
    root: Path | None,
    *,
    name: str = "cancer",
    alias: str = "champion",
    tracking_uri: str | None = None,
) -> RegisteredModel:
    """Train, log with ``mlflow.sklearn`` and register ``name@alias`` in ``root/mlflow.db``,
    or, given ``tracking_uri`` (a tracking server), on that server, which then decides where
    the artifacts go (``mlflow-artifacts:/`` when it proxies them)."""
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    for logger in ("mlflow", "alembic"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    import mlflow
    import sklearn

    if tracking_uri is None:
        if root is None:
            raise ValueError("register_model needs a root folder or a tracking_uri")
        uri = f"sqlite:///{root / 'mlflow.db'}"
        artifacts: str | None = (root / "artifacts").as_uri()
    else:
        uri, artifacts = tracking_uri, None
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment("monitors", artifact_location=artifacts)
    X = data.reference[data.features]
    model = _classifier(data)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with warnings.catch_warnings(), mlflow.start_run(experiment_id=exp):
        warnings.simplefilter("ignore")
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=X.head(2),
            registered_model_name=name,
            # stated, not inferred: inferring them loads the model in a subprocess (~15 s)
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
        )
    client.set_registered_model_alias(name, alias, info.registered_model_version)
    return RegisteredModel(
        uri, f"models:/{name}@{alias}", f"{name}/{info.registered_model_version}"
    )


def monitored_pipeline(
    data: CancerData,
    root: Path,
    model: RegisteredModel,
    *,
    name: str = "cancer",
    estimate: bool = False,
) -> MonitorConfig:
    """Files and configuration of a monitored pipeline with something to find.

    Writes under ``root``: the reference (labelled held-out rows), two batches served with a
    ``scored_at`` time (``2026-11-20`` clean; ``2026-11-21`` with ``mean_radius`` x1000, a
    unit change upstream) and their labels, arriving two days later, from two labelers. The monitor has an SLO
    (accuracy 0.9), a slice, an owner and an on-call, and ``model`` scores the batches.
    With ``estimate`` the batches and the reference also carry the model's positive-class
    probability (``score``, as a serving job would send it) and the monitor estimates its
    accuracy before the labels arrive.
    """
    import pandas as pd

    from mileage.monitors import MonitorConfig

    folder = root / f"pipeline-{name}"
    batches = folder / "batches"
    batches.mkdir(parents=True, exist_ok=True)
    reference = data.reference.iloc[170:]
    served = data.held_out.drop(columns=["label"])
    if estimate:
        clf = _classifier(data)
        reference = reference.assign(
            score=clf.predict_proba(reference[data.features])[:, 1],
            prediction=clf.predict(reference[data.features]),
        )
        served = served.assign(score=clf.predict_proba(served[data.features])[:, 1])
    reference.to_parquet(folder / "reference.parquet")
    times = {"2026-11-20": "2026-11-20T06:00:00Z", "2026-11-21": "2026-11-21T06:00:00Z"}
    clean, broken = served.iloc[:110].copy(), served.iloc[110:].copy()
    broken["mean_radius"] = broken["mean_radius"] * 1000
    for (batch, when), frame in zip(times.items(), (clean, broken)):
        frame.assign(scored_at=pd.Timestamp(when)).to_parquet(batches / f"{batch}.parquet")
    labels = data.held_out[["id", "label"]].assign(
        labelled_at=[pd.Timestamp(times["2026-11-20"]) + pd.Timedelta(days=2)] * len(served)
    )
    # a second labeler (SYNTHETIC): disagrees with the first on every 20th row
    second = labels["label"].copy()
    second.iloc[::20] = 1 - second.iloc[::20]
    labels["label_second_labeler"] = second
    labels.to_parquet(folder / "labels.parquet")
    return MonitorConfig(
        name=name,
        reference_uri=str(folder / "reference.parquet"),
        model_uri=model.model_uri,
        tracking_uri=model.tracking_uri,
        batches_uri=str(batches),
        labels_uri=str(folder / "labels.parquet"),
        id_column="id",
        timestamp_column="scored_at",
        label_timestamp_column="labelled_at",
        owner="oncology-ml",
        on_call="ana",
        cadence="1d",
        slices=["small: mean_radius < 13"],
        performance={"slo": 0.9, "estimate": estimate},
        probability_columns=["score"] if estimate else [],
        labeler_columns=["label", "label_second_labeler"],
    )
