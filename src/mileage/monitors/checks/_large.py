"""Checks of batches larger than memory: Parquet row groups, on this machine or on Dask.

:func:`check_parquet` reads a Parquet batch one row group at a time (a row group larger than
``rows_per_part`` is read in slices), summarises each part (:mod:`._partitions`) and merges the
summaries, so its memory is set by ``rows_per_part`` and the drift sample, not by the batch.
:func:`check_parquet_on_dask` runs the same summaries as one task per row group on a Dask
cluster and merges them in a tree on the workers; the process that asked only receives the
merged summary and writes the report. Both end in :func:`report_of_summary`, which produces the
findings of the single-machine check: the same validation findings (built by the same message
builders from merged counts) and drift findings from a uniform sample of ``sample_rows`` rows.

Scoring by a model, performance under labels and the duplicate-row and key checks are not run
on a batch checked in parts; the report says so in a note.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mileage.monitors.checks._drift import drift_batch, drift_columns
from mileage.monitors.checks._findings import BatchReport, Finding, Severity
from mileage.monitors.checks._partitions import (
    DRAW,
    PartitionSummary,
    merge,
    merge_all,
    sample_threshold,
    summarize,
)
from mileage.monitors.checks._suite import PlannedCheck, plan_checks
from mileage.monitors.checks._validation import report_results
from mileage.platform.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from mileage.monitors.checks._check import MonitorConfig

#: Rows read at once from a row group.
ROWS_PER_PART = 250_000


@dataclass(frozen=True)
class Part:
    """One row group of one file, and the position of its first row in the batch."""

    path: str
    row_group: int
    start: int
    rows: int


def parquet_files(uri: str | Path) -> list[Path]:
    """The Parquet files of a batch: one file, or a folder of them (in name order)."""
    path = Path(uri).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".parquet", ".pq"))
        if not files:
            raise DataError(f"batch folder {str(path)!r} holds no Parquet files.")
        return files
    if not path.is_file():
        raise DataError(f"batch {str(path)!r} does not exist; check the path.")
    return [path]


def plan_parts(uri: str | Path) -> tuple[list[Part], pd.DataFrame]:
    """The batch's row groups in order, and an empty frame with its columns and types."""
    import pyarrow.parquet as pq

    parts: list[Part] = []
    start = 0
    schema = None
    for path in parquet_files(uri):
        try:
            meta = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise DataError(
                f"batch file {str(path)!r} cannot be read as Parquet: {type(exc).__name__}: "
                f"{str(exc)[:300]}"
            ) from None
        schema = schema or meta.schema_arrow
        for i in range(meta.metadata.num_row_groups):
            rows = meta.metadata.row_group(i).num_rows
            parts.append(Part(str(path), i, start, rows))
            start += rows
    assert schema is not None
    return parts, schema.empty_table().to_pandas()


