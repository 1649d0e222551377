"""The metric estimated before labels arrive: CBPE for classifiers, a loss model for regressors
(real data: scikit-learn's bundled breast cancer, digits and diabetes sets, real models)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mileage.monitors.checks import (
    MonitorConfig,
    Severity,
    check_batch,
    fit_estimator,
    infer_suite,
    parse_probability_columns,
)
from mileage.monitors.checks._estimation import expected_roc_auc
from mileage.monitors.checks._performance import PerformanceOptions
from mileage.monitors.checks._slo import window_state
from mileage.platform.errors import ConfigError


@dataclass
class Scored:
    reference: pd.DataFrame  # held-out rows with label, prediction and scores
    batch: pd.DataFrame  # other held-out rows, the same columns
    features: list[str]


def _split(frame: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, ...]:
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    a, b = len(frame) // 3, 2 * len(frame) // 3
    return (
        frame.iloc[:a],
        frame.iloc[a:b].reset_index(drop=True),
        frame.iloc[b:].reset_index(drop=True),
    )


@pytest.fixture(scope="module")
def cancer() -> Scored:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    features = ["mean_radius", "mean_texture", "mean_smoothness", "worst_concavity"]
    train, ref, batch = _split(frame[[*features, "target"]].rename(columns={"target": "label"}))
    model = LogisticRegression(max_iter=5000).fit(train[features], train["label"])
    out = []
    for part in (ref, batch):
        p = model.predict_proba(part[features])[:, 1]
        out.append(part.assign(prediction=(p >= 0.5).astype(int), score=p))
    return Scored(out[0], out[1], features)


@pytest.fixture(scope="module")
def digits() -> Scored:
    """Binary: a digit of 5 or more, from 64 pixel counts (1,797 images, 600 per part)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    frame = load_digits(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    frame["label"] = (frame.pop("target") >= 5).astype(int)
    train, ref, batch = _split(frame)
    model = LogisticRegression(max_iter=300, C=0.01).fit(train[features], train["label"])
    out = []
    for part in (ref, batch):
        p = model.predict_proba(part[features])[:, 1]
        out.append(part.assign(prediction=(p >= 0.5).astype(int), score=p))
    return Scored(out[0], out[1], features)


@pytest.fixture(scope="module")
def diabetes() -> Scored:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    frame = load_diabetes(as_frame=True).frame.rename(columns={"target": "label"})
    features = [c for c in frame.columns if c != "label"]
    train, ref, batch = _split(frame)
    model = Ridge(alpha=0.1).fit(train[features], train["label"])
    ref = ref.assign(prediction=model.predict(ref[features]))
    batch = batch.assign(prediction=model.predict(batch[features]))
    return Scored(ref, batch, features)


def _config(**kw: Any) -> MonitorConfig:
    return MonitorConfig(name="m", reference_uri="-", **kw)


def test_expected_roc_auc_is_the_roc_auc_when_the_labels_are_certain() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    scores = np.round(rng.random(300), 2)  # ties included
    labels = (rng.random(300) < scores).astype(float)
    assert expected_roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))
    assert expected_roc_auc(scores, np.ones(300)) is None  # no negative: undefined


def test_accuracy_estimated_from_calibrated_scores_tracks_the_realised_one(digits: Scored) -> None:
    est = fit_estimator(
        digits.reference,
        metric="accuracy",
        features=digits.features,
        label_column="label",
        prediction_column="prediction",
        probability_columns={"": "score"},
    )
    got = est.estimate(digits.batch)
    realised = float((digits.batch["prediction"] == digits.batch["label"]).mean())
    assert got["accuracy_estimated"] == pytest.approx(realised, abs=0.04)
    assert 0 < got["accuracy_estimated_sd"] < 0.05
    assert got["estimated_rows"] == len(digits.batch)
    # rows near the decision boundary: the model is less sure there, and the estimate says so
    unsure = digits.batch[(digits.batch["score"] - 0.5).abs() < 0.3]
    assert est.estimate(unsure)["accuracy_estimated"] < got["accuracy_estimated"] - 0.1
    assert 0.5 < got["roc_auc_estimated"] <= 1 and 0.5 < got["f1_estimated"] <= 1


def test_multiclass_scores_need_one_column_per_class() -> None:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    digits = load_digits(as_frame=True).frame
    features = [c for c in digits.columns if c != "target"]
    train, ref, batch = _split(digits.rename(columns={"target": "label"}))
    model = LogisticRegression(max_iter=300).fit(train[features], train["label"])

    def scored(part: pd.DataFrame) -> pd.DataFrame:
        probs = pd.DataFrame(
            model.predict_proba(part[features]),
            columns=[f"p{c}" for c in model.classes_],
            index=part.index,
        )
        return pd.concat([part, probs], axis=1).assign(prediction=model.predict(part[features]))

    entries = [f"{c}=p{c}" for c in model.classes_]
    est = fit_estimator(
        scored(ref),
        metric="accuracy",
        features=features,
        label_column="label",
        prediction_column="prediction",
        probability_columns=parse_probability_columns(entries),
    )
    b = scored(batch)
    realised = float((b["prediction"] == b["label"]).mean())
    assert est.estimate(b)["accuracy_estimated"] == pytest.approx(realised, abs=0.04)
    with pytest.raises(ConfigError, match="has no probability column"):
        fit_estimator(
            scored(ref),
            metric="accuracy",
            features=features,
            label_column="label",
            prediction_column="prediction",
            probability_columns=parse_probability_columns(entries[:-1]),
        )
    with pytest.raises(ConfigError, match="describes two classes"):
        fit_estimator(
            scored(ref),
            metric="accuracy",
            features=features,
            label_column="label",
            prediction_column="prediction",
            probability_columns={"": "p1"},
        )


