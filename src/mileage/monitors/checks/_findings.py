"""Findings: what a check found wrong (or provisional) in one batch, as plain queryable data.

A :class:`Finding` is one row of ``monitor_findings``: the check kind (``input``,
``validation``, ``drift``, ``performance``), the check (an expectation type, ``value_drift``,
``accuracy``, ...), the column and slice it concerns, the statistic measured, its value and the
threshold it was held to, a severity, a message that says what to do, and a little evidence
(a few offending values or rows). A :class:`BatchReport` gathers the findings of one batch
with every statistic measured, failing or not.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Any


class Severity(IntEnum):
    """How much a finding matters; ordered so ``max()`` gives the worst."""

    INFO = 0
    """Recorded, never an alert: provisional metrics, ignored columns."""
    WARNING = 1
    """Worth a look: drift beyond its effect-size threshold, a slice regression."""
    BLOCKING = 2
    """The batch or the pipeline cannot be trusted as is: a broken data contract, an SLO
    breach, sustained drift. ``mileage monitor run`` and ``check`` exit 1."""

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | int | Severity) -> Severity:
        """``"warning"``, ``1`` or ``Severity.WARNING`` to a :class:`Severity`."""
        if isinstance(value, Severity):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(f"severity {value!r} is not one of info, warning, blocking") from None


#: Check kinds, in the order a batch goes through them.
CHECK_KINDS = ("input", "validation", "drift", "performance")


def _clean(value: Any) -> Any:
    """JSON-safe evidence: NaN and infinities become strings, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Finding:
    """One thing a check found about one batch.

    Attributes:
        check_kind: ``input``, ``validation``, ``drift`` or ``performance``.
        check: What ran: an expectation type, ``value_drift``, ``accuracy``, ``label_coverage``...
        column: The column concerned (None for table-level findings).
        statistic: Name of the measured quantity (``unexpected_fraction``, ``wasserstein``...).
        value: The measured value (None when not numeric or not measurable).
        threshold: The limit it was held to.
        severity: :class:`Severity`.
        message: What is wrong and what to do, for people.
        evidence: A few offending values or rows and the numbers behind the decision.
        slice: The data slice concerned (performance findings), None for the whole batch.
        share: Share of the batch's rows the finding concerns (None when not row-based).
        reference_bound: What the reference's own sampling noise allows for the same
            statistic at this batch size (the limit the severity was decided against).
        sample_size: Rows of the batch the statistic was measured on.

    The last three are also kept in ``evidence["basis"]`` (with the reference's size and the
    rule applied), so stored findings carry them without a schema change; findings stored
    before they existed simply have no ``basis``.
    """

    check_kind: str
    check: str
    column: str | None
    statistic: str
    value: float | None
    threshold: float | None
    severity: Severity
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    slice: str | None = None
    share: float | None = None
    reference_bound: float | None = None
    sample_size: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _number(self.value))
        object.__setattr__(self, "threshold", _number(self.threshold))
        object.__setattr__(self, "share", _number(self.share))
        object.__setattr__(self, "reference_bound", _number(self.reference_bound))
        evidence = dict(self.evidence)
        if self.share is not None or self.reference_bound is not None or self.sample_size:
            evidence["basis"] = {
                **(evidence.get("basis") or {}),
                "share": self.share,
                "reference_bound": self.reference_bound,
                "sample_size": self.sample_size,
            }
        object.__setattr__(self, "evidence", _clean(evidence))

    @property
    def blocking(self) -> bool:
        return self.severity >= Severity.BLOCKING

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, ``severity`` as its label."""
        out = asdict(self)
        out["severity"] = self.severity.label
        return out


@dataclass(frozen=True)
class Statistic:
    """One measured value, failing or not (a row of ``monitor_statistics``)."""

    check_kind: str
    column: str
    statistic: str
    value: float | None
    slice: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "value": _number(self.value)}


@dataclass
class BatchReport:
    """Everything one check of one batch produced.

    Attributes:
        pipeline: Monitor name (``None`` for a one-shot check).
        batch_id: Batch identifier (file stem or value of the batch column).
        model_version: Model version that scored the batch (``name/3``), when known.
        n_rows: Rows in the batch (None when it could not be read).
        n_columns: Columns in the batch.
        findings: What was found, worst first after :meth:`sort`.
        statistics: Every value measured.
        seconds: Wall time per check kind.
    """

    pipeline: str | None
    batch_id: str
    model_version: str | None = None
    n_rows: int | None = None
    n_columns: int | None = None
    findings: list[Finding] = field(default_factory=list)
    statistics: list[Statistic] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)

    def stat(
        self, kind: str, column: str | None, name: str, value: float | None, slice_: str = ""
    ) -> None:
        self.statistics.append(Statistic(kind, column or "", name, value, slice_))

    def sort(self) -> None:
        order = {k: i for i, k in enumerate(CHECK_KINDS)}
        self.findings.sort(
            key=lambda f: (-int(f.severity), order.get(f.check_kind, 9), f.column or "", f.check)
        )

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    @property
    def blocking(self) -> bool:
        return any(f.blocking for f in self.findings)

    @property
    def status(self) -> str:
        """``failed`` with a blocking finding, ``warning`` with a warning, else ``passed``."""
        worst = self.worst
        if worst is None or worst == Severity.INFO:
            return "passed"
        return "failed" if worst == Severity.BLOCKING else "warning"

    def columns_named(self, at_least: Severity = Severity.WARNING) -> set[str]:
        """Columns named by findings of at least ``at_least`` severity."""
        return {f.column for f in self.findings if f.column and f.severity >= at_least}

    def to_dict(self) -> dict[str, Any]:
        self.sort()
        return {
            "pipeline": self.pipeline,
            "batch_id": self.batch_id,
            "model_version": self.model_version,
            "status": self.status,
            "n_rows": self.n_rows,
            "n_columns": self.n_columns,
            "counts": {s.label: sum(1 for f in self.findings if f.severity == s) for s in Severity},
            "findings": [f.to_dict() for f in self.findings],
            "statistics": [s.to_dict() for s in self.statistics],
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "notes": list(self.notes),
        }