def parquet_rows(uri: str | Path) -> int:
    """Rows of a Parquet batch, from the files' footers (nothing else is read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in parquet_files(uri))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{uri} cannot be read as parquet: {exc}") from exc


@dataclass(frozen=True)
class Plan:
    """What every part computes: the checks, the drift columns, the sample."""

    checks: list[PlannedCheck]
    skipped: dict[str, str]
    drift: dict[str, str]
    sample_rows: int
    seed: int
    id_column: str | None
    rows_per_part: int
    #: Largest draw key of the batch's drift sample (:func:`._partitions.sample_threshold`).
    threshold: float = 1.0
    #: Whether Arrow may decode on its thread pool: yes in one process (its cores are idle),
    #: no on a Dask worker, which has one thread per core (its neighbours use the others).
    arrow_threads: bool = True


def summarize_part(part: Part, plan: Plan) -> PartitionSummary:
    """Read one row group (in slices of at most ``plan.rows_per_part`` rows) and summarise it."""
    out: PartitionSummary | None = None
    start = part.start
    for frame in _row_group_slices(part, plan.rows_per_part, plan.arrow_threads):
        summary = summarize(
            frame,
            plan.checks,
            list(plan.drift),
            start=start,
            sample_rows=plan.sample_rows,
            seed=plan.seed,
            id_column=plan.id_column,
            threshold=plan.threshold,
        )
        start += len(frame)
        del frame
        out = summary if out is None else merge(out, summary, sample_rows=plan.sample_rows)
    return out if out is not None else PartitionSummary()


def _row_group_slices(part: Part, rows: int, threads: bool) -> Iterator[pd.DataFrame]:
    """One row group as frames of at most ``rows`` rows; a damaged one is a DataError naming
    the file and the row group (pyarrow raises OSError or ArrowInvalid, with thrift's words)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(part.path)
        for batch in file.iter_batches(
            batch_size=rows, row_groups=[part.row_group], use_threads=threads
        ):
            yield batch.to_pandas(use_threads=threads)
    except (pa.ArrowException, OSError) as exc:
        detail = " ".join(str(exc).split())[:300]
        raise DataError(
            f"row group {part.row_group} of batch file {part.path!r} cannot be read as parquet "
            f"({type(exc).__name__}: {detail}); the file is damaged: re-export it (or move it "
            "out of the batch folder)."
        ) from None


def make_plan(
    schema: pd.DataFrame,
    rows: int,
    *,
    suite: dict[str, Any],
    config: MonitorConfig,
    reference: pd.DataFrame,
    rows_per_part: int = ROWS_PER_PART,
) -> Plan:
    """The checks of a batch of ``rows`` rows with ``schema``'s columns and types."""
    from mileage.monitors.checks._check import prediction_kind

    checks, skipped = plan_checks(suite, schema, identifiers=tuple(config.key_columns), rows=rows)
    columns = {
        c: k
        for c, k in drift_columns(suite).items()
        if c not in config.excluded and c not in config.key_columns
    }
    pred = config.prediction_column
    if pred in schema.columns and pred in reference.columns:
        columns[pred] = prediction_kind(config)
    options = config.drift_options()
    seed = options.seed + 1
    sample_rows = options.sample_rows if columns else 0
    return Plan(
        checks,
        skipped,
        columns,
        options.sample_rows,
        seed,
        config.id_column,
        rows_per_part,
        sample_threshold(rows, sample_rows, seed) if sample_rows else 1.0,
    )


class SummaryFacts:
    """:class:`~._validation.Facts` of a batch read from its merged summary."""

    def __init__(self, summary: PartitionSummary) -> None:
        self.summary = summary

    @property
    def n(self) -> int:
        return self.summary.rows

    @property
    def columns(self) -> list[str]:
        return list(self.summary.columns)

    def dtype(self, column: str) -> str | None:
        return self.summary.dtypes.get(column)

    def nulls(self, column: str) -> int:
        return int(self.summary.nulls.get(column, 0))

    def min_max(self, column: str) -> tuple[Any, Any]:
        return self.summary.low.get(column), self.summary.high.get(column)

    def new_values(self, column: str, value_set: list[Any]) -> dict[str, int]:
        counts = self.summary.new_values.get(column, {})
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def seen(self, column: str) -> set[str]:
        return {str(v) for v in self.summary.distinct.get(column, set())}

    def some_values(self, column: str, k: int) -> list[Any]:
        return sorted(self.summary.distinct.get(column, set()), key=str)[:k]


@dataclass
class MergedResult:
    """A check's result over all parts, shaped like Great Expectations' result."""

    success: bool
    result: dict[str, Any]
    exception_info: dict[str, Any] | None = None


def _mostly(good: int, total: int, mostly: Any) -> bool:
    return total == 0 or good / total >= float(mostly if mostly is not None else 1.0)


def _result(check: PlannedCheck, s: PartitionSummary) -> MergedResult | None:
    kw, key, column = check.kwargs, check.key, check.column or ""
    if check.check == "rows":
        lo, hi = kw.get("min_value"), kw.get("max_value")
        ok = (lo is None or s.rows >= lo) and (hi is None or s.rows <= hi)
        return MergedResult(ok, {"observed_value": s.rows})
    if check.check == "exists":
        return MergedResult(column in s.columns, {})
    if check.check == "type":
        return MergedResult(s.type_ok.get(key, True), {"observed_value": s.dtypes.get(column)})
    if check.check == "nulls":
        nulls = s.nulls.get(column, 0)
        ok = _mostly(s.rows - nulls, s.rows, kw.get("mostly"))
        return MergedResult(ok, {"unexpected_count": nulls, "partial_unexpected_list": []})
    if check.check == "bounds":
        count = s.unexpected.get(key, 0)
        return MergedResult(
            count == 0,
            {"unexpected_count": count, "partial_unexpected_list": s.examples.get(key, [])},
        )
    if check.check == "domain":
        count, total = s.unexpected.get(key, 0), s.elements.get(key, 0)
        return MergedResult(
            _mostly(total - count, total, kw.get("mostly")),
            {"unexpected_count": count, "partial_unexpected_list": s.examples.get(key, [])},
        )
    if check.check == "expected":
        seen = {str(v) for v in s.distinct.get(column, set())}
        ok = all(str(v) in seen for v in kw["value_set"])
        return MergedResult(ok, {"observed_value": sorted(seen)})
    if check.check == "cardinality":
        observed = len(s.distinct.get(column, set()))
        lo, hi = kw.get("min_value"), kw.get("max_value")
        ok = (lo is None or observed >= lo) and (hi is None or observed <= hi)
        return MergedResult(ok, {"observed_value": observed})
    if check.check == "unique":
        import numpy as np

        arrays = s.hashes.get(column, [])
        if not arrays:
            return MergedResult(True, {"unexpected_count": 0})
        _, counts = np.unique(np.concatenate(arrays), return_counts=True)
        count = int(counts[counts > 1].sum())
        return MergedResult(
            count == 0,
            {"unexpected_count": count, "partial_unexpected_list": s.examples.get(key, [])},
        )
    if check.check == "custom":
        c = s.custom.get(key)
        if c is None:
            return None
        ok = c["success"]
        if "mostly" in kw:
            total = c["elements"] - c["missing"]
            ok = _mostly(total - c["unexpected"], total, kw["mostly"])
        result = {
            "unexpected_count": c["unexpected"],
            "partial_unexpected_list": c["examples"],
            "observed_value": c["observed"],
        }
        return MergedResult(ok, result)
    return None


def merged_results(summary: PartitionSummary, checks: list[PlannedCheck]) -> dict[str, Any]:
    """Each check's result over the whole batch, from the merged summary."""
    out: dict[str, Any] = {}
    for check in checks:
        res = _result(check, summary)
        if res is not None:
            out[check.key] = res
    return out


def report_of_summary(
    summary: PartitionSummary,
    plan: Plan,
    *,
    reference: pd.DataFrame,
    suite: dict[str, Any],
    config: MonitorConfig,
    batch_id: str,
    pipeline: str | None = None,
    history: dict[str, list[int]] | None = None,
    parts: int = 1,
    where_run: str = "this machine",
) -> BatchReport:
    """The report of a batch from its merged summary: validation, then drift."""
    import pandas as pd

    where = f"monitor {pipeline!r} batch {batch_id}" if pipeline else f"batch {batch_id!r}"
    report = BatchReport(pipeline, batch_id, None, summary.rows, len(summary.columns))
    started = time.perf_counter()
    n = summary.rows
    report.stat("validation", None, "row_count", n)
    if n == 0:
        report.add(
            [
                Finding(
                    check_kind="validation",
                    check="expect_table_row_count_to_be_between",
                    column=None,
                    statistic="row_count",
                    value=0,
                    threshold=1,
                    severity=Severity.BLOCKING,
                    message=f"{where}: the batch is empty ({len(summary.columns)} columns, 0 "
                    "rows); check the job that writes it, nothing was validated or scored.",
                    evidence={"columns_received": summary.columns[:50]},
                )
            ]
        )
        report.sort()
        return report
    extra = [c for c in summary.columns if c not in suite["columns"] and c not in config.excluded]
    if extra:
        report.add(
            [
                Finding(
                    check_kind="validation",
                    check="unexpected_columns",
                    column=None,
                    statistic="column_count",
                    value=len(extra),
                    threshold=0,
                    severity=Severity.INFO,
                    message=f"{where}: {len(extra)} column(s) not in the reference are ignored: "
                    f"{', '.join(extra[:10])}; re-infer the suite if they are new features.",
                    evidence={"columns": extra[:50]},
                )
            ]
        )
    results = merged_results(summary, plan.checks)
    report_results(
        SummaryFacts(summary), suite, report, plan.checks, results, plan.skipped, where, pipeline
    )
    report.seconds["validation"] = time.perf_counter() - started
    sample = summary.sample if summary.sample is not None else pd.DataFrame()
    sample = sample.drop(columns=[DRAW], errors="ignore")
    drift_batch(
        reference,
        sample,
        plan.drift,
        report,
        where=where,
        options=config.drift_options(),
        history=history,
    )
    report.notes.append(
        f"checked in {parts} part(s) on {where_run}: validation counts merged over all "
        f"{n:,} rows, drift on a uniform sample of {len(sample):,} rows; scoring, performance "
        "and the duplicate-row and key checks are not run on a batch checked in parts."
    )
    report.sort()
    return report


def _check_in_parts(
    uri: str | Path,
    summarize_parts: Callable[[list[Part], Plan], PartitionSummary | None],
    *,
    reference: pd.DataFrame,
    suite: dict[str, Any],
    config: MonitorConfig,
    batch_id: str,
    pipeline: str | None,
    history: dict[str, list[int]] | None,
    rows_per_part: int,
    arrow_threads: bool,
    where_run: str,
) -> BatchReport:
    """Plan the row groups of a Parquet batch, summarise them with ``summarize_parts`` (here
    or on a cluster) and write the report of the merged summary."""
    parts, schema = plan_parts(uri)
    plan = make_plan(
        schema,
        sum(p.rows for p in parts),
        suite=suite,
        config=config,
        reference=reference,
        rows_per_part=rows_per_part,
    )
    plan = replace(plan, arrow_threads=arrow_threads)
    summary = summarize_parts(parts, plan) if parts else None
    if summary is None:
        summary = PartitionSummary(columns=[str(c) for c in schema.columns])
    return report_of_summary(
        summary,
        plan,
        reference=reference,
        suite=suite,
        config=config,
        batch_id=batch_id,
        pipeline=pipeline,
        history=history,
        parts=len(parts),
        where_run=where_run,
    )


def check_parquet(
    uri: str | Path,
    *,
    reference: pd.DataFrame,
    suite: dict[str, Any],
    config: MonitorConfig,
    batch_id: str,
    pipeline: str | None = None,
    history: dict[str, list[int]] | None = None,
    rows_per_part: int = ROWS_PER_PART,
) -> BatchReport:
    """Check a Parquet batch (a file or a folder of files) one row group at a time."""

    def summarize_here(parts: list[Part], plan: Plan) -> PartitionSummary | None:
        summary: PartitionSummary | None = None
        for part in parts:
            one = summarize_part(part, plan)
            summary = one if summary is None else merge(summary, one, sample_rows=plan.sample_rows)
        return summary

    return _check_in_parts(
        uri,
        summarize_here,
        reference=reference,
        suite=suite,
        config=config,
        batch_id=batch_id,
        pipeline=pipeline,
        history=history,
        rows_per_part=rows_per_part,
        arrow_threads=True,
        where_run="this machine",
    )


def _merge_many(summaries: list[PartitionSummary], sample_rows: int) -> PartitionSummary:
    return merge_all(summaries, sample_rows=sample_rows)


def check_parquet_on_dask(
    client: Any,
    uri: str | Path,
    *,
    reference: pd.DataFrame,
    suite: dict[str, Any],
    config: MonitorConfig,
    batch_id: str,
    pipeline: str | None = None,
    history: dict[str, list[int]] | None = None,
    rows_per_part: int = ROWS_PER_PART,
    fan_in: int = 8,
) -> BatchReport:
    """Check a Parquet batch on a Dask cluster: one task per row group, merged in a tree.

    The workers must see ``uri`` at the same path (a shared file system or object store
    mounted alike). Tasks are pure: a task lost with its worker is run again elsewhere and
    gives the same summary, and nothing is written until the merged summary is back here.
    """

    def summarize_on_dask(parts: list[Part], plan: Plan) -> PartitionSummary:
        futures = [client.submit(summarize_part, part, plan, pure=True) for part in parts]
        while len(futures) > 1:
            futures = [
                client.submit(_merge_many, futures[i : i + fan_in], plan.sample_rows, pure=True)
                for i in range(0, len(futures), fan_in)
            ]
        return cast(PartitionSummary, futures[0].result())

    # a worker has one thread per core: Arrow decodes on it rather than on a pool of its own
    return _check_in_parts(
        uri,
        summarize_on_dask,
        reference=reference,
        suite=suite,
        config=config,
        batch_id=batch_id,
        pipeline=pipeline,
        history=history,
        rows_per_part=rows_per_part,
        arrow_threads=False,
        where_run="a Dask cluster",
    )


__all__ = [
    "ROWS_PER_PART",
    "check_parquet",
    "check_parquet_on_dask",
    "parquet_rows",
]
