"""Validation of one batch against its suite with Great Expectations (ephemeral context).

Each failed expectation becomes one :class:`Finding` naming the column, the statistic that
failed (unexpected fraction, observed value), the limit and a few offending values. Every
expectation's observed statistic is kept as a :class:`Statistic` whether it passed or not.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mileage.monitors.checks._evidence import ALPHA, miss_probability, share_lower
from mileage.monitors.checks._findings import BatchReport, Finding, Severity
from mileage.monitors.checks._suite import PlannedCheck, dtype_family, plan_checks

if TYPE_CHECKING:
    import pandas as pd

EVIDENCE_VALUES = 5
#: A reference misses an unseen category at least this often: its noise explains it (info).
PLAUSIBLE = 0.05
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
        # Given to the constructor: add_expectation compares each new expectation with every
        # one already added (quadratic in the number of checks, a third of a small batch's time),
        # and would drop a check whose arguments equal another's, losing its key.
        suite = gx.ExpectationSuite(
            name=f"mileage-{i}", expectations=[_expectation(check) for check in group]
        )
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
    """``text`` as one shell word that pasting cannot expand (``$(...)``, backticks, ``;``)."""
    import shlex

    return shlex.quote(text)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value) if isinstance(value, str) else str(value)


class Facts(Protocol):
    """What a finding's message quotes about the batch: read from the whole frame
    (:class:`FrameFacts`), or merged from the summaries of its partitions."""

    @property
    def n(self) -> int: ...

    @property
    def columns(self) -> list[str]: ...

    def dtype(self, column: str) -> str | None: ...

    def nulls(self, column: str) -> int: ...

    def min_max(self, column: str) -> tuple[Any, Any]: ...

    def new_values(self, column: str, value_set: list[Any]) -> dict[str, int]:
        """Counts of the non-null values outside ``value_set``, as text, most frequent first."""
        ...

    def seen(self, column: str) -> set[str]:
        """The column's values as text (at least those of the suite's domain and expected
        values)."""
        ...

    def some_values(self, column: str, k: int) -> list[Any]: ...


class FrameFacts:
    """:class:`Facts` of a batch held in memory."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    @property
    def n(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def dtype(self, column: str) -> str | None:
        return str(self.frame[column].dtype) if column in self.frame.columns else None

    def nulls(self, column: str) -> int:
        return int(self.frame[column].isna().sum())

    def min_max(self, column: str) -> tuple[Any, Any]:
        series = self.frame[column]
        return series.min(), series.max()

    def new_values(self, column: str, value_set: list[Any]) -> dict[str, int]:
        series = self.frame[column]
        counts = series[~series.isin(value_set)].dropna().astype(str).value_counts()
        return {str(k): int(v) for k, v in counts.items()}

    def seen(self, column: str) -> set[str]:
        return set(self.frame[column].dropna().astype(str).unique().tolist())

    def some_values(self, column: str, k: int) -> list[Any]:
        return list(self.frame[column].dropna().unique()[:k].tolist())


@dataclass
class _Failure:
    """One failed expectation and what its message needs: the batch, the result, the fix."""

    check: PlannedCheck
    result: dict[str, Any]
    facts: Facts
    where: str
    name: str
    fix: str
    examples: list[Any]
    evidence: dict[str, Any]
    count: int | None
    fraction: float | None
    reference_rows: int | None = None

    @property
    def column(self) -> Any:
        return self.check.column

    @property
    def n(self) -> int:
        return self.facts.n

    def finding(
        self,
        statistic: str,
        value: Any,
        threshold: Any,
        message: str,
        *,
        table_level: bool = False,
    ) -> Finding:
        return Finding(
            check_kind="validation",
            check=self.check.expectation_type,
            column=None if table_level else self.column,
            statistic=statistic,
            value=value,
            threshold=threshold,
            severity=self.check.severity,
            message=message,
            evidence=self.evidence,
        )


def _exists(f: _Failure) -> Finding:
    message = (
        f"{f.where}: column {f.column!r} is in the reference data but not in the batch "
        f"({len(f.facts.columns)} columns received); add it upstream, or drop it from the "
        f"monitor with: mileage monitor edit {f.name} --drop-column {_shell_arg(str(f.column))}"
    )
    f.evidence["columns_received"] = f.facts.columns[:50]
    return f.finding("present", 0, 1, message)


def _type(f: _Failure) -> Finding:
    observed = f.facts.dtype(f.column)
    message = (
        f"{f.where}: column {f.column!r} has type {observed} but the reference has "
        f"{f.check.spec.get('type')} values; fix the type upstream (e.g. numbers written as "
        "text) or re-infer the suite if the change is intended."
    )
    f.evidence["observed_type"] = observed
    return f.finding("type_mismatch", 1, 0, message)


def _rows(f: _Failure) -> Finding:
    minimum = f.check.kwargs.get("min_value")
    message = f"{f.where}: the batch has {f.n} rows (at least {minimum} expected)."
    return f.finding("row_count", f.n, minimum, message, table_level=True)


def _nulls(f: _Failure) -> Finding:
    limit = 1 - float(f.check.kwargs["mostly"])
    nulls = f.facts.nulls(f.column)
    message = (
        f"{f.where}: column {f.column!r} is {nulls / max(f.n, 1):.1%} null ({nulls:,} of "
        f"{f.n:,} rows); the reference allows at most {limit:.1%} for a batch this size; "
        f"{f.fix}."
    )
    return f.finding("null_fraction", nulls / max(f.n, 1), limit, message)


def _bounds(f: _Failure) -> Finding:
    low, high = f.facts.min_max(f.column)
    f.evidence["observed"] = {"min": low, "max": high}
    lo, hi = f.check.kwargs.get("min_value"), f.check.kwargs.get("max_value")
    message = (
        f"{f.where}: {f.count:,} values of column {f.column!r} ({(f.fraction or 0):.2%}) are "
        f"outside [{_fmt(lo)}, {_fmt(hi)}] (reference range widened by the suite's "
        f"tolerance), e.g. {', '.join(_fmt(v) for v in f.examples[:3])}; a unit or scale "
        f"change upstream is the usual cause; {f.fix}."
    )
    return f.finding("unexpected_fraction", f.fraction, 0.0, message)


def domain_severity(new_rows: int, n: int, reference_rows: int) -> tuple[Severity, float, float]:
    """Severity of ``new_rows`` of ``n`` batch rows holding categories the reference lacks.

    The reference of ``reference_rows`` rows saw none of these categories. Had they been
    there with the share the batch shows (its lower bound, :func:`share_lower`), the
    reference would have missed them all with probability ``(1 - share) ** reference_rows``.
    At least 5%: the reference's sampling noise explains them (info); at least
    :data:`ALPHA`: they are unlikely but possible (warning); below: the reference could not
    have missed them, so they are a new or renamed category (blocking).

    Returns:
        The severity, the share's lower bound and the probability that the reference missed
        the categories.
    """
    low = share_lower(new_rows, n)
    missed = miss_probability(low, reference_rows)
    if missed >= PLAUSIBLE:
        return Severity.INFO, low, missed
    return (Severity.WARNING if missed >= ALPHA else Severity.BLOCKING), low, missed


def _domain(f: _Failure) -> Finding:
    value_set = f.check.kwargs["value_set"]
    counts = f.facts.new_values(f.column, value_set)
    f.evidence["new_values"] = dict(list(counts.items())[:EVIDENCE_VALUES])
    allowed = 1 - float(f.check.kwargs.get("mostly", 1.0))
    observed = f.check.spec.get("observed") or {}
    reference_rows = int(observed.get("rows") or f.reference_rows or 0)
    count = sum(counts.values())
    severity, low, missed = domain_severity(count, f.n, reference_rows)
    seen = f.facts.seen(f.column)
    gone = [v for v in f.check.spec.get("expected") or [] if str(v) not in seen]
    f.evidence.update(
        reference_rows=reference_rows,
        share_lower_bound=low,
        reference_miss_probability=missed,
        reference_values_absent=gone[:EVIDENCE_VALUES],
    )
    override = (f.check.spec.get("severity") or {}).get("domain")
    if override is not None:
        severity = f.check.severity
    elif gone and severity == Severity.WARNING:
        severity = Severity.BLOCKING  # a frequent category gone while new ones appear: renamed
    examples = ", ".join(list(counts)[:3])
    share = count / max(f.n, 1)
    head = (
        f"{f.where}: column {f.column!r} has {count:,} values ({share:.2%}) outside the "
        f"reference's {len(value_set)} categories, e.g. {examples}"
    )
    if severity == Severity.BLOCKING:
        renamed = f" while {', '.join(map(str, gone[:3]))} no longer appear" if gone else ""
        message = (
            f"{head}{renamed}; a {reference_rows:,}-row reference would have seen a category "
            f"this frequent, so a renamed or new category upstream is the likely cause; map it "
            "back, or add it to the suite's domain if it is legitimate."
        )
    else:
        message = (
            f"{head}; at this share a {reference_rows:,}-row reference misses them with "
            f"probability {missed:.0%}, so they are probably legitimate but rare; widen the "
            f"domain: {f.fix.replace('fix it upstream, or review', 'add them to')}."
        )
    return Finding(
        check_kind="validation",
        check=f.check.expectation_type,
        column=f.column,
        statistic="unexpected_fraction",
        value=share,
        threshold=allowed,
        severity=severity,
        message=message,
        evidence=f.evidence,
        share=share,
        reference_bound=1 - missed ** (1 / reference_rows) if reference_rows else None,
        sample_size=f.n,
    )


def _expected(f: _Failure) -> Finding:
    value_set = f.check.kwargs["value_set"]
    seen = f.facts.seen(f.column)
    missing = [v for v in value_set if str(v) not in seen]
    f.evidence["missing_values"] = missing[:20]
    f.evidence["n_missing"] = len(missing)
    message = (
        f"{f.where}: column {f.column!r} shows {len(value_set) - len(missing)} "
        f"of the reference's {len(value_set)} common values in {f.n:,} rows; "
        f"missing: {', '.join(map(str, missing[:5]))}{' ...' if len(missing) > 5 else ''}; "
        "a filter or a partial extract upstream is the usual cause."
    )
    return f.finding("missing_values", len(missing), 0, message)


def _cardinality(f: _Failure) -> Finding:
    observed = f.result.get("observed_value")
    minimum = f.check.kwargs.get("min_value")
    f.evidence["values"] = f.facts.some_values(f.column, EVIDENCE_VALUES)
    ref = f.check.spec.get("observed") or {}
    rows, dominant = ref.get("rows"), ref.get("dominant_share")
    bound = None
    chance = ""
    if rows and dominant is not None:
        others = round((1 - float(dominant)) * int(rows))
        bound = share_lower(others, int(rows))
        clean = miss_probability(bound, f.n)
        f.evidence.update(
            reference_rows=rows,
            reference_dominant_share=dominant,
            other_values_share_lower_bound=bound,
            clean_batch_probability=clean,
        )
        chance = (
            f" (the reference's other values make up at least {bound:.2%} of its {rows:,} "
            f"rows, so a clean batch this size is constant with probability {clean:.1e})"
        )
    message = (
        f"{f.where}: column {f.column!r} has {observed} distinct value(s) in {f.n:,} rows, "
        f"expected at least {minimum}{chance}; a stuck sensor, a constant "
        "default or a broken join upstream is the usual cause."
    )
    return Finding(
        check_kind="validation",
        check=f.check.expectation_type,
        column=f.column,
        statistic="distinct_values",
        value=observed,
        threshold=minimum,
        severity=f.check.severity,
        message=message,
        evidence=f.evidence,
        share=1.0,
        reference_bound=bound,
        sample_size=f.n,
    )


def _unique(f: _Failure) -> Finding:
    message = (
        f"{f.where}: identifier column {f.column!r} has {f.count:,} duplicated values, e.g. "
        f"{', '.join(_fmt(v) for v in f.examples[:3])}; rows may be sent twice upstream."
    )
    return f.finding("duplicate_count", f.count, 0, message)


def _other(f: _Failure) -> Finding:
    observed = f.result.get("observed_value", f.fraction)
    numeric = isinstance(observed, int | float)
    message = (
        f"{f.where}: expectation {f.check.expectation_type}"
        f"{f' on column {f.column!r}' if f.column else ''} failed"
        f"{f' (observed {_fmt(observed)})' if observed is not None else ''}; {f.fix}."
    )
    return f.finding(
        "observed_value" if numeric else "failed", observed if numeric else None, None, message
    )


#: One message builder per kind of planned check; other expectations get :func:`_other`.
_FINDINGS: dict[str, Callable[[_Failure], Finding]] = {
    "exists": _exists,
    "type": _type,
    "rows": _rows,
    "nulls": _nulls,
    "bounds": _bounds,
    "domain": _domain,
    "expected": _expected,
    "cardinality": _cardinality,
    "unique": _unique,
}


def _finding(
    check: PlannedCheck,
    res: Any,
    facts: Facts,
    where: str,
    monitor: str | None,
    reference_rows: int | None = None,
) -> Finding:
    r = dict(res.result or {})
    name = _shell_arg(monitor) if monitor else "NAME"
    examples = [v for v in r.get("partial_unexpected_list") or []][:EVIDENCE_VALUES]
    evidence: dict[str, Any] = {"expectation": check.expectation_type, "kwargs": check.kwargs}
    if examples:
        evidence["values"] = examples
    rows = r.get("partial_unexpected_index_list")
    if rows:
        evidence["rows"] = rows[:EVIDENCE_VALUES]
    count = r.get("unexpected_count")
    fraction = (count / facts.n) if count is not None and facts.n else None
    exc = getattr(res, "exception_info", None) or {}
    if exc.get("raised_exception"):
        evidence["error"] = str(exc.get("exception_message"))[:300]
    fix = (
        f"fix it upstream, or review the suite ('mileage monitor suite {name} --export "
        "suite.json', edit, then '--import suite.json')"
        if monitor
        else "fix it upstream, or review the suite (edit a suite JSON and pass it with --suite)"
    )
    failure = _Failure(
        check=check,
        result=r,
        facts=facts,
        where=where,
        name=name,
        fix=fix,
        examples=examples,
        evidence=evidence,
        count=count,
        fraction=fraction,
        reference_rows=reference_rows,
    )
    return _FINDINGS.get(check.check, _other)(failure)


def _statistic(check: PlannedCheck, res: Any, facts: Facts) -> tuple[str, float] | None:
    r = dict(res.result or {})
    n = facts.n
    if check.check == "exists":
        return "present", float(bool(res.success))
    if check.check in ("nulls",):
        return "null_fraction", facts.nulls(check.column or "") / n if n else 0.0
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
    identifiers: tuple[str, ...] = (),
) -> None:
    """Validate ``frame`` against ``suite`` and add findings and statistics to ``report``.

    An empty batch gives one blocking finding and no expectations (GE cannot profile it).
    Columns the batch has beyond the suite give one info finding. Columns in ``identifiers``
    (declared keys) are checked for presence, type and nulls only.
    """
    started = time.perf_counter()
    n = len(frame)
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
                    message=f"{where}: the batch is empty ({frame.shape[1]} columns, 0 rows); "
                    "check the job that writes it, nothing was validated or scored.",
                    evidence={"columns_received": [str(c) for c in frame.columns[:50]]},
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
                    check_kind="validation",
                    check="unexpected_columns",
                    column=None,
                    statistic="column_count",
                    value=len(extra),
                    threshold=0,
                    severity=Severity.INFO,
                    message=f"{where}: {len(extra)} column(s) not in the reference are ignored: "
                    f"{', '.join(map(repr, extra[:10]))}; re-infer the suite if they are new features.",
                    evidence={"columns": extra[:50]},
                )
            ]
        )
    checks, skipped = plan_checks(suite, frame, identifiers=identifiers)
    results = run_expectations(frame, checks, id_column=id_column)
    report_results(FrameFacts(frame), suite, report, checks, results, skipped, where, monitor)
    report.seconds["validation"] = time.perf_counter() - started


def report_results(
    facts: Facts,
    suite: dict[str, Any],
    report: BatchReport,
    checks: list[PlannedCheck],
    results: dict[str, Any],
    skipped: dict[str, str],
    where: str,
    monitor: str | None,
) -> None:
    """Statistics and findings of the checks' results (of one frame, or merged over the
    partitions of a batch) added to ``report``."""
    for check in checks:
        res = results.get(check.key)
        if res is None:
            continue
        stat = _statistic(check, res, facts)
        if stat is not None:
            report.stat("validation", check.column, stat[0], stat[1])
        if not res.success:
            rows = (suite.get("reference") or {}).get("rows")
            report.add([_finding(check, res, facts, where, monitor, rows)])
    for column, reason in skipped.items():
        report.notes.append(f"value checks of {column!r} skipped: {reason}")


__all__ = [
    "Facts",
    "FrameFacts",
    "dtype_family",
    "report_results",
    "run_expectations",
    "validate_batch",
]
