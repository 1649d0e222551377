"""Check one batch: validation, scoring, drift of features and predictions, performance.

:func:`check_batch` is the whole check of one batch with everything passed in (no store):
``mileage monitor check`` calls it once, the registry runner calls it for every new batch and
stores the report. It never raises on bad data: a batch that cannot be validated, scored or
joined yields a finding that says why.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mileage.monitors.checks._drift import DriftOptions, drift_batch, drift_columns
from mileage.monitors.checks._duplicates import duplicates_batch
from mileage.monitors.checks._estimation import (
    Estimator,
    estimate_batch,
    fit_estimator,
    parse_probability_columns,
)
from mileage.monitors.checks._findings import BatchReport, Finding, Severity
from mileage.monitors.checks._models import (
    ModelError,
    RegistryUnreachableError,
    ResolvedModel,
    score,
)
from mileage.monitors.checks._performance import (
    Baseline,
    PerformanceOptions,
    compute_baseline,
    join_labels,
    performance_batch,
)
from mileage.monitors.checks._slices import Slice, resolve_slices
from mileage.monitors.checks._validation import validate_batch
from mileage.platform.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd


#: ``manual``: a rollback is only suggested; ``auto``: it runs when the SLO is breached.
ROLLBACK_POLICIES = ("manual", "auto")
_CADENCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: Bounds of a monitor's cadence: a shorter one spins the scheduler, and a longer one is no
#: schedule (timers and dates overflow far beyond it).
MIN_CADENCE_SECONDS = 1.0
MAX_CADENCE_SECONDS = 365 * 86400.0


def cadence_seconds(text: str | None) -> float | None:
    """``30m``, ``6h``, ``1d``, ``1w`` or plain seconds to seconds; None when not set.

    Raises:
        ConfigError: Not a duration.
    """
    if not text:
        return None
    m = _CADENCE.match(text)
    if not m or float(m[1]) <= 0:
        raise ConfigError(
            f"cadence {text!r} is not a positive duration; use e.g. 30m, 6h, 1d, 1w or seconds."
        )
    seconds = float(m[1]) * _UNIT_SECONDS[m[2]]
    if not MIN_CADENCE_SECONDS <= seconds <= MAX_CADENCE_SECONDS:
        raise ConfigError(
            f"cadence {text!r} is {seconds:g} s; the daemon runs a monitor at most once a second "
            "and at least once a year (365d): use a duration between 1s and 365d, e.g. 30m, "
            "6h, 1d, 1w."
        )
    return seconds


@dataclass
class MonitorConfig:
    """Everything that defines a monitored pipeline (stored in ``monitors``).

    Attributes:
        name: Unique name (``churn``).
        reference_uri: Reference data (file or ``URL#table``).
        model_uri: ``models:/NAME@ALIAS``; scores batches that carry no predictions.
        tracking_uri: MLflow tracking/registry URI of the model.
        batches_uri: Folder of batch files, or ``URL#table`` with a batch column.
        labels_uri: Where late labels arrive (file, folder of files, or ``URL#table``).
        id_column: Row id joining predictions with labels.
        batch_column: Batch id column of a SQL batch table.
        prediction_column: Column holding (or receiving) predictions.
        label_column: Column holding labels (in the labels source and the reference).
        timestamp_column: When each prediction was made (for the label lag).
        label_timestamp_column: When each label arrived.
        labeler_columns: Two or more columns of the labels source holding each labeler's
            label: their agreement is tracked as the accuracy ceiling.
        probability_columns: The classifier's scores served with its predictions: one
            column (a binary classifier's positive-class probability) or ``CLASS=COLUMN``
            per class; with ``performance.estimate`` they give the accuracy estimated before
            labels arrive.
        cadence: How often the daemon should run the monitor (``1d``, ``6h``).
        owner: Who owns the pipeline: every alert and suggestion goes to them.
        on_call: Who is on call for it: also receives pages.
        shadows: People shadowing the on-call: they get copies, never pages.
        fallback_version: Model version to roll back to (``3``); None means the version
            served before the current one, when the monitor has seen one.
        rollback_policy: ``manual`` (rollbacks are suggested) or ``auto`` (a rollback runs by
            itself when the SLO is breached; nothing else ever does).
        webhook_env: Environment variable holding this pipeline's webhook URL, as ``NAME`` or
            ``env:NAME`` (the URL itself is never stored, logged or exported).
        alerts: :class:`~mileage.monitors.alerts._policy.AlertOptions` as a dict.
        slices: Declared slices (``"north: region == north"``).
        slice_columns: Columns whose values are each a slice.
        key_columns: Columns that together identify a row: unique within every batch, never
            bounds- or drift-checked (their values are new in every batch).
        dropped_columns: Reference columns the monitor ignores.
        drift: :class:`DriftOptions` as a dict.
        performance: :class:`PerformanceOptions` as a dict (metric, SLO, coverage).
        baseline: Metric on the reference, overall and per slice (computed).
    """

    name: str
    reference_uri: str
    model_uri: str | None = None
    tracking_uri: str | None = None
    batches_uri: str | None = None
    labels_uri: str | None = None
    id_column: str | None = None
    batch_column: str = "batch_id"
    prediction_column: str = "prediction"
    label_column: str = "label"
    timestamp_column: str | None = None
    label_timestamp_column: str | None = None
    labeler_columns: list[str] = field(default_factory=list)
    probability_columns: list[str] = field(default_factory=list)
    cadence: str | None = None
    owner: str | None = None
    on_call: str | None = None
    shadows: list[str] = field(default_factory=list)
    fallback_version: str | None = None
    rollback_policy: str = "manual"
    webhook_env: str | None = None
    slices: list[str] = field(default_factory=list)
    slice_columns: list[str] = field(default_factory=list)
    key_columns: list[str] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)
    drift: dict[str, Any] = field(default_factory=dict)
    performance: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] | None = None
    alerts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.webhook_env and self.webhook_env.startswith("env:"):
            self.webhook_env = self.webhook_env[4:]  # the variable's name is what is kept
        if self.rollback_policy not in ROLLBACK_POLICIES:
            raise ConfigError(
                f"monitor {self.name!r}: rollback policy {self.rollback_policy!r} is not one of "
                f"{', '.join(ROLLBACK_POLICIES)}; use --rollback-policy manual (suggest only) or "
                "auto (roll back by itself when the SLO is breached)."
            )
        if len(self.labeler_columns) == 1:
            raise ConfigError(
                f"monitor {self.name!r}: labeler columns need at least two labelers, got "
                f"{self.labeler_columns[0]!r}; list them as --labeler-columns a,b."
            )
        probabilities = parse_probability_columns(self.probability_columns)
        metric = self.performance.get("metric", "accuracy")
        if self.performance.get("estimate") and metric == "accuracy" and not probabilities:
            raise ConfigError(
                f"monitor {self.name!r}: estimating accuracy before labels arrive needs the "
                "classifier's scores; add --probability-column COLUMN (binary) or "
                "--probability-column CLASS=COLUMN per class, or drop --estimate."
            )
        if self.labeler_columns and self.performance.get("metric", "accuracy") != "accuracy":
            raise ConfigError(
                f"monitor {self.name!r}: labeler agreement is an accuracy ceiling; "
                "--labeler-columns needs --metric accuracy."
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonitorConfig:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def excluded(self) -> tuple[str, ...]:
        """Columns that are not features: label, prediction, timestamps, dropped ones."""
        cols = [self.label_column, self.prediction_column, self.timestamp_column]
        cols += [self.label_timestamp_column, self.batch_column, *self.dropped_columns]
        cols += self.labeler_columns
        cols += list(parse_probability_columns(self.probability_columns).values())
        return tuple(dict.fromkeys(c for c in cols if c))

    def drift_options(self) -> DriftOptions:
        return DriftOptions.from_dict(self.drift)

    def performance_options(self) -> PerformanceOptions:
        return PerformanceOptions.from_dict(self.performance)

    def parsed_slices(self, reference: pd.DataFrame | None) -> list[Slice]:
        return resolve_slices(list(self.slices), list(self.slice_columns), reference)


def features_of(suite: dict[str, Any], config: MonitorConfig) -> list[str]:
    """Model inputs: suite columns that are not ids, labels or predictions."""
    return [
        name
        for name, col in suite["columns"].items()
        if col["kind"] != "identifier" and name not in config.excluded
    ]


def compared_columns(suite: dict[str, Any], config: MonitorConfig) -> list[str]:
    """Columns two rows are compared on for duplicates: features, without declared keys."""
    return [c for c in features_of(suite, config) if c not in config.key_columns]


def prediction_kind(config: MonitorConfig) -> str:
    return "numeric" if config.performance_options().metric == "mae" else "categorical"


def reference_with_predictions(
    reference: pd.DataFrame,
    suite: dict[str, Any],
    config: MonitorConfig,
    model: ResolvedModel | None,
) -> pd.DataFrame:
    """The reference with a prediction column, scored by the model when it has none."""
    if config.prediction_column in reference.columns or model is None:
        return reference
    ref = reference.copy()
    ref[config.prediction_column] = score(
        model, config.tracking_uri, ref, features_of(suite, config)
    )
    return ref


def baseline_of(
    reference: pd.DataFrame, config: MonitorConfig, slices: list[Slice]
) -> Baseline | None:
    """Reference metric, when the reference holds both labels and predictions."""
    if config.label_column not in reference.columns:
        return None
    if config.prediction_column not in reference.columns:
        return None
    return compute_baseline(
        reference,
        label_column=config.label_column,
        prediction_column=config.prediction_column,
        metric=config.performance_options().metric,
        slices=slices,
    )


def estimator_of(
    reference: pd.DataFrame, suite: dict[str, Any], config: MonitorConfig
) -> Estimator | None:
    """The fitted performance estimator when the monitor estimates its metric, else None.

    Raises:
        ConfigError: The reference cannot calibrate it (no labels, predictions or scores).
    """
    options = config.performance_options()
    if not options.estimate:
        return None
    return fit_estimator(
        reference,
        metric=options.metric,
        features=features_of(suite, config),
        label_column=config.label_column,
        prediction_column=config.prediction_column,
        probability_columns=parse_probability_columns(config.probability_columns),
    )


def _estimate(
    frame: pd.DataFrame,
    reference: pd.DataFrame,
    report: BatchReport,
    *,
    suite: dict[str, Any],
    config: MonitorConfig,
    estimator: Estimator | None,
    where: str,
) -> None:
    options = config.performance_options()
    if not options.estimate:
        return
    if estimator is None:
        try:
            estimator = estimator_of(reference, suite, config)
        except ConfigError as exc:
            report.add(
                [
                    Finding(
                        "performance",
                        "estimate",
                        None,
                        "estimated",
                        0,
                        1,
                        Severity.WARNING,
                        f"{where}: {options.metric} cannot be estimated before labels "
                        f"arrive: {exc}",
                        {},
                    )
                ]
            )
            return
    if estimator is not None:
        estimate_batch(
            frame, estimator, report, where=where, metric=options.metric, slo=options.slo
        )


def check_batch(
    batch: pd.DataFrame,
    *,
    reference: pd.DataFrame,
    suite: dict[str, Any],
    config: MonitorConfig,
    batch_id: str,
    pipeline: str | None = None,
    model: ResolvedModel | None = None,
    labels: pd.DataFrame | None = None,
    history: dict[str, list[int]] | None = None,
    as_of: Any = None,
    baseline: Baseline | None = None,
    estimator: Estimator | None = None,
) -> tuple[BatchReport, pd.DataFrame | None]:
    """Validate, score, drift-check and judge one batch.

    Args:
        batch: The batch as read.
        reference: Reference data, with a prediction column when prediction drift is wanted
            (see :func:`reference_with_predictions`).
        suite: Validation suite.
        config: The monitor's configuration.
        batch_id: Batch identifier, quoted in findings.
        pipeline: Monitor name (None for a one-shot check).
        model: Model scoring batches that carry no predictions.
        labels: Labels known so far (id and label columns).
        history: Drift levels of previous batches, for persistence.
        as_of: Only labels that arrived by then count (replays).
        baseline: Reference metric; computed from ``reference`` when None.
        estimator: Fitted performance estimator (see :func:`estimator_of`); fitted on
            ``reference`` when None and the monitor estimates its metric.

    Returns:
        The report, and the predictions frame (id, prediction, time, slice columns) or None.
    """
    where = f"monitor {pipeline!r} batch {batch_id}" if pipeline else f"batch {batch_id!r}"
    report = BatchReport(
        pipeline, batch_id, model.version if model else None, len(batch), batch.shape[1]
    )
    validate_batch(
        batch,
        suite,
        report,
        where=where,
        id_column=config.id_column,
        ignore=config.excluded,
        monitor=pipeline,
        identifiers=tuple(config.key_columns),
    )
    duplicates_batch(
        batch,
        reference,
        report,
        where=where,
        columns=compared_columns(suite, config),
        keys=config.key_columns,
    )
    if len(batch) == 0:
        report.sort()
        return report, None
    frame = batch
    pred = config.prediction_column
    if pred not in batch.columns and model is not None:
        started = time.perf_counter()
        try:
            frame = batch.copy()
            frame[pred] = score(model, config.tracking_uri, batch, features_of(suite, config))
        except RegistryUnreachableError:
            raise  # not a finding about the batch: it is checked once the server answers
        except ModelError as exc:
            frame = batch
            report.add(
                [
                    Finding(
                        "input",
                        "scoring",
                        None,
                        "scored",
                        0,
                        1,
                        Severity.BLOCKING,
                        f"{where}: {exc}",
                        {"model": model.version or model.uri},
                    )
                ]
            )
        report.seconds["scoring"] = time.perf_counter() - started
    columns = {
        c: k
        for c, k in drift_columns(suite).items()
        if c not in config.excluded and c not in config.key_columns
    }
    if pred in frame.columns and pred in reference.columns:
        columns[pred] = prediction_kind(config)
    drift_batch(
        reference,
        frame,
        columns,
        report,
        where=where,
        options=config.drift_options(),
        history=history,
    )
    predictions = None
    if pred in frame.columns:
        _estimate(
            frame,
            reference,
            report,
            suite=suite,
            config=config,
            estimator=estimator,
            where=where,
        )
        slices = config.parsed_slices(reference)
        keep = [config.id_column, pred, config.timestamp_column]
        keep += sorted({c for s in slices for c in s.columns})
        predictions = frame[[c for c in dict.fromkeys(keep) if c and c in frame.columns]].copy()
        if labels is not None:
            judge_performance(
                predictions,
                labels,
                report,
                config=config,
                reference=reference,
                where=where,
                as_of=as_of,
                baseline=baseline,
            )
    report.sort()
    return report, predictions


def judge_performance(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    report: BatchReport,
    *,
    config: MonitorConfig,
    reference: pd.DataFrame | None,
    where: str,
    as_of: Any = None,
    baseline: Baseline | None = None,
) -> None:
    """Join labels known so far and add performance findings to ``report``."""
    if not config.id_column:
        report.add(
            [
                Finding(
                    "performance",
                    "label_join",
                    None,
                    "joined",
                    0,
                    1,
                    Severity.WARNING,
                    f"{where}: labels were given but no id column joins them to predictions; "
                    "set one with --id-column.",
                    {},
                )
            ]
        )
        return
    labelers = [c for c in config.labeler_columns if c in labels.columns]
    missing = [c for c in config.labeler_columns if c not in labels.columns]
    if missing:
        report.add(
            [
                Finding(
                    "performance",
                    "label_agreement",
                    missing[0],
                    "present",
                    0,
                    1,
                    Severity.WARNING,
                    f"{where}: the labels have no labeler column {missing[0]!r} (columns: "
                    f"{', '.join(map(str, labels.columns[:15]))}), so labeler agreement is not "
                    "tracked; fix --labeler-columns.",
                    {"missing": missing},
                )
            ]
        )
    try:
        joined = join_labels(
            predictions,
            labels,
            id_column=config.id_column,
            label_column=config.label_column,
            label_time_column=config.label_timestamp_column,
            as_of=as_of,
            labeler_columns=labelers,
        )
    except ConfigError as exc:
        report.add(
            [
                Finding(
                    "performance",
                    "label_join",
                    None,
                    "joined",
                    0,
                    1,
                    Severity.WARNING,
                    f"{where}: {exc}",
                    {},
                )
            ]
        )
        return
    slices = config.parsed_slices(reference)
    if baseline is None:
        baseline = Baseline.from_dict(config.baseline)
    if baseline is None and reference is not None:
        baseline = baseline_of(reference, config, slices)
    options = config.performance_options()
    performance_batch(
        joined,
        report,
        where=where,
        prediction_column=config.prediction_column,
        options=options,
        slices=slices,
        baseline=baseline,
        prediction_time_column=config.timestamp_column,
        id_column=config.id_column,
        labeler_columns=labelers,
    )
    label = config.label_column
    labelled = joined["__label__"].notna()
    coverage = float(labelled.mean()) if len(joined) else 0.0
    if (
        reference is not None
        and label in reference.columns
        and coverage >= options.min_coverage
        and int(labelled.sum()) >= options.min_labels
    ):
        # label shift: the labels that arrived, against the reference's labels
        current = joined.loc[labelled, ["__label__"]].rename(columns={"__label__": label})
        drift_batch(
            reference[[label]],
            current,
            {label: prediction_kind(config)},
            report,
            where=where,
            options=config.drift_options(),
        )
