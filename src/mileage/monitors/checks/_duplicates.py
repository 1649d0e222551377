"""Duplicate rows and declared keys: join fan-outs, retried writes, ids sent twice.

Two table-level checks compare the batch with what the reference's own repetition allows at
the batch's size:

* **One row repeated.** The share of the batch taken by its most repeated row, at its lower
  confidence bound, against the upper bound of the same share in the reference. Copies of
  one row making up a large part of the batch (a join fan-out) are blocking.
* **Duplicate-row rate.** Rows that copy an earlier row, against the number of coinciding
  pairs a batch of this size should hold: the reference's share of coinciding row pairs
  (upper Poisson bound) times the batch's pairs. Repetition grows with the square of the
  batch size in data with few distinct rows, and this bound grows with it; a retried write
  (every row twice) is blocking.

Declared key columns (``--key``) must be unique within a batch: every repeated key is
blocking, with the repeated key's values and the share of rows concerned. Ids new in every
batch pass both checks, since id and key columns are left out of row comparisons.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mileage.monitors.checks._evidence import (
    ALPHA,
    count_upper,
    poisson_tail,
    share_lower,
    share_upper,
)
from mileage.monitors.checks._findings import BatchReport, Finding, Severity
from mileage.platform.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

#: Columns and characters of a repeated row quoted in a finding.
SHOWN_COLUMNS = 8
SHOWN_CHARS = 40


@dataclass(frozen=True)
class RowRepetition:
    """How often rows repeat in one sample.

    Attributes:
        rows: Rows compared.
        duplicate_rows: Rows equal to an earlier row.
        pairs: Pairs of equal rows.
        top_count: Copies of the most repeated row.
        top_index: Position of one copy of that row.
    """

    rows: int
    duplicate_rows: int
    pairs: int
    top_count: int
    top_index: int | None

    @classmethod
    def of(cls, frame: pd.DataFrame) -> RowRepetition:
        """Count repetitions of whole rows of ``frame`` (hashed, so any dtype works)."""
        import pandas as pd

        n = len(frame)
        if n == 0 or frame.shape[1] == 0:
            return cls(n, 0, 0, min(n, 1), 0 if n else None)
        hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        counts = pd.Series(hashes).value_counts()
        top_hash = counts.index[0]
        top_index = int((hashes == top_hash).argmax())
        m = counts.to_numpy(dtype="int64")
        return cls(n, int(n - len(m)), int((m * (m - 1) // 2).sum()), int(m[0]), top_index)


def _short(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, int | bool) or value is None:
        return value
    text = str(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def shorten_row(row: pd.Series) -> dict[str, Any]:
    """The first :data:`SHOWN_COLUMNS` values of a row, long strings cut."""
    items = list(row.items())
    out = {str(k): _short(v.item() if hasattr(v, "item") else v) for k, v in items[:SHOWN_COLUMNS]}
    if len(items) > SHOWN_COLUMNS:
        out["…"] = f"{len(items) - SHOWN_COLUMNS} more columns"
    return out


def _text(row: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in row.items())


def check_key_columns(keys: list[str], columns: list[str], *, what: str = "reference") -> None:
    """Declared key columns must be columns of the reference.

    Raises:
        ConfigError: A key column is missing; the message lists the available columns.
    """
    missing = [k for k in keys if k not in columns]
    if missing:
        raise ConfigError(
            f"--key {missing[0]!r}: the {what} has no such column (columns: "
            f"{', '.join(map(str, columns[:20]))}{' ...' if len(columns) > 20 else ''}); "
            "name a column of the reference."
        )


def duplicates_batch(
    batch: pd.DataFrame,
    reference: pd.DataFrame,
    report: BatchReport,
    *,
    where: str,
    columns: list[str],
    keys: Sequence[str] = (),
    reference_repetition: RowRepetition | None = None,
) -> None:
    """Add duplicate-row and key findings for ``batch`` to ``report``.

    Args:
        batch: The batch.
        reference: Reference data (its repetition is the baseline).
        report: Receives findings and the ``duplicate_share`` statistic.
        where: Batch description for messages.
        columns: Columns compared between rows (features, without ids, keys or labels).
        keys: Declared key columns, unique within a batch.
        reference_repetition: The reference's :class:`RowRepetition`, when already computed.
    """
    n = len(batch)
    if n == 0:
        return
    cols = [c for c in columns if c in batch.columns and c in reference.columns]
    if cols:
        ref = reference_repetition or RowRepetition.of(reference[cols])
        now = RowRepetition.of(batch[cols])
        report.stat("validation", None, "duplicate_share", now.duplicate_rows / n)
        repeated = _repeated_row(batch, cols, now, ref, where)
        report.add(repeated)
        if repeated:  # one fault, one finding: judge the rest of the repetition on its own
            now = dataclasses.replace(now, duplicate_rows=now.duplicate_rows - (now.top_count - 1))
        report.add(_duplicate_rate(now, ref, where))
    report.add(_keys(batch, list(keys), where))


def _repeated_row(
    batch: pd.DataFrame, cols: list[str], now: RowRepetition, ref: RowRepetition, where: str
) -> list[Finding]:
    n = now.rows
    low = share_lower(now.top_count, n)
    allowed = share_upper(ref.top_count, ref.rows)
    if now.top_count < 2 or low <= allowed or now.top_index is None:
        return []
    row = shorten_row(batch[cols].iloc[now.top_index])
    share = now.top_count / n
    return [
        Finding(
            check_kind="validation",
            check="repeated_row",
            column=None,
            statistic="top_row_share",
            value=share,
            threshold=allowed,
            severity=Severity.BLOCKING,
            message=(
                f"{where}: {now.top_count:,} of {n:,} rows ({share:.1%}) are copies of one row "
                f"({_text(row)}); in the {ref.rows:,}-row reference no row takes more than "
                f"{allowed:.1%}; a join fan-out or a retried write upstream is the usual "
                "cause; deduplicate the batch before it is scored."
            ),
            evidence={
                "row": row,
                "copies": now.top_count,
                "reference_rows": ref.rows,
                "reference_top_copies": ref.top_count,
            },
            share=share,
            reference_bound=allowed,
            sample_size=n,
        )
    ]


def _duplicate_rate(now: RowRepetition, ref: RowRepetition, where: str) -> list[Finding]:
    n = now.rows
    ref_pairs = ref.rows * (ref.rows - 1) / 2
    if now.duplicate_rows == 0 or ref_pairs <= 0:
        return []
    # coinciding pairs expected in a batch this size, at the reference's upper bound
    expected = count_upper(ref.pairs) / ref_pairs * n * (n - 1) / 2
    p = poisson_tail(now.duplicate_rows, expected)
    if p >= ALPHA:
        return []
    share = now.duplicate_rows / n
    allowed = min(1.0, expected / n)
    return [
        Finding(
            check_kind="validation",
            check="duplicate_rows",
            column=None,
            statistic="duplicate_share",
            value=share,
            threshold=allowed,
            severity=Severity.BLOCKING,
            message=(
                f"{where}: {now.duplicate_rows:,} of {n:,} rows ({share:.1%}) repeat an earlier "
                f"row; the reference ({ref.duplicate_rows:,} repeats in {ref.rows:,} rows) "
                f"allows about {allowed:.1%} at this batch size; a retried write or a job run "
                "twice upstream is the usual cause; deduplicate the batch before it is scored."
            ),
            evidence={
                "duplicate_rows": now.duplicate_rows,
                "reference_rows": ref.rows,
                "reference_duplicate_rows": ref.duplicate_rows,
                "expected_duplicates": expected,
                "p_value": p,
            },
            share=share,
            reference_bound=allowed,
            sample_size=n,
        )
    ]


def _keys(batch: pd.DataFrame, keys: list[str], where: str) -> list[Finding]:
    if not keys:
        return []
    absent = [k for k in keys if k not in batch.columns]
    n = len(batch)
    if absent:
        return [
            Finding(
                check_kind="validation",
                check="key_unique",
                column=absent[0],
                statistic="present",
                value=0,
                threshold=1,
                severity=Severity.BLOCKING,
                message=f"{where}: key column {absent[0]!r} is not in the batch, so rows cannot "
                "be told apart; add it upstream or change the monitor's --key.",
                evidence={"keys": keys},
            )
        ]
    frame = batch[keys].dropna()
    repeated = frame.duplicated(keep=False)
    count = int(repeated.sum())
    if count == 0:
        return []
    counts = frame[repeated].value_counts()
    top = counts.index[0]
    top_values = dict(zip(keys, top if isinstance(top, tuple) else (top,), strict=True))
    shown = shorten_row(_series(top_values))
    share = count / n
    return [
        Finding(
            check_kind="validation",
            check="key_unique",
            column=keys[0] if len(keys) == 1 else None,
            statistic="duplicate_key_share",
            value=share,
            threshold=0.0,
            severity=Severity.BLOCKING,
            message=(
                f"{where}: {count:,} of {n:,} rows ({share:.1%}) share their key "
                f"({', '.join(keys)}) with another row, e.g. {_text(shown)} appears "
                f"{int(counts.iloc[0]):,} times; the key is declared unique, so rows were "
                "sent twice or joined to several matches upstream."
            ),
            evidence={
                "keys": keys,
                "key": shown,
                "copies": int(counts.iloc[0]),
                "repeated_keys": len(counts),
            },
            share=share,
            reference_bound=0.0,
            sample_size=n,
        )
    ]


def _series(values: dict[str, Any]) -> pd.Series:
    import pandas as pd

    return pd.Series(values, dtype=object)


__all__ = ["RowRepetition", "check_key_columns", "duplicates_batch", "shorten_row"]
