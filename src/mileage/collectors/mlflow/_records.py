"""Reader-neutral records of what an MLflow tracking store holds.

The three readers (REST, SQLite, ``mlruns/`` folder) all produce these records, sorted the
same way, so a test can prove they yield identical rows.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

#: MLflow's SQL stores write +/-inf as +/-max float64; we restore the infinities.
_MAX_FLOAT = 1.7976931348623157e308

#: Old MLflow wrote the RunStatus enum number into meta.yaml.
STATUS_BY_NUMBER = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
TERMINAL = frozenset({"FINISHED", "FAILED", "KILLED"})


@dataclass(frozen=True)
class ExperimentRecord:
    """One MLflow experiment."""

    experiment_id: str
    name: str
    artifact_location: str | None
    lifecycle_stage: str
    created_ms: int | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetInput:
    """A dataset logged as a run input (``mlflow.log_input``)."""

    name: str
    digest: str
    source_type: str | None
    source: str | None
    schema: str | None
    profile: str | None
    context: str

    @property
    def external_id(self) -> str:
        """Natural key of the dataset within its source."""
        return f"{self.name}@{self.digest}"


@dataclass
class MetricSeries:
    """A metric's full history, sorted by (step, timestamp, value)."""

    steps: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray

    @classmethod
    def from_points(
        cls, points: list[tuple[int, int, float]] | np.ndarray, *, presorted: bool = False
    ) -> MetricSeries:
        """Build from ``(step, timestamp, value)`` points, restoring infinities and sorting."""
        arr = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        steps = arr[:, 0].astype(np.int64)
        timestamps = arr[:, 1].astype(np.int64)
        values = restore_infinities(arr[:, 2])
        if not presorted:
            nan = np.isnan(values)
            # MLflow orders by step, timestamp, value (NaN stored as 0), is_nan.
            order = np.lexsort((nan, np.where(nan, 0.0, values), timestamps, steps))
            steps, timestamps, values = steps[order], timestamps[order], values[order]
        return cls(steps, timestamps, values)

    def __len__(self) -> int:
        return int(self.values.size)


def restore_infinities(values: np.ndarray) -> np.ndarray:
    """Map MLflow's +/-max-float encoding of infinity back to +/-inf."""
    values = np.asarray(values, dtype=np.float64)
    if values.size and (np.abs(values) >= _MAX_FLOAT).any():
        values = values.copy()
        values[values >= _MAX_FLOAT] = np.inf
        values[values <= -_MAX_FLOAT] = -np.inf
    return values


def kept_run_name(stored: Any, tags: dict[str, str]) -> Any:
    """A run's name as MLflow's own client returns it.

    The stored name, or when it is empty the ``mlflow.runName`` tag, or when that is empty
    too the stored value itself: an empty name stays ``''`` and a missing one ``None`` (MLflow
    1.x databases hold ``''`` in every run's name). Anything else (a list in a hand-edited
    ``meta.yaml``) is passed on for :func:`run_problem` to quarantine.
    """
    return stored or tags.get("mlflow.runName") or stored


@dataclass
class RunRecord:
    """One run with everything the trace store keeps of it."""

    run_id: str
    experiment_id: str
    name: str | None
    user: str | None
    status: str
    start_ms: int | None
    end_ms: int | None
    lifecycle_stage: str
    artifact_uri: str | None
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, MetricSeries]
    inputs: list[DatasetInput]
    signature: str


@dataclass(frozen=True)
class RunHeader:
    """What a listing tells about a run before it is read in full."""

    run_id: str
    experiment_id: str
    start_ms: int | None
    status: str
    signature: str


@dataclass(frozen=True)
class ModelVersionRecord:
    """One registered model version."""

    model_name: str
    version: int
    run_id: str | None
    status: str | None
    stage: str | None
    source: str | None
    description: str | None
    created_ms: int | None
    updated_ms: int | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class RegistrySnapshot:
    """The model registry as seen now: versions and where each alias points."""

    versions: list[ModelVersionRecord] = field(default_factory=list)
    aliases: dict[tuple[str, str], int] = field(default_factory=dict)
    model_updated_ms: dict[str, int] = field(default_factory=dict)


