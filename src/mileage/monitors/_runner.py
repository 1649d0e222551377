"""Running monitors: register one, check its new batches, re-judge batches as labels arrive,
and the one-shot check that needs no registry.

Predictions of each checked batch (id, prediction, time, slice columns) are kept as Parquet in
``<home>/monitors/<name>/predictions/`` so that labels arriving days later are joined without
re-reading or re-scoring the batch. Everything else lives in the trace store, so a restarted
monitor carries on where it stopped: batches already checked are not checked again, drift
persistence continues, and provisional metrics become final when coverage suffices.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mileage.monitors._registry import (
    MAX_READ_TRIES,
    MonitorRecord,
    add_monitor,
    checked_batches,
    drift_history,
    get_monitor,
    get_suite,
    performance_history,
    refuse_passwords,
    save_report,
)
from mileage.monitors.checks._check import (
    MonitorConfig,
    baseline_of,
    check_batch,
    estimator_of,
    judge_performance,
    reference_with_predictions,
)
from mileage.monitors.checks._estimation import Estimator
from mileage.monitors.checks._findings import BatchReport, Finding, Severity
from mileage.monitors.checks._large import check_parquet, check_parquet_on_dask, parquet_rows
from mileage.monitors.checks._models import ResolvedModel, resolve_model
from mileage.monitors.checks._slices import check_slice_columns
from mileage.monitors.checks._slo import apply_slo_state
from mileage.monitors.checks._sources import (
    FILE_SUFFIXES,
    BatchSource,
    is_sql,
    read_file,
    read_frame,
)
from mileage.monitors.checks._suite import SuiteOptions, check_suite, infer_suite
from mileage.platform.cluster import TaskPool
from mileage.platform.errors import ConfigError, DataError
from mileage.platform.progress import NullProgress, Progress
from mileage.platform.store import TraceStore, utcnow

if TYPE_CHECKING:
    import pandas as pd

PREDICTED_AT = "_predicted_at"


def read_labels(uri: str) -> pd.DataFrame:
    """Labels from a file, a folder of files (concatenated) or a SQL table."""
    import pandas as pd

    path = Path(uri).expanduser()
    if not is_sql(uri) and path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in FILE_SUFFIXES)
        frames = [read_file(p, what="labels") for p in files]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return read_frame(uri, what="labels")


def _model(config: MonitorConfig) -> ResolvedModel | None:
    return resolve_model(config.model_uri, config.tracking_uri) if config.model_uri else None


def create_monitor(
    store: TraceStore, config: MonitorConfig, *, suite_options: SuiteOptions | None = None
) -> tuple[MonitorRecord, dict[str, Any]]:
    """Register ``config``: read the reference, infer the suite, compute the baseline.

    Raises:
        ConfigError: Bad name or options.
        DataError: The reference cannot be read.
        ModelError: The model cannot be resolved or cannot score the reference.
    """
    refuse_passwords(config)  # before connecting with it
    reference = read_frame(config.reference_uri, what="reference")
    for column in config.dropped_columns:
        if column not in reference.columns:
            raise ConfigError(f"--drop-column {column!r}: the reference has no such column.")
    suite = infer_suite(
        reference, options=suite_options, id_column=config.id_column, exclude=config.excluded
    )
    config = dataclasses.replace(config, baseline=_baseline(reference, suite, config))
    add_monitor(store, config, suite, note="inferred from the reference")
    return get_monitor(store, config.name), suite


def _baseline(
    reference: pd.DataFrame, suite: dict[str, Any], config: MonitorConfig
) -> dict[str, Any] | None:
    # before the model is loaded: a slice on a missing column would silently match nothing
    check_slice_columns(list(config.slices), [*reference.columns, config.prediction_column])
    ref = reference_with_predictions(reference, suite, config, _model(config))
    base = baseline_of(ref, config, config.parsed_slices(ref))
    return base.to_dict() if base else None


def refresh_baseline(config: MonitorConfig, suite: dict[str, Any]) -> MonitorConfig:
    """The config with its baseline recomputed from the reference (after an edit)."""
    reference = read_frame(config.reference_uri, what="reference")
    return dataclasses.replace(config, baseline=_baseline(reference, suite, config))


def _safe(batch_id: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", batch_id)[:80]
    return f"{stem}-{hashlib.sha256(batch_id.encode()).hexdigest()[:8]}"


def _unreadable(pipeline: str | None, batch_id: str, exc: Exception) -> BatchReport:
    report = BatchReport(pipeline, batch_id)
    report.add(
        [
            Finding(
                "input",
                "read_batch",
                None,
                "readable",
                0,
                1,
                Severity.BLOCKING,
                f"monitor {pipeline!r} batch {batch_id}: {exc}" if pipeline else str(exc),
                {"error": str(exc)[:500]},
            )
        ]
    )
    return report


def _absolute(source: BatchSource) -> BatchSource:
    """``source`` with an absolute folder: a worker does not share this working folder."""
    if is_sql(source.uri):
        return source
    return dataclasses.replace(source, uri=str(Path(source.uri).expanduser().resolve()))


@dataclasses.dataclass(frozen=True)
class BatchTask:
    """Everything a check of one batch needs, read by the caller so a worker needs no store."""

    source: BatchSource
    batch_id: str
    reference: pd.DataFrame
    suite: dict[str, Any]
    config: MonitorConfig
    model: ResolvedModel | None
    labels: pd.DataFrame | None
    label_error: str | None
    history: dict[str, list[int]]
    as_of: Any
    started: Any
    estimator: Estimator | None = None


@dataclasses.dataclass(frozen=True)
class BatchOutcome:
    """What a check of one batch found, for the caller to write."""

    batch_id: str
    started: Any
    report: BatchReport | None
    predictions: pd.DataFrame | None = None
    read_error: str | None = None


def check_batch_task(task: BatchTask) -> BatchOutcome:
    """Read and check one batch; writes nothing (runs in a worker process or on a cluster).

    An unreadable batch is an outcome (``read_error``), not an exception: the caller counts
    its tries and stores the finding.
    """
    try:
        batch = task.source.read(task.batch_id)
    except DataError as exc:
        return BatchOutcome(task.batch_id, task.started, None, read_error=str(exc))
    config = task.config
    if config.timestamp_column == PREDICTED_AT:
        batch = batch.assign(**{PREDICTED_AT: task.started})
    report, predictions = check_batch(
        batch,
        reference=task.reference,
        suite=task.suite,
        config=config,
        batch_id=task.batch_id,
        pipeline=config.name,
        model=task.model,
        labels=task.labels,
        history=task.history,
        as_of=task.as_of,
        estimator=task.estimator,
    )
    if task.label_error:
        report.add(
            [
                Finding(
                    "performance",
                    "read_labels",
                    None,
                    "readable",
                    0,
                    1,
                    Severity.WARNING,
                    f"monitor {config.name!r}: labels could not be read, performance was not "
                    f"judged: {task.label_error}",
                    {},
                )
            ]
        )
    return BatchOutcome(task.batch_id, task.started, report, predictions)


class MonitorRunner:
    """Runs one registered monitor against its batch and label sources.

    Args:
        store: The trace store.
        name: Monitor name.
        home: Mileage's home folder (prediction files go under ``monitors/<name>``).
        progress: Progress reporting.
        large_batch_rows: Parquet batches with more rows are checked in row groups (bounded
            memory); None: every batch is read whole.
        client: A ``distributed.Client``: large batches are checked on its cluster.
        pool: Where each batch is checked (worker processes or a cluster, see
            :mod:`mileage.platform.cluster`); None: in this process. The reports are written
            by this process either way.
    """

    def __init__(
        self,
        store: TraceStore,
        name: str,
        *,
        home: Path,
        progress: Progress | None = None,
        large_batch_rows: int | None = None,
        client: Any = None,
        pool: TaskPool | None = None,
    ) -> None:
        self.store = store
        self.pool = pool
        self.large_batch_rows = large_batch_rows
        self.client = client
        self.record = get_monitor(store, name)
        self.config = self.record.config
        self.home = home
        self.progress = progress or NullProgress()
        self._read_errors: dict[str, int] = {}
        self._seq: dict[str, int] = {}
        #: Batches whose planned run another process (a second ``monitor run``, the daemon)
        #: stored first: their findings are in the store once, from that process.
        self.raced: list[str] = []
        self._estimator: Estimator | None = None
        suite = get_suite(store, self.record.id)
        self.suite, self.suite_version = check_suite(suite["spec"]), int(suite["version"])

    @property
    def predictions_dir(self) -> Path:
        return self.home / "monitors" / self.config.name / "predictions"

    def run(self, batch_id: str | None = None, *, as_of: Any = None) -> list[BatchReport]:
        """Check new batches (or ``batch_id``, again if it was checked), then re-judge earlier
        batches whose metric is still provisional.

        Raises:
            ConfigError: The monitor has no batch source.
            DataError: The reference cannot be read.
            ModelError: The model cannot be resolved.
        """
        config = self.config
        if not config.batches_uri:
            raise ConfigError(
                f"monitor {config.name!r} has no batch source; set one with 'mileage monitor "
                f"edit {config.name} --batches DIR_OR_SQL', or check a file with 'mileage "
                "monitor check'."
            )
        source = BatchSource(config.batches_uri, config.batch_column)
        if batch_id:
            source.require(batch_id)  # a typo is the caller's error, not a finding that pages
        done = checked_batches(self.store, self.record.id)
        ids = (
            [batch_id]
            if batch_id
            else [b for b in source.ids() if not done.get(b, {}).get("checked")]
        )
        pending = [
            b for b, info in done.items() if info["checked"] and not info["final"] and b not in ids
        ]
        self._read_errors = {b: int(info["read_errors"]) for b, info in done.items()}
        self._seq = {b: int(info["seq"]) for b, info in done.items()}
        self.raced = []
        reports: list[BatchReport] = []
        if not ids and not (pending and config.labels_uri):
            return reports
        reference = read_frame(config.reference_uri, what="reference")
        model = _model(config)
        reference = reference_with_predictions(reference, self.suite, config, model)
        labels, label_error = self._labels()
        try:  # fitted once per run; a reference that cannot fit it is a finding per batch
            self._estimator = estimator_of(reference, self.suite, config) if ids else None
        except ConfigError:
            self._estimator = None
        self.progress.start(f"monitor {config.name}: checking batches", total=len(ids))
        for bid in ids:
            checked = self._check(source, bid, reference, model, labels, label_error, as_of)
            if checked is not None:
                reports.append(checked)
            self.progress.advance()
        self.progress.finish()
        if labels is not None:
            for bid in pending:
                report = self._rejudge(bid, reference, labels, as_of)
                if report is not None:
                    reports.append(report)
        return reports

    def _save(
        self, report: BatchReport, *, kind: str, started_at: Any, error: str | None = None
    ) -> bool:
        """Store ``report`` as the next run of its batch; False when another process did."""
        seq = self._seq.get(report.batch_id, 0) + 1
        run_id = save_report(
            self.store,
            self.record,
            report,
            kind=kind,
            suite_version=self.suite_version,
            started_at=started_at,
            seq=seq,
            error=error,
        )
        if run_id is None:
            self.raced.append(report.batch_id)
            return False
        self._seq[report.batch_id] = seq
        return True

    def _labels(self) -> tuple[pd.DataFrame | None, str | None]:
        if not self.config.labels_uri:
            return None, None
        try:
            return read_labels(self.config.labels_uri), None
        except DataError as exc:
            return None, str(exc)

    def _config_for_time(self) -> MonitorConfig:
        if self.config.timestamp_column:
            return self.config
        return dataclasses.replace(self.config, timestamp_column=PREDICTED_AT)

    def _check(
        self,
        source: BatchSource,
        batch_id: str,
        reference: pd.DataFrame,
        model: ResolvedModel | None,
        labels: pd.DataFrame | None,
        label_error: str | None,
        as_of: Any,
    ) -> BatchReport | None:
        started = utcnow()
        try:
            large = self._check_large(source, batch_id, reference)
        except _PartsUnreadableError as exc:
            # a corrupt row group is an unreadable batch: counted, retried, then left alone,
            # so one bad file does not stop the batches after it
            return self._write(BatchOutcome(batch_id, started, None, read_error=str(exc)), model)
        if large is not None:
            return large if self._save(large, kind="check", started_at=started) else None
        task = BatchTask(
            source=_absolute(source),
            batch_id=batch_id,
            reference=reference,
            suite=self.suite,
            config=self._config_for_time(),
            model=model,
            labels=labels,
            label_error=label_error,
            history=drift_history(
                self.store,
                self.record.id,
                exclude_batch=batch_id,
                limit=self.config.drift_options().persistence - 1,
            ),
            as_of=as_of,
            started=started,
            estimator=self._estimator,
        )
        # the check itself reads and computes only; whatever ran it, this process writes
        outcome = self.pool.run(check_batch_task, task) if self.pool else check_batch_task(task)
        return self._write(outcome, model)

    def _write(self, outcome: BatchOutcome, model: ResolvedModel | None) -> BatchReport | None:
        """Store what a check found: its predictions, SLO state and report (one writer)."""
        name, batch_id, started = self.config.name, outcome.batch_id, outcome.started
        if outcome.read_error is not None:
            tries = self._read_errors.get(batch_id, 0) + 1
            if tries < MAX_READ_TRIES:
                note = f" (try {tries} of {MAX_READ_TRIES}: later runs read it again)"
            else:
                note = (
                    f" (unreadable {tries} times: no longer retried; fix the file and run "
                    f"'mileage monitor run {shlex.quote(name)} --batch {shlex.quote(batch_id)}')"
                )
            unreadable = _unreadable(name, batch_id, DataError(f"{outcome.read_error}{note}"))
            unreadable.model_version = model.version if model else None
            saved = self._save(
                unreadable, kind="check", started_at=started, error=outcome.read_error[:2000]
            )
            return unreadable if saved else None
        report = outcome.report
        assert report is not None  # a readable batch always has a report
        if outcome.predictions is not None:
            self.predictions_dir.mkdir(parents=True, exist_ok=True)
            path = self.predictions_dir / f"{_safe(batch_id)}.parquet"
            partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
            outcome.predictions.to_parquet(partial)
            partial.replace(path)  # a racing run writes the same rows; never half a file
        self._slo_state(report)
        return report if self._save(report, kind="check", started_at=started) else None

    def _check_large(
        self, source: BatchSource, batch_id: str, reference: pd.DataFrame
    ) -> BatchReport | None:
        """Check a Parquet batch larger than ``large_batch_rows`` in row groups (on the
        cluster when there is a client); None for a batch read whole."""
        if self.large_batch_rows is None and self.client is None:
            return None
        path = source.parquet_path(batch_id)
        if path is None:
            return None
        path = path.resolve()  # the cluster's workers do not share this working folder
        try:
            if parquet_rows(path) <= (self.large_batch_rows or 0):
                return None
        except DataError:
            return None  # the whole read reports it, with its retries
        history = drift_history(
            self.store,
            self.record.id,
            exclude_batch=batch_id,
            limit=self.config.drift_options().persistence - 1,
        )
        kwargs: dict[str, Any] = {
            "reference": reference,
            "suite": self.suite,
            "config": self.config,
            "batch_id": batch_id,
            "pipeline": self.config.name,
            "history": history,
        }
        try:
            if self.client is not None:
                return check_parquet_on_dask(self.client, path, **kwargs)
            return check_parquet(path, **kwargs)
        except Exception as exc:
            error = _unreadable_part(path, exc)
            if error is None:
                raise
            raise _PartsUnreadableError(error) from None

    def _slo_state(self, report: BatchReport) -> None:
        """Record the pipeline's windowed SLO state, with this batch's figures in the window."""
        history = performance_history(self.store, self.record.id)
        apply_slo_state(report, history, self.config.performance_options())

    def _rejudge(
        self, batch_id: str, reference: pd.DataFrame, labels: pd.DataFrame, as_of: Any
    ) -> BatchReport | None:
        path = self.predictions_dir / f"{_safe(batch_id)}.parquet"
        if not path.exists():
            return None
        started = utcnow()
        predictions = read_file(path, what=f"predictions of batch {batch_id!r}")
        report = BatchReport(
            self.config.name, batch_id, None, len(predictions), predictions.shape[1]
        )
        judge_performance(
            predictions,
            labels,
            report,
            config=self._config_for_time(),
            reference=reference,
            where=f"monitor {self.config.name!r} batch {batch_id}",
            as_of=as_of,
        )
        report.sort()
        self._slo_state(report)
        return report if self._save(report, kind="performance", started_at=started) else None


class _PartsUnreadableError(Exception):
    """A Parquet batch checked in row groups could not be read (the message says why)."""


def _unreadable_part(path: Path, exc: Exception) -> str | None:
    """The message of a Parquet batch that cannot be read in row groups (a corrupt row group,
    a file cut short), or None for an error that is not about reading it."""
    import pyarrow as pa

    if not isinstance(exc, OSError | pa.ArrowException | DataError):
        return None
    if isinstance(exc, DataError):
        return str(exc)
    return (
        f"batch file {str(path)!r} cannot be read as parquet: {type(exc).__name__}: "
        f"{' '.join(str(exc).split())[:300]}; check that the file is complete and written in "
        "that format (re-export it, e.g. with DataFrame.to_parquet)."
    )


def _large_file(uri: str, large_batch_rows: int | None, client: Any) -> Path | None:
    """The Parquet file ``uri`` when it is to be checked in row groups, else None."""
    if (large_batch_rows is None and client is None) or is_sql(uri):
        return None
    path = Path(uri).expanduser()
    if path.suffix.lower() not in (".parquet", ".pq") or not path.is_file():
        return None
    try:
        # absolute: the cluster's workers do not share this process's working folder
        return path.resolve() if parquet_rows(path) > (large_batch_rows or 0) else None
    except DataError:
        return None  # the whole read reports it


def check_once(
    reference_uri: str,
    batch_uri: str,
    *,
    config: MonitorConfig | None = None,
    labels_uri: str | None = None,
    suite: dict[str, Any] | None = None,
    as_of: Any = None,
    progress: Progress | None = None,
    large_batch_rows: int | None = None,
    client: Any = None,
) -> tuple[BatchReport, dict[str, Any]]:
    """Check one batch file against a reference, with no registry (CI, notebooks).

    Args:
        reference_uri: Reference data.
        batch_uri: The batch (a file or ``URL#table``).
        config: Columns, model, thresholds (name, reference and batches are filled in).
        labels_uri: Labels to join, if any.
        suite: A suite to use instead of inferring one from the reference.
        as_of: Only labels that arrived by then count.
        progress: Told of each step (reading, scoring, checking), which can take seconds.
        large_batch_rows: A Parquet batch with more rows is checked in row groups.
        client: A ``distributed.Client``: such a batch is checked on its cluster.

    Returns:
        The report and the suite used.

    Raises:
        DataError: The reference or the labels cannot be read.
        ConfigError: Bad options or suite.
    """
    config = config or MonitorConfig(name="check", reference_uri=reference_uri)
    config = dataclasses.replace(
        config, reference_uri=reference_uri, batches_uri=batch_uri, labels_uri=labels_uri
    )
    steps = progress or NullProgress()
    steps.start("reading the reference")
    reference = read_frame(reference_uri, what="reference")
    if suite is None:
        steps.start("inferring the suite from the reference")
        suite = infer_suite(reference, id_column=config.id_column, exclude=config.excluded)
    check_suite(suite)
    batch_id = Path(batch_uri).name if not is_sql(batch_uri) else batch_uri.rpartition("#")[2]
    large = _large_file(batch_uri, large_batch_rows, client)
    if large is not None:
        steps.start(f"checking batch {batch_id} in row groups" + (" on Dask" if client else ""))
        kwargs: dict[str, Any] = {
            "reference": reference,
            "suite": suite,
            "config": config,
            "batch_id": batch_id,
        }
        try:
            if client is not None:
                report = check_parquet_on_dask(client, large, **kwargs)
            else:
                report = check_parquet(large, **kwargs)
        except Exception as exc:
            error = _unreadable_part(large, exc)
            if error is None:
                raise
            steps.finish()
            return _unreadable(None, batch_id, DataError(error)), suite
        steps.finish()
        return report, suite
    steps.start(f"reading batch {batch_id}")
    try:
        batch = read_frame(batch_uri, what="batch")
    except DataError as exc:
        steps.finish()
        return _unreadable(None, batch_id, exc), suite
    steps.start("loading the model and scoring the reference")
    model = _model(config)
    reference = reference_with_predictions(reference, suite, config, model)
    labels = read_labels(labels_uri) if labels_uri else None
    steps.start(f"checking batch {batch_id}")
    report, _ = check_batch(
        batch,
        reference=reference,
        suite=suite,
        config=config,
        batch_id=batch_id,
        model=model,
        labels=labels,
        as_of=as_of,
    )
    steps.finish()
    if labels is not None or config.performance_options().estimate:
        apply_slo_state(report, [], config.performance_options())  # the window is this batch
    return report, suite
