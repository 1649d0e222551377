"""Validation of one batch against its suite with Great Expectations (ephemeral context).

Each failed expectation becomes one :class:`Finding` naming the column, the statistic that
failed (unexpected fraction, observed value), the limit and a few offending values. Every
expectation's observed statistic is kept as a :class:`Statistic` whether it passed or not.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from mileage.monitors._findings import BatchReport, Finding, Severity
from mileage.monitors._suite import PlannedCheck, dtype_family, plan_checks

if TYPE_CHECKING:
    import pandas as pd

EVIDENCE_VALUES = 5
#: Batches with more cells than this are validated one column at a time.
SPLIT_CELLS = 2_000_000


def _camel(expectation_type: str) -> str:
    return "".join(part.capitalize() for part in expectation_type.split("_"))


def _ge_context() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _expectation(check: PlannedCheck) -> Any:
    import great_expectations.expectations as gxe

    cls = getattr(gxe, _camel(check.expectation_type), None)
    if cls is None:
        from mileage.platform.errors import ConfigError

        raise ConfigError(
            f"suite expectation {check.expectation_type!r} is not a Great Expectations "
            "expectation; see great_expectations.expectations for the available types."
        )
    kwargs = {k: v for k, v in check.kwargs.items() if v is not None or k.endswith("_value")}
    return cls(**kwargs, meta={"mileage_key": check.key})


def run_expectations(
    frame: pd.DataFrame, checks: list[PlannedCheck], *, id_column: str | None = None
) -> dict[str, Any]:
    """Run ``checks`` on ``frame`` in a fresh ephemeral GE context.

    On large batches column checks run one column at a time on a frame holding only that
    column (and the id column): GE's pandas engine copies its whole batch while computing a
    metric, so a 50-column batch validated in one piece costs 50 times more per check.

    Returns:
        ``{check key: ExpectationValidationResult}``.
    """
    import great_expectations as gx

    context = _ge_context()
    asset = context.data_sources.add_pandas("mileage").add_dataframe_asset("batch")
    batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    groups: dict[str | None, list[PlannedCheck]] = {}
    split = frame.size > SPLIT_CELLS  # below this, one suite costs less than many batches
    for check in checks:
        single = check.column is not None and check.column in frame.columns
        table_level = not split or check.check in ("rows", "exists") or not single
        groups.setdefault(None if table_level else check.column, []).append(check)
    out: dict[str, Any] = {}
    for i, (column, group) in enumerate(groups.items()):
        suite = gx.ExpectationSuite(name=f"mileage-{i}")
        for check in group:
            suite.add_expectation(_expectation(check))
        suite = context.suites.add(suite)
        result_format: dict[str, Any] = {
            "result_format": "SUMMARY",
            "partial_unexpected_count": EVIDENCE_VALUES,
        }
        if column is None:
            part = frame
        else:
            keep = [column] + (
                [id_column] if id_column in frame.columns and id_column != column else []
            )
            part = frame[keep]
        if id_column is not None and id_column in part.columns:
            result_format["unexpected_index_column_names"] = [id_column]
        batch = batch_definition.get_batch(batch_parameters={"dataframe": part})
        result = batch.validate(suite, result_format=result_format)
        out.update({r.expectation_config.meta.get("mileage_key"): r for r in result.results})
    return out


def _shell_arg(text: str) -> str:
    """``text`` as one shell word, double-quoted when needed (messages use single quotes)."""
    import re

    if re.fullmatch(r"[\w.@%+=:,/-]+", text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value) if isinstance(value, str) else str(value)


def _finding(
    check: PlannedCheck, res: Any, frame: pd.DataFrame, where: str, monitor: str | None
) -> Finding:
    r = dict(res.result or {})
    name = _shell_arg(monitor) if monitor else "NAME"
    column, n = check.column, len(frame)
    examples = [v for v in r.get("partial_unexpected_list") or []][:EVIDENCE_VALUES]
    evidence: dict[str, Any] = {"expectation": check.expectation_type, "kwargs": check.kwargs}
    if examples:
        evidence["values"] = examples
    rows = r.get("partial_unexpected_index_list")
    if rows:
        evidence["rows"] = rows[:EVIDENCE_VALUES]
    count = r.get("unexpected_count")
    fraction = (count / n) if count is not None and n else None
    exc = getattr(res, "exception_info", None) or {}
    if exc.get("raised_exception"):
        evidence["error"] = str(exc.get("exception_message"))[:300]
    fix = (
        f"fix it upstream, or review the suite ('mileage monitor suite {name} --export "
        "suite.json', edit, then '--import suite.json')"
        if monitor
        else "fix it upstream, or review the suite (edit a suite JSON and pass it with --suite)"
    )
    c = check.check
    if c == "exists":
        message = (
            f"{where}: column {column!r} is in the reference data but not in the batch "
            f"({frame.shape[1]} columns received); add it upstream or drop it from the monitor "
            f"with 'mileage monitor edit {name} --drop-column {_shell_arg(str(column))}'."
        )
        evidence["columns_received"] = [str(c) for c in frame.columns[:50]]
        return Finding(
            "validation",
            check.expectation_type,
            column,
            "present",
            0,
            1,
            check.severity,
            message,
            evidence,
        )
    if c == "type":
        observed = str(frame[column].dtype) if column in frame.columns else None
        message = (
            f"{where}: column {column!r} has type {observed} but the reference has "
            f"{check.spec.get('type')} values; fix the type upstream (e.g. numbers written as "
            "text) or re-infer the suite if the change is intended."
        )
        evidence["observed_type"] = observed
        return Finding(
            "validation",
            check.expectation_type,
            column,
            "type_mismatch",
            1,
            0,
            check.severity,
            message,
            evidence,
        )
    if c == "rows":
        message = (
            f"{where}: the batch has {n} rows (at least {check.kwargs.get('min_value')} expected)."
        )
        return Finding(
            "validation",
            check.expectation_type,
            None,
            "row_count",
            n,
            check.kwargs.get("min_value"),
            check.severity,
            message,
            evidence,
        )
    if c == "nulls":
        limit = 1 - float(check.kwargs["mostly"])
        nulls = int(frame[column].isna().sum())
        message = (
            f"{where}: column {column!r} is {nulls / max(n, 1):.1%} null ({nulls:,} of {n:,} "
            f"rows); the reference allows at most {limit:.1%} for a batch this size; {fix}."
        )
        return Finding(
            "validation",
            check.expectation_type,
            column,
            "null_fraction",
            nulls / max(n, 1),
            limit,
            check.severity,
            message,
            evidence,
        )
    if c == "bounds":
        series = frame[column]
        evidence["observed"] = {"min": series.min(), "max": series.max()}
        lo, hi = check.kwargs.get("min_value"), check.kwargs.get("max_value")
        message = (
            f"{where}: {count:,} values of column {column!r} ({(fraction or 0):.2%}) are outside "
            f"[{_fmt(lo)}, {_fmt(hi)}] (reference range widened by the suite's tolerance), "
            f"e.g. {', '.join(_fmt(v) for v in examples[:3])}; a unit or scale change upstream "
            f"is the usual cause; {fix}."
        )
        return Finding(
            "validation",
            check.expectation_type,
            column,
            "unexpected_fraction",
            fraction,
            0.0,
            check.severity,
            message,
            evidence,
        )
    if c == "domain":
        unexpected = sorted({str(v) for v in examples})
        counts = frame[column][~frame[column].isin(check.kwargs["value_set"])].dropna()
        evidence["new_values"] = counts.astype(str).value_counts().head(EVIDENCE_VALUES).to_dict()
        allowed = 1 - float(check.kwargs.get("mostly", 1.0))
        message = (
            f"{where}: column {column!r} has {count:,} values ({(fraction or 0):.2%}) outside "
            f"the reference's {len(check.kwargs['value_set'])} categories, e.g. "
            f"{', '.join(unexpected[:3])}; a renamed or new category upstream is the usual "
            f"cause; map it back, or add it to the suite's domain if it is legitimate."
        )
        return Finding(
            "validation",
            check.expectation_type,
            column,
            "unexpected_fraction",
            fraction,
            allowed,
            check.severity,
            message,
            evidence,
        )
    if c == "expected":
        seen = set(frame[column].dropna().unique().tolist())
        missing = [v for v in check.kwargs["value_set"] if v not in seen]
        evidence["missing_values"] = missing[:20]
        evidence["n_missing"] = len(missing)
        message = (
            f"{where}: column {column!r} shows {len(check.kwargs['value_set']) - len(missing)} "
            f"of the reference's {len(check.kwargs['value_set'])} common values in {n:,} rows; "
            f"missing: {', '.join(map(str, missing[:5]))}{' ...' if len(missing) > 5 else ''}; "
            "a filter or a partial extract upstream is the usual cause."
        )
        return Finding(
            "validation",
            check.expectation_type,
            column,
            "missing_values",
            len(missing),
            0,
            check.severity,
            message,
            evidence,
        )
    if c == "cardinality":
        observed = r.get("observed_value")
        evidence["values"] = frame[column].dropna().unique()[:EVIDENCE_VALUES].tolist()
        message = (
            f"{where}: column {column!r} has {observed} distinct value(s) in {n:,} rows, "
            f"expected at least {check.kwargs.get('min_value')}; a stuck sensor, a constant "
            "default or a broken join upstream is the usual cause."
        )
        return Finding(
            "validation",
            check.expectation_type,
            column,
            "distinct_values",
            observed,
            check.kwargs.get("min_value"),
            check.severity,
            message,
            evidence,
        )
    if c == "unique":
        message = (
            f"{where}: identifier column {column!r} has {count:,} duplicated values, e.g. "
            f"{', '.join(_fmt(v) for v in examples[:3])}; rows may be sent twice upstream."
        )
        return Finding(
            "validation",
            check.expectation_type,
            column,
            "duplicate_count",
            count,
            0,
            check.severity,
            message,
            evidence,
        )
    observed = r.get("observed_value", fraction)
    message = (
        f"{where}: expectation {check.expectation_type}"
        f"{f' on column {column!r}' if column else ''} failed"
        f"{f' (observed {_fmt(observed)})' if observed is not None else ''}; {fix}."
    )
    return Finding(
        "validation",
        check.expectation_type,
        column,
        "observed_value" if isinstance(observed, int | float) else "failed",
        observed if isinstance(observed, int | float) else None,
        None,
        check.severity,
        message,
        evidence,
    )


def _statistic(check: PlannedCheck, res: Any, frame: pd.DataFrame) -> tuple[str, float] | None:
    r = dict(res.result or {})
    n = len(frame)
    if check.check == "exists":
        return "present", float(bool(res.success))
    if check.check in ("nulls",):
        return "null_fraction", float(frame[check.column].isna().mean()) if n else 0.0
    if check.check in ("bounds", "domain") and r.get("unexpected_count") is not None:
        return "unexpected_fraction", r["unexpected_count"] / n if n else 0.0
    if check.check == "cardinality" and isinstance(r.get("observed_value"), int | float):
        return "distinct_values", float(r["observed_value"])
    return None


def validate_batch(
    frame: pd.DataFrame,
    suite: dict[str, Any],
    report: BatchReport,
    *,
    where: str,
    id_column: str | None = None,
    ignore: tuple[str, ...] = (),
    monitor: str | None = None,
) -> None:
    """Validate ``frame`` against ``suite`` and add findings and statistics to ``report``.

    An empty batch gives one blocking finding and no expectations (GE cannot profile it).
    Columns the batch has beyond the suite give one info finding.
    """
    started = time.perf_counter()
    n = len(frame)
    report.stat("validation", None, "row_count", n)
    if n == 0:
        report.add(
            [
                Finding(
                    "validation",
                    "expect_table_row_count_to_be_between",
                    None,
                    "row_count",
                    0,
                    1,
                    Severity.BLOCKING,
                    f"{where}: the batch is empty ({frame.shape[1]} columns, 0 rows); check "
                    "the job that writes it, nothing was validated or scored.",
                    {"columns_received": [str(c) for c in frame.columns[:50]]},
                )
            ]
        )
        report.seconds["validation"] = time.perf_counter() - started
        return
    extra = [str(c) for c in frame.columns if c not in suite["columns"] and c not in ignore]
    if extra:
        report.add(
            [
                Finding(
                    "validation",
                    "unexpected_columns",
                    None,
                    "column_count",
                    len(extra),
                    0,
                    Severity.INFO,
                    f"{where}: {len(extra)} column(s) not in the reference are ignored: "
                    f"{', '.join(extra[:10])}; re-infer the suite if they are new features.",
                    {"columns": extra[:50]},
                )
            ]
        )
    checks, skipped = plan_checks(suite, frame)
    results = run_expectations(frame, checks, id_column=id_column)
    for check in checks:
        res = results.get(check.key)
        if res is None:
            continue
        stat = _statistic(check, res, frame)
        if stat is not None:
            report.stat("validation", check.column, stat[0], stat[1])
        if not res.success:
            report.add([_finding(check, res, frame, where, monitor)])
    for column, reason in skipped.items():
        report.notes.append(f"value checks of {column!r} skipped: {reason}")
    report.seconds["validation"] = time.perf_counter() - started


__all__ = ["dtype_family", "run_expectations", "validate_batch"]