def signature_of(*parts: Any) -> str:
    """A short digest of the values that change when a run changes."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def normalize_stage(stage: Any) -> str | None:
    """MLflow writes the string ``'None'`` for "no stage"; store a real null."""
    return None if stage in (None, "", "None") else str(stage)


@functools.lru_cache(maxsize=64)
def normalize_status(status: Any) -> str:
    """``3`` or ``'FINISHED'`` -> ``'FINISHED'``; unknown values are kept upper-cased."""
    if isinstance(status, int) or (isinstance(status, str) and status.isdigit()):
        return STATUS_BY_NUMBER.get(int(status), f"UNKNOWN_{status}")
    return str(status or "UNKNOWN").upper()


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _epoch_ms(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _text(value: Any, *, optional: bool = True) -> bool:
    return isinstance(value, str) or (optional and value is None)


def header_problem(header: RunHeader) -> tuple[str, str] | None:
    """The first rule a listed run breaks, as ``(field, problem)``; None when it is sound."""
    if not isinstance(header.run_id, str) or not header.run_id:
        return "run_id", f"must be non-empty text, got {_show(header.run_id)}"
    if not _text(header.experiment_id, optional=False):
        return "experiment_id", f"must be text, got {_show(header.experiment_id)}"
    if not _epoch_ms(header.start_ms):
        return "start_time", f"must be epoch milliseconds, got {_show(header.start_ms)}"
    return None


def record_problem(record: RunRecord) -> tuple[str, str] | None:
    """The first rule a read run breaks, as ``(field, problem)``; None when it is sound.

    Readers turn what MLflow itself writes into these types; anything else (a list as a run
    name, a date written as words, bytes where text belongs) was edited or damaged by hand,
    and storing it would fail or mislead.
    """
    for name in ("name", "user", "artifact_uri"):
        value = getattr(record, name)
        if not _text(value):
            return name, f"must be text, got {type(value).__name__} {_show(value)}"
    for name in ("status", "lifecycle_stage", "experiment_id"):
        value = getattr(record, name)
        if not _text(value, optional=False):
            return name, f"must be text, got {type(value).__name__} {_show(value)}"
    for name, label in (("start_ms", "start_time"), ("end_ms", "end_time")):
        value = getattr(record, name)
        if not _epoch_ms(value):
            return label, f"must be epoch milliseconds, got {_show(value)}"
    for group in ("params", "tags"):
        for key, value in getattr(record, group).items():
            if not isinstance(key, str) or not isinstance(value, str):
                return f"{group}.{key}", f"must be text, got {type(value).__name__} {_show(value)}"
    for key, series in record.metrics.items():
        if not isinstance(key, str) or not isinstance(series, MetricSeries):
            return f"metrics.{key}", "must be a numeric history"
    return None


class MlflowReader(Protocol):
    """Reads one MLflow tracking store. Implementations never write to it."""

    kind: str
    uri: str
    #: Whether :meth:`list_runs` lists every run, so a run missing from it is gone.
    full_listing: bool

    def experiments(self) -> list[ExperimentRecord]:
        """Every experiment, deleted ones included."""
        ...

    def list_runs(self, cursor: dict[str, Any], *, full: bool) -> Iterator[RunHeader]:
        """Runs that may have changed since ``cursor`` (every run when ``full``)."""
        ...

    def read_runs(self, headers: list[RunHeader]) -> list[RunRecord]:
        """Full records of the given runs, in the same order."""
        ...

    def registry(self) -> RegistrySnapshot:
        """Registered model versions and aliases (empty when the store has no registry)."""
        ...

    def close(self) -> None:
        """Release files, connections and sessions."""
        ...