def test_mae_estimated_by_a_model_of_the_error(diabetes: Scored) -> None:
    est = fit_estimator(
        diabetes.reference,
        metric="mae",
        features=diabetes.features,
        label_column="label",
        prediction_column="prediction",
        probability_columns={},
    )
    b = diabetes.batch
    realised = float((b["label"] - b["prediction"]).abs().mean())
    got = est.estimate(b)["mae_estimated"]
    assert got == pytest.approx(realised, rel=0.2)
    # the model errs more on high predictions (the noise grows with the target); so does the
    # estimate, before any label
    high = b[b["prediction"] > b["prediction"].quantile(0.7)]
    assert est.estimate(high)["mae_estimated"] > got


def test_probability_columns_are_parsed_with_clear_errors() -> None:
    assert parse_probability_columns(["score"]) == {"": "score"}
    assert parse_probability_columns(["sun=p_sun", "rain=p_rain"]) == {
        "sun": "p_sun",
        "rain": "p_rain",
    }
    with pytest.raises(ConfigError, match="CLASS=COLUMN"):
        parse_probability_columns(["sun=p_sun", "p_rain"])
    with pytest.raises(ConfigError, match="given twice"):
        parse_probability_columns(["sun=a", "sun=b"])
    with pytest.raises(ConfigError, match="--probability-column"):
        _config(performance={"estimate": True})  # accuracy without scores
    config = _config(probability_columns=["score"], performance={"estimate": True})
    assert "score" in config.excluded  # a model output, not a feature


def test_check_batch_records_the_estimate_and_warns_before_labels(cancer: Scored) -> None:
    config = _config(probability_columns=["score"], performance={"estimate": True, "slo": 0.97})
    suite = infer_suite(cancer.reference, exclude=config.excluded)
    unsure = cancer.batch[(cancer.batch["score"] - 0.5).abs() < 0.35].drop(columns=["label"])
    report, _ = check_batch(
        unsure, reference=cancer.reference, suite=suite, config=config, batch_id="b"
    )
    stats = {s.statistic: s.value for s in report.statistics if s.check_kind == "performance"}
    estimated = stats["accuracy_estimated"]
    assert estimated is not None and estimated < 0.97
    (finding,) = [f for f in report.findings if f.check == "slo_estimated"]
    assert finding.severity == Severity.WARNING and "labels will confirm" in finding.message
    # scores missing from the batch: a warning naming the column, not a crash
    report, _ = check_batch(
        unsure.drop(columns=["score"]),
        reference=cancer.reference,
        suite=suite,
        config=config,
        batch_id="c",
    )
    (missing,) = [f for f in report.findings if f.check == "estimate"]
    assert missing.column == "score" and missing.severity == Severity.WARNING


def test_slo_state_uses_the_estimate_while_labels_are_missing_and_says_so() -> None:
    options = PerformanceOptions(slo=0.9, estimate=True, slo_window=3, min_labels=30)
    labelled: dict[str, float] = {
        "final": 1.0,
        "labelled": 100,
        "accuracy": 0.95,
        "accuracy_sum": 95.0,
    }
    history: list[dict[str, Any]] = [
        {"batch_id": "1", "stats": {**labelled, "accuracy_estimated": 0.94, "estimated_rows": 100}},
        {"batch_id": "2", "stats": {"accuracy_estimated": 0.80, "estimated_rows": 100}},
        {"batch_id": "3", "stats": {"accuracy_estimated": 0.82, "estimated_rows": 100}},
    ]
    state = window_state(history, options)
    assert state.state == "broken" and state.basis == "mixed" and state.estimated_batches == 2
    assert state.value == pytest.approx((95 + 80 + 82) / 300)
    assert "ESTIMATED while labels are missing" in state.reason
    # labels arrive and overturn it: the realised metric replaces the estimate
    for h in history[1:]:
        h["stats"] |= labelled
    state = window_state(history, options)
    assert (state.state, state.basis, state.estimated_batches) == ("healthy", "labels", 0)
    # without --estimate, batches waiting for labels do not count (the state is unknown)
    bare = PerformanceOptions(slo=0.9, slo_window=3)
    assert (
        window_state(
            [history[0] | {"stats": {"accuracy_estimated": 0.5, "estimated_rows": 9}}], bare
        ).state
        == "unknown"
    )
