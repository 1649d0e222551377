"""The model's metric estimated before labels arrive.

Labels often arrive days or weeks after the predictions. Until then the monitor estimates the
metric from what every batch carries:

* **Classifiers** with probability columns: *confidence-based performance estimation*. The
  scores are calibrated on the labelled reference (isotonic regression from 200 labelled rows,
  Platt scaling below), one class against the rest, and renormalised per row. A calibrated
  probability is the chance that the row belongs to the class, so the batch's expected
  accuracy is the mean calibrated probability of the predicted class; for two classes the
  expected F1 of the positive class (expected true positives, false positives and false
  negatives) and the expected ROC AUC (every positive-negative pair weighted by the chance that
  it is one) are recorded too.
* **Regressors**: *direct loss estimation*. A LightGBM model of the absolute error, fitted on
  the labelled reference with the features and the prediction as inputs, predicts each row's
  expected error; the batch's expected MAE is their mean.

Both assume the relation between inputs and labels holds (covariate shift, not a change of
what a label means); the estimate follows feature drift into regions where the model is less
sure, but cannot see a concept change. Each batch records ``<metric>_estimated`` (with
``<metric>_estimated_sd``, the sampling spread of the estimate, and ``estimated_rows``) as
performance statistics; the SLO state judges batches without final labels on the estimate
(see :mod:`mileage.monitors.checks._slo`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mileage.monitors.checks._findings import BatchReport, Finding, Severity
from mileage.platform.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: Labelled reference rows needed to estimate at all, and for isotonic calibration.
MIN_REFERENCE_ROWS = 50
ISOTONIC_ROWS = 200
#: Reference rows the loss model is fitted on (a random sample above this).
LOSS_MODEL_ROWS = 50_000


def parse_probability_columns(entries: Sequence[str]) -> dict[str, str]:
    """``--probability-column`` values to ``{class: column}``.

    One plain column name is a binary classifier's probability of its positive class (the
    larger of the two labels, ``1`` for 0/1 labels), stored under the key ``""``; otherwise
    every entry is ``CLASS=COLUMN``.

    Raises:
        ConfigError: An entry without ``=`` among several, or a class named twice.
    """
    if not entries:
        return {}
    if len(entries) == 1 and "=" not in entries[0]:
        return {"": entries[0].strip()}
    out: dict[str, str] = {}
    for entry in entries:
        cls, sep, column = entry.partition("=")
        if not sep or not cls.strip() or not column.strip():
            raise ConfigError(
                f"probability column {entry!r} names no class; with several probability "
                "columns give each as CLASS=COLUMN (e.g. --probability-column sun=p_sun), or "
                "give one column holding a binary classifier's positive-class probability."
            )
        if cls.strip() in out:
            raise ConfigError(f"probability column for class {cls.strip()!r} is given twice.")
        out[cls.strip()] = column.strip()
    return out


def _key(values: Any) -> np.ndarray:
    """Labels and predictions compared as text, numbers without a trailing ``.0``."""
    import numpy as np
    import pandas as pd

    s = pd.Series(values)
    num = pd.to_numeric(s, errors="coerce")
    if num.notna().all():
        ints = num.round() == num
        return np.where(ints, num.round().astype("int64").astype(str), num.astype(str))
    return s.astype(str).to_numpy()


@dataclass
class Calibrator:
    """A monotone map from a score to the chance of its class."""

    kind: str  # isotonic | platt | constant
    model: Any = None
    value: float = 0.0

    @classmethod
    def fit(cls, scores: np.ndarray, hits: np.ndarray) -> Calibrator:
        import numpy as np

        if hits.min() == hits.max():
            return cls("constant", value=float(hits[0]))
        if len(scores) >= ISOTONIC_ROWS:
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            return cls("isotonic", iso.fit(scores, hits))
        from sklearn.linear_model import LogisticRegression

        logit = np.log(np.clip(scores, 1e-6, 1 - 1e-6) / np.clip(1 - scores, 1e-6, 1 - 1e-6))
        return cls("platt", LogisticRegression().fit(logit.reshape(-1, 1), hits))

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        import numpy as np

        if self.kind == "constant":
            return np.full(len(scores), self.value)
        if self.kind == "isotonic":
            return np.asarray(self.model.predict(scores), dtype=float)
        logit = np.log(np.clip(scores, 1e-6, 1 - 1e-6) / np.clip(1 - scores, 1e-6, 1 - 1e-6))
        return np.asarray(self.model.predict_proba(logit.reshape(-1, 1))[:, 1], dtype=float)


@dataclass
class ConfidenceEstimator:
    """CBPE: calibrated class probabilities give the expected accuracy (F1, ROC AUC)."""

    classes: list[str]
    columns: list[str]
    calibrators: list[Calibrator]
    prediction_column: str
    reference_accuracy: float
    binary: bool = False
    kinds: set[str] = field(default_factory=set)

    @classmethod
    def fit(
        cls,
        reference: pd.DataFrame,
        *,
        probability_columns: dict[str, str],
        label_column: str,
        prediction_column: str,
    ) -> ConfidenceEstimator:
        import numpy as np

        missing = [
            c
            for c in (*probability_columns.values(), label_column, prediction_column)
            if c not in reference.columns
        ]
        if missing:
            raise ConfigError(
                f"the reference has no column {missing[0]!r}, needed to calibrate the scores "
                "for the performance estimate; add it (labels, predictions and probabilities "
                "of held-out rows) or fix --probability-column / --label-column."
            )
        rows = reference.dropna(
            subset=[label_column, prediction_column, *probability_columns.values()]
        )
        labels = _key(rows[label_column])
        present = sorted(set(labels))
        if "" in probability_columns:
            if len(present) > 2:
                raise ConfigError(
                    f"one probability column {probability_columns['']!r} describes two "
                    f"classes, but the reference's labels hold {len(present)} "
                    f"({', '.join(present[:6])}); give one per class as CLASS=COLUMN."
                )
            positive = _positive(present)
            negative = next((c for c in present if c != positive), "0")
            classes, columns = [negative, positive], [probability_columns[""]] * 2
        else:
            classes = list(probability_columns)
            columns = [probability_columns[c] for c in classes]
            unknown = sorted(set(present) - set(classes))
            if unknown:
                raise ConfigError(
                    f"the reference's labels include {unknown[0]!r}, which has no probability "
                    f"column (classes given: {', '.join(classes)}); add "
                    f"--probability-column {unknown[0]}=COLUMN."
                )
        if len(rows) < MIN_REFERENCE_ROWS:
            raise ConfigError(
                f"the reference has {len(rows)} labelled rows with scores; calibrating the "
                f"performance estimate needs at least {MIN_REFERENCE_ROWS}."
            )
        binary = "" in probability_columns
        calibrators = []
        for i, (c, col) in enumerate(zip(classes, columns)):
            p = rows[col].to_numpy(dtype=float)
            if binary and i == 0:
                p = 1 - p
            calibrators.append(Calibrator.fit(p, (labels == c).astype(float)))
        hits = _key(rows[prediction_column]) == labels
        return cls(
            classes,
            columns,
            calibrators,
            prediction_column,
            float(np.mean(hits)),
            binary,
            {k.kind for k in calibrators},
        )

    def probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated class probabilities, one column per class, rows summing to 1."""
        import numpy as np

        raw = []
        for i, col in enumerate(self.columns):
            p = np.clip(frame[col].to_numpy(dtype=float), 0.0, 1.0)
            raw.append(self.calibrators[i](1 - p if self.binary and i == 0 else p))
        probs = np.column_stack(raw)
        total = probs.sum(axis=1, keepdims=True)
        even = np.full_like(probs, 1 / probs.shape[1])
        return np.where(total > 0, probs / np.where(total > 0, total, 1), even)

    def estimate(self, frame: pd.DataFrame) -> dict[str, float]:
        import numpy as np

        rows = frame.dropna(subset=[self.prediction_column, *set(self.columns)])
        if not len(rows):
            return {}
        probs = self.probabilities(rows)
        pred = _key(rows[self.prediction_column])
        index = {c: i for i, c in enumerate(self.classes)}
        at = np.array([index.get(p, -1) for p in pred])
        hit = np.where(at >= 0, probs[np.arange(len(rows)), np.maximum(at, 0)], 0.0)
        out = {
            "accuracy_estimated": float(hit.mean()),
            "accuracy_estimated_sd": float(math.sqrt((hit * (1 - hit)).sum()) / len(rows)),
            "estimated_rows": float(len(rows)),
        }
        if self.binary:
            pos = probs[:, 1]
            said = at == 1
            tp, fp = float(pos[said].sum()), float((1 - pos[said]).sum())
            fn = float(pos[~said].sum())
            out["f1_estimated"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else 0.0
            auc = expected_roc_auc(rows[self.columns[1]].to_numpy(dtype=float), pos)
            if auc is not None:
                out["roc_auc_estimated"] = auc
        return out


def _positive(classes: list[str]) -> str:
    """The positive class of two: ``1`` for 0/1 labels, else the larger one."""
    try:
        return str(max(classes, key=float))
    except ValueError:
        return max(classes) if classes else "1"


def expected_roc_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """ROC AUC expected when row ``i`` is positive with probability ``positive[i]``.

    Every pair (i, j) counts as a positive-negative pair with weight ``p_i (1 - p_j)``; the
    pair is ordered right when ``scores[i] > scores[j]`` (half for ties). Sorted once, so
    O(n log n).
    """
    import numpy as np

    order = np.argsort(scores, kind="stable")
    s, p = scores[order], positive[order]
    neg = 1 - p
    # negatives' weight strictly below each score, and at the same score
    uniq, start, counts = np.unique(s, return_index=True, return_counts=True)
    neg_cum = np.concatenate([[0.0], np.cumsum(neg)])
    below = neg_cum[start]
    tied = neg_cum[start + counts] - below
    group = np.repeat(np.arange(len(uniq)), counts)
    right = float((p * (below[group] + 0.5 * (tied[group] - neg))).sum())
    total = float(p.sum() * neg.sum() - (p * neg).sum())
    return right / total if total > 0 else None


@dataclass
class LossEstimator:
    """DLE: a model of each row's absolute error gives the expected MAE."""

    features: list[str]
    prediction_column: str
    model: Any
    categories: dict[str, list[Any]]
    reference_mae: float

    @classmethod
    def fit(
        cls,
        reference: pd.DataFrame,
        *,
        features: Sequence[str],
        label_column: str,
        prediction_column: str,
    ) -> LossEstimator:
        import lightgbm as lgb
        import numpy as np

        missing = [c for c in (label_column, prediction_column) if c not in reference.columns]
        if missing:
            raise ConfigError(
                f"the reference has no column {missing[0]!r}, needed to fit the error model "
                "of the performance estimate; add labels and predictions of held-out rows."
            )
        rows = reference[reference[label_column].notna() & reference[prediction_column].notna()]
        if len(rows) < MIN_REFERENCE_ROWS:
            raise ConfigError(
                f"the reference has {len(rows)} labelled rows with predictions; the error model "
                f"of the performance estimate needs at least {MIN_REFERENCE_ROWS}."
            )
        if len(rows) > LOSS_MODEL_ROWS:
            rows = rows.sample(LOSS_MODEL_ROWS, random_state=0)
        cols = [c for c in features if c in rows.columns and c != prediction_column]
        categories = {
            c: sorted(rows[c].dropna().astype(str).unique()) for c in cols if not _numeric(rows[c])
        }
        x = _design(rows, cols, prediction_column, categories)
        err = np.abs(
            rows[label_column].to_numpy(dtype=float) - rows[prediction_column].to_numpy(dtype=float)
        )
        model = lgb.LGBMRegressor(
            n_estimators=200,
            learning_rate=0.05,
            num_leaves=15,
            min_child_samples=max(20, len(rows) // 200),
            subsample=0.8,
            subsample_freq=1,
            random_state=0,
            n_jobs=1,
            verbose=-1,
        ).fit(x, err)
        return cls(cols, prediction_column, model, categories, float(err.mean()))

    def estimate(self, frame: pd.DataFrame) -> dict[str, float]:
        import numpy as np

        rows = frame[frame[self.prediction_column].notna()]
        if not len(rows):
            return {}
        x = _design(rows, self.features, self.prediction_column, self.categories)
        loss = np.clip(np.asarray(self.model.predict(x), dtype=float), 0.0, None)
        return {
            "mae_estimated": float(loss.mean()),
            "mae_estimated_sd": float(loss.std() / math.sqrt(len(loss))),
            "estimated_rows": float(len(rows)),
        }


def _numeric(series: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series)) and not pd.api.types.is_bool_dtype(series)


def _design(
    rows: pd.DataFrame, cols: list[str], prediction: str, categories: dict[str, list[Any]]
) -> pd.DataFrame:
    """Model inputs: numbers as floats, other columns as the reference's categories."""
    import numpy as np
    import pandas as pd

    data: dict[str, Any] = {}
    for c in cols:
        if c not in rows.columns:
            data[c] = np.full(len(rows), np.nan)
        elif c in categories:
            data[c] = pd.Categorical(rows[c].astype(str), categories=categories[c])
        else:
            data[c] = pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype=float)
    data["__prediction__"] = rows[prediction].to_numpy(dtype=float)
    return pd.DataFrame(data, index=rows.index)


