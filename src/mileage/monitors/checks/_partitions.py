"""Mergeable summaries of a batch's partitions: validation counts and a uniform drift sample.

A batch too large for one process is checked one partition at a time (a Parquet row group
here, a Dask partition on a cluster). Each partition gives a :class:`PartitionSummary` whose
size does not grow with the partition; summaries merge associatively, so the order and the
grouping of the merges (a loop, or Dask's tree reduction) do not change the result:

* **row-level validations** (nulls, bounds, domain, types, presence) are counts that add up;
  a few offending values are kept as evidence;
* **distinct values** (the cardinality and expected-values checks) are kept up to
  :data:`DISTINCT_CAP` per column, enough to decide both checks;
* **unique identifiers** keep one 8-byte hash per non-null id: the one statistic that grows
  with the batch (20,000,000 ids: 160 MB), since two partitions may share an id;
* **drift** needs raw values (Kolmogorov-Smirnov, Wasserstein), so partitions contribute to
  a uniform sample without replacement of ``sample_rows`` rows: every row draws a key from
  its position in the batch (a hash, so the sample does not depend on how the batch is
  partitioned) and the rows with the smallest keys are kept.

Custom expectations from the suite run with Great Expectations on each partition; their
unexpected counts add up, and one that reports an aggregate (a mean, say) fails the batch
when it fails on any partition.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mileage.monitors.checks._suite import PlannedCheck
from mileage.monitors.checks._validation import EVIDENCE_VALUES, run_expectations

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: Distinct values kept per column for the cardinality and expected-values checks.
DISTINCT_CAP = 10_000
#: New categories counted per column (a column full of new values keeps its total count).
NEW_VALUES_CAP = 1_000
DRAW = "__mileage_draw__"


@dataclass
class PartitionSummary:
    """What one partition (or several merged) tells the checks.

    Attributes:
        rows: Rows summarised.
        columns: Columns of the first partition, in order.
        dtypes: Their pandas dtypes (of the first partition).
        type_ok: Per type check key, whether every partition had an allowed dtype.
        nulls: Null count per column.
        low, high: Smallest and largest non-null value per numeric column.
        unexpected: Unexpected-value count per check key.
        elements: Non-null values per domain check key.
        examples: A few unexpected values per check key.
        new_values: Counts of values outside the domain, per column (as text).
        other_new: Values outside the domain past :data:`NEW_VALUES_CAP` distinct ones.
        distinct: Distinct non-null values per column, up to :data:`DISTINCT_CAP`.
        hashes: Hashes of identifier values per column (unique checks).
        custom: Per custom expectation: unexpected, element count, success.
        sample: Rows of the drift sample with their draw keys.
    """

    rows: int = 0
    columns: list[str] = field(default_factory=list)
    dtypes: dict[str, str] = field(default_factory=dict)
    type_ok: dict[str, bool] = field(default_factory=dict)
    nulls: dict[str, int] = field(default_factory=dict)
    low: dict[str, Any] = field(default_factory=dict)
    high: dict[str, Any] = field(default_factory=dict)
    unexpected: dict[str, int] = field(default_factory=dict)
    elements: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[Any]] = field(default_factory=dict)
    new_values: dict[str, dict[str, int]] = field(default_factory=dict)
    other_new: dict[str, int] = field(default_factory=dict)
    distinct: dict[str, set[Any]] = field(default_factory=dict)
    hashes: dict[str, list[np.ndarray]] = field(default_factory=dict)
    custom: dict[str, dict[str, Any]] = field(default_factory=dict)
    sample: pd.DataFrame | None = None


def draw_keys(start: int, n: int, seed: int) -> np.ndarray:
    """Uniform keys in [0, 1) for rows ``start .. start + n - 1`` (splitmix64 of the row
    position): the same rows get the same keys however the batch is partitioned."""
    import numpy as np

    with np.errstate(over="ignore"):
        x = np.arange(start, start + n, dtype=np.uint64) + np.uint64(
            (seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        )
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def sample_threshold(rows: int, sample_rows: int, seed: int, *, chunk: int = 1_000_000) -> float:
    """The largest draw key of the ``sample_rows`` rows a batch of ``rows`` rows keeps.

    Keys depend only on row positions, so this is known before any row is read: a partition
    keeps its rows with keys up to it (about ``sample_rows`` times its share of the batch)
    instead of its own ``sample_rows`` smallest, and the merged sample is the same. Computed
    in chunks of positions (memory ``chunk + sample_rows`` keys); ``1.0`` keeps every row.
    """
    import numpy as np

    if sample_rows <= 0:
        return -1.0
    if rows <= sample_rows:
        return 1.0
    best = np.empty(0)
    # Rows above this bound are almost never among the smallest; checked below.
    bound = min(1.0, sample_rows / rows * 1.1 + 1e-9 + 10.0 / rows)
    for _ in range(2):
        best = np.empty(0)
        for start in range(0, rows, chunk):
            keys = draw_keys(start, min(chunk, rows - start), seed)
            keys = np.concatenate([best, keys[keys <= bound]])
            if len(keys) > sample_rows:
                keys = np.partition(keys, sample_rows - 1)[:sample_rows]
            best = keys
        if len(best) >= sample_rows:
            return float(best.max())
        bound = 1.0
    return float(best.max())


def _smallest(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    if len(frame) <= k:
        return frame
    return frame.nsmallest(k, DRAW)


def _first_distinct(values: pd.Series) -> np.ndarray:
    """The first :data:`DISTINCT_CAP` distinct values in order of appearance; a continuous
    column usually has them within its first few rows, so the rest is not hashed."""
    head = values.iloc[: 4 * DISTINCT_CAP].unique()
    if len(head) >= DISTINCT_CAP or len(values) <= 4 * DISTINCT_CAP:
        return head[:DISTINCT_CAP]
    return values.unique()[:DISTINCT_CAP]


def _column_summary(out: PartitionSummary, frame: pd.DataFrame, check: PlannedCheck) -> None:
    column = check.column or ""
    series = frame[column]
    key = check.key
    if check.check == "type":
        out.type_ok[key] = str(series.dtype) in check.kwargs["type_list"]
    elif check.check == "nulls":
        out.nulls[column] = int(series.isna().sum())
    elif check.check == "bounds":
        import pandas as pd

        values = series.dropna()
        lo, hi = check.kwargs.get("min_value"), check.kwargs.get("max_value")
        bad = pd.Series(False, index=values.index)
        if lo is not None:
            bad = bad | (values < lo)
        if hi is not None:
            bad = bad | (values > hi)
        out.unexpected[key] = int(bad.sum())
        out.examples[key] = values[bad].head(EVIDENCE_VALUES).tolist()
        if len(values):
            out.low[column], out.high[column] = values.min(), values.max()
    elif check.check == "domain":
        values = series.dropna()
        outside = values[~values.isin(check.kwargs["value_set"])]
        out.unexpected[key] = len(outside)
        out.elements[key] = len(values)
        out.examples[key] = outside.head(EVIDENCE_VALUES).tolist()
        inside = values[values.isin(check.kwargs["value_set"])].unique()[:DISTINCT_CAP]
        out.distinct[column] = out.distinct.get(column, set()) | set(inside.tolist())
        counts = outside.astype(str).value_counts()
        out.new_values[column] = {str(k): int(v) for k, v in counts.head(NEW_VALUES_CAP).items()}
        out.other_new[column] = int(counts.iloc[NEW_VALUES_CAP:].sum())
    elif check.check in ("expected", "cardinality"):
        seen = set(_first_distinct(series.dropna()).tolist())
        out.distinct[column] = out.distinct.get(column, set()) | seen
    elif check.check == "unique":
        import pandas as pd

        values = series.dropna()
        out.hashes[column] = [pd.util.hash_pandas_object(values, index=False).to_numpy()]
        repeated = values[values.duplicated(keep=False)]
        out.examples[key] = repeated.head(EVIDENCE_VALUES).tolist()


def summarize(
    frame: pd.DataFrame,
    checks: list[PlannedCheck],
    drift_columns: list[str],
    *,
    start: int,
    sample_rows: int,
    seed: int,
    id_column: str | None = None,
    threshold: float = 1.0,
) -> PartitionSummary:
    """The summary of one partition whose first row is row ``start`` of the batch.

    Only rows whose draw key is at most ``threshold`` (:func:`sample_threshold` of the whole
    batch) enter the drift sample, so a partition's sample is its share of the batch's, not
    ``sample_rows`` rows: what a task sends back stays small however many parts there are.
    """
    out = PartitionSummary(
        rows=len(frame),
        columns=[str(c) for c in frame.columns],
        dtypes={str(c): str(t) for c, t in frame.dtypes.items()},
    )
    custom = []
    for check in checks:
        if check.check == "custom":
            custom.append(check)
        elif check.column is not None and check.column in frame.columns:
            _column_summary(out, frame, check)
    if custom and len(frame):
        for key, res in run_expectations(frame, custom, id_column=id_column).items():
            r = dict(res.result or {})
            out.custom[key] = {
                "success": bool(res.success),
                "unexpected": int(r.get("unexpected_count") or 0),
                "elements": int(r.get("element_count") or 0),
                "missing": int(r.get("missing_count") or 0),
                "examples": list(r.get("partial_unexpected_list") or [])[:EVIDENCE_VALUES],
                "observed": r.get("observed_value"),
            }
    present = [c for c in drift_columns if c in frame.columns]
    if present and sample_rows:
        keys = draw_keys(start, len(frame), seed)
        keep = keys <= threshold
        sample = frame.loc[keep, present].copy()
        sample[DRAW] = keys[keep]
        out.sample = _smallest(sample, sample_rows).reset_index(drop=True)
    return out


def _cap(values: set[Any]) -> set[Any]:
    """The :data:`DISTINCT_CAP` smallest of ``values``: by value when all are numbers (a
    partial sort in numpy), else by their text. Any fixed order keeps merges associative; the
    text of 20,000 floats per column and merge cost seconds on a 50-column batch."""
    import numpy as np

    kinds = {type(v) for v in values}
    if kinds == {float}:
        array = np.fromiter(values, dtype=np.float64, count=len(values))
        return set(np.partition(array, DISTINCT_CAP - 1)[:DISTINCT_CAP].tolist())
    if kinds == {int}:
        return set(sorted(values)[:DISTINCT_CAP])
    return set(sorted(values, key=str)[:DISTINCT_CAP])


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}


def merge(a: PartitionSummary, b: PartitionSummary, *, sample_rows: int) -> PartitionSummary:
    """One summary of the rows of ``a`` and ``b`` (associative: any merge order agrees)."""
    import pandas as pd

    out = PartitionSummary(
        rows=a.rows + b.rows,
        columns=a.columns or b.columns,
        dtypes=a.dtypes or b.dtypes,
        type_ok={
            k: a.type_ok.get(k, True) and b.type_ok.get(k, True)
            for k in a.type_ok.keys() | b.type_ok.keys()
        },
        nulls=_add(a.nulls, b.nulls),
        unexpected=_add(a.unexpected, b.unexpected),
        elements=_add(a.elements, b.elements),
        other_new=_add(a.other_new, b.other_new),
    )
    for column in a.low.keys() | b.low.keys():
        lows = [s.low[column] for s in (a, b) if column in s.low]
        highs = [s.high[column] for s in (a, b) if column in s.high]
        out.low[column], out.high[column] = min(lows), max(highs)
    for key in a.examples.keys() | b.examples.keys():
        out.examples[key] = (a.examples.get(key, []) + b.examples.get(key, []))[:EVIDENCE_VALUES]
    for column in a.new_values.keys() | b.new_values.keys():
        counts = Counter(a.new_values.get(column, {})) + Counter(b.new_values.get(column, {}))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        out.new_values[column] = dict(ranked[:NEW_VALUES_CAP])
        out.other_new[column] = out.other_new.get(column, 0) + sum(
            v for _, v in ranked[NEW_VALUES_CAP:]
        )
    for column in a.distinct.keys() | b.distinct.keys():
        both = a.distinct.get(column, set()) | b.distinct.get(column, set())
        out.distinct[column] = both if len(both) <= DISTINCT_CAP else _cap(both)
    for column in a.hashes.keys() | b.hashes.keys():
        out.hashes[column] = a.hashes.get(column, []) + b.hashes.get(column, [])
    for key in a.custom.keys() | b.custom.keys():
        x, y = a.custom.get(key), b.custom.get(key)
        if x is None or y is None:
            out.custom[key] = dict(x or y or {})
            continue
        out.custom[key] = {
            "success": x["success"] and y["success"],
            "unexpected": x["unexpected"] + y["unexpected"],
            "elements": x["elements"] + y["elements"],
            "missing": x["missing"] + y["missing"],
            "examples": (x["examples"] + y["examples"])[:EVIDENCE_VALUES],
            "observed": y["observed"] if not y["success"] else x["observed"],
        }
    samples = [s.sample for s in (a, b) if s.sample is not None]
    if samples:
        out.sample = _smallest(pd.concat(samples, ignore_index=True), sample_rows).reset_index(
            drop=True
        )
    return out


def merge_all(summaries: list[PartitionSummary], *, sample_rows: int) -> PartitionSummary:
    """Merge ``summaries`` pairwise, as a tree (what Dask's reduction does)."""
    items = list(summaries) or [PartitionSummary()]
    while len(items) > 1:
        items = [
            merge(items[i], items[i + 1], sample_rows=sample_rows)
            if i + 1 < len(items)
            else items[i]
            for i in range(0, len(items), 2)
        ]
    return items[0]


__all__ = [
    "DRAW",
    "PartitionSummary",
    "draw_keys",
    "merge",
    "merge_all",
    "sample_threshold",
    "summarize",
]