Estimator = ConfidenceEstimator | LossEstimator


def fit_estimator(
    reference: pd.DataFrame,
    *,
    metric: str,
    features: Sequence[str],
    label_column: str,
    prediction_column: str,
    probability_columns: dict[str, str],
) -> Estimator:
    """The estimator a monitor's metric calls for, fitted on the labelled reference.

    Raises:
        ConfigError: The reference lacks labels, predictions or probabilities, or an accuracy
            monitor declares no probability columns.
    """
    if metric == "mae":
        return LossEstimator.fit(
            reference,
            features=features,
            label_column=label_column,
            prediction_column=prediction_column,
        )
    if not probability_columns:
        raise ConfigError(
            "estimating accuracy needs the classifier's scores; declare them with "
            "--probability-column COLUMN (binary) or --probability-column CLASS=COLUMN per class."
        )
    return ConfidenceEstimator.fit(
        reference,
        probability_columns=probability_columns,
        label_column=label_column,
        prediction_column=prediction_column,
    )


def estimate_batch(
    frame: pd.DataFrame,
    estimator: Estimator,
    report: BatchReport,
    *,
    where: str,
    metric: str,
    slo: float | None,
) -> dict[str, float]:
    """Record the estimated metric of ``frame``; a warning when the estimate breaks the SLO."""
    started = time.perf_counter()
    if isinstance(estimator, ConfidenceEstimator):
        absent = [c for c in dict.fromkeys(estimator.columns) if c not in frame.columns]
        if absent:
            report.add(
                [
                    Finding(
                        "performance",
                        "estimate",
                        absent[0],
                        "present",
                        0,
                        1,
                        Severity.WARNING,
                        f"{where}: the batch has no probability column {absent[0]!r}, so "
                        f"{metric} cannot be estimated before labels arrive; serve the scores "
                        "with the predictions or fix --probability-column.",
                        {"missing": absent},
                    )
                ]
            )
            return {}
    values = estimator.estimate(frame)
    for name, stat in values.items():
        report.stat("performance", None, name, stat)
    report.seconds["estimate"] = time.perf_counter() - started
    value = values.get(f"{metric}_estimated")
    if value is None or slo is None:
        return values
    higher = metric == "accuracy"
    if value < slo if higher else value > slo:
        report.add(
            [
                Finding(
                    "performance",
                    "slo_estimated",
                    None,
                    f"{metric}_estimated",
                    value,
                    slo,
                    Severity.WARNING,
                    f"{where}: estimated {metric} {value:.4g} (± "
                    f"{values.get(f'{metric}_estimated_sd', 0.0):.2g}, from "
                    f"{int(values['estimated_rows']):,} unlabelled predictions) breaks the SLO "
                    f"({'at least' if higher else 'at most'} {slo:g}); labels will confirm it; "
                    "look at the drifted features now and prepare a rollback or a retrain.",
                    {"estimated_rows": int(values["estimated_rows"]), "estimated": True},
                )
            ]
        )
    return values


__all__ = [
    "ConfidenceEstimator",
    "Estimator",
    "LossEstimator",
    "estimate_batch",
    "expected_roc_auc",
    "fit_estimator",
    "parse_probability_columns",
]
