"""Remedy plans: for one alert, the remedies to suggest, best first, each with evidence, an
expected effect, a confidence and the configuration diff that accepting it applies.

Pure functions of the alert and a :class:`SuggestContext` (the monitor, its suite, its
recent runs, the SLO state, warm starts); :mod:`mileage.monitors.alerts._suggest` stores them.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mileage.monitors._registry import MonitorRecord
from mileage.monitors.alerts._state import AlertOptions
from mileage.monitors.checks._check import MonitorConfig
from mileage.platform.store import redact_url

#: Remedy kinds and what accepting them does.
SUGGESTION_KINDS: dict[str, str] = {
    "rollback": "moves the model's alias back to the fallback version",
    "retrain": "writes a retrain request (window, exclusions, warm starts) for the training job",
    "fix_upstream": "records that the owner fixes the source; nothing changes in Mileage",
    "refresh_reference": "builds a new reference from recent validated batches, re-infers the suite",
    "add_slice": "adds the slice's labelled rows to a new validation-set version",
}
#: How many recent validated batches a retrain or a new reference uses.
WINDOW_BATCHES = 7


@dataclass
class Remedy:
    """One way to answer an alert, before it is stored as a suggestion."""

    kind: str
    title: str
    rationale: str
    expected_effect: str
    confidence: str
    evidence: dict[str, Any]
    diff: str = ""
    diff_format: str = ""
    action: dict[str, Any] = field(default_factory=dict)
    auto: bool = False


@dataclass(frozen=True)
class WarmStarts:
    """Configurations to start a retrain's search from, or why there are none."""

    configurations: list[dict[str, Any]]
    source: str = ""
    note: str = ""


# -- diffs ---------------------------------------------------------------------------------


def yaml_diff(before: dict[str, Any] | None, after: dict[str, Any], label: str) -> str:
    """Unified diff of two YAML documents (``before`` None: a new file)."""
    old = yaml.safe_dump(before, sort_keys=False).splitlines() if before is not None else []
    new = yaml.safe_dump(after, sort_keys=False).splitlines()
    head = "/dev/null" if before is None else f"{label} (now)"
    return "\n".join(difflib.unified_diff(old, new, head, f"{label} (after)", lineterm="", n=10))


def json_diff(before: Any, after: Any, label: str) -> str:
    """Unified diff of two JSON values."""
    old = json.dumps(before, indent=2, sort_keys=True, default=str).splitlines()
    new = json.dumps(after, indent=2, sort_keys=True, default=str).splitlines()
    return "\n".join(
        difflib.unified_diff(old, new, f"{label} (now)", f"{label} (if intended)", lineterm="", n=3)
    )


# -- context -------------------------------------------------------------------------------


@dataclass
class SuggestContext:
    """What remedies are computed from."""

    record: MonitorRecord
    suite: dict[str, Any]
    suite_version: int
    slo: str
    options: AlertOptions
    runs: list[dict[str, Any]]
    finding_evidence: dict[int, dict[str, Any]]
    version_metrics: dict[str, tuple[float, int]]
    warm_starts: Callable[[], WarmStarts]
    home: Path

    @property
    def config(self) -> MonitorConfig:
        return self.record.config

    def passing_batches(self, limit: int = WINDOW_BATCHES) -> tuple[list[str], dict[str, str]]:
        """The latest ``limit`` batches that passed validation, and the excluded ones."""
        keep: list[str] = []
        excluded: dict[str, str] = {}
        for run in reversed(self.runs):
            if len(keep) >= limit:
                break
            if run["status"] in ("failed", "error"):
                excluded.setdefault(run["batch_id"], f"{run['status']} its checks")
            elif run["batch_id"] not in keep:
                keep.append(run["batch_id"])
        return keep[::-1], excluded

    def previous_version(self, current: str | None) -> str | None:
        """The version served before ``current`` (``name/3`` form), from the check history."""
        seen_current = False
        for run in reversed(self.runs):
            version = run["model_version"]
            if not version:
                continue
            if version == current:
                seen_current = True
            elif seen_current or current is None:
                return str(version)
        return None


def _split_version(version: str | None) -> tuple[str | None, str | None]:
    if not version or "/" not in version:
        return None, version
    name, _, number = version.rpartition("/")
    return name, number


def _metric_line(ctx: SuggestContext, version: str) -> str:
    perf = ctx.config.performance_options()
    if version not in ctx.version_metrics:
        return ""
    value, n = ctx.version_metrics[version]
    slo = f" (SLO {perf.slo:g})" if perf.slo is not None else ""
    return f"{version} had {perf.metric} {value:.4g} over {n} labelled batch(es){slo}"


# -- remedies per kind ---------------------------------------------------------------------


def _base_evidence(alert: dict[str, Any]) -> dict[str, Any]:
    ev = alert["evidence"] or {}
    return {
        "alert": {
            "id": int(alert["id"]),
            "kind": alert["kind"],
            "level": alert["level"],
            "title": alert["title"],
            "model_version": alert["model_version"],
            "batches": ev.get("batches", [])[-10:],
        },
        "failed_checks": [
            {
                k: c.get(k)
                for k in (
                    "check_kind",
                    "check",
                    "column",
                    "slice",
                    "statistic",
                    "value",
                    "threshold",
                    "severity",
                    "what",
                    "batch_id",
                    "batches",
                )
            }
            for c in ev.get("failed_checks", [])[:20]
        ],
    }


def _column_change(  # noqa: C901 - one branch per suite field
    column: str, ctx: SuggestContext, checks: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """Before/after values of a broken column, and the suite entry that would accept it."""
    spec = ctx.suite["columns"].get(column)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    proposed: dict[str, Any] | None = dict(spec) if spec else None
    if spec:
        before["type"] = spec.get("type")
        if "min" in spec or "max" in spec:
            before["allowed_range"] = [spec.get("min"), spec.get("max")]
        if spec.get("domain"):
            before["categories"] = list(spec["domain"])[:12]
        before["max_null_fraction"] = spec.get("max_null_fraction")
    for c in checks:
        ev = ctx.finding_evidence.get(int(c["finding_id"]), {})
        check = c["check"]
        if c["check_kind"] == "drift":
            if ev.get("reference"):
                before["summary"] = ev["reference"]
            if ev.get("batch"):
                after["summary"] = ev["batch"]
            continue
        if check == "expect_column_to_exist":
            after["present"] = False
            proposed = None
        elif check == "expect_column_values_to_be_in_type_list":
            after["type"] = ev.get("observed_type")
            if proposed is not None:
                proposed["type"] = (
                    "string" if "obj" in str(ev.get("observed_type")) else proposed["type"]
                )
        elif check == "expect_column_values_to_not_be_null":
            after["null_fraction"] = c["value"]
            if proposed is not None and c["value"] is not None:
                proposed["max_null_fraction"] = round(float(c["value"]), 4)
        elif check == "expect_column_values_to_be_between":
            observed = ev.get("observed") or {}
            after["observed_range"] = [observed.get("min"), observed.get("max")]
            after["outside_fraction"] = c["value"]
            if proposed is not None and observed:
                proposed["min"] = _lo(spec, observed)
                proposed["max"] = _hi(spec, observed)
        elif check == "expect_column_values_to_be_in_set":
            new = ev.get("new_values") or {}
            after["new_categories"] = new
            if proposed is not None and new:
                proposed["domain"] = [
                    *list(proposed.get("domain", [])),
                    *[k for k in new if k not in proposed.get("domain", [])],
                ]
        elif check == "expect_column_distinct_values_to_contain_set":
            after["missing_categories"] = ev.get("missing_values")
        elif check == "expect_column_unique_value_count_to_be_between":
            after["distinct_values"] = c["value"]
            after["values"] = ev.get("values")
            if proposed is not None:
                proposed.pop("min_distinct", None)
        if ev.get("values") and "examples" not in after:
            after["examples"] = ev["values"][:5]
        if ev.get("rows"):
            after["rows"] = ev["rows"][:5]
    return before, after, proposed


def _lo(spec: dict[str, Any] | None, observed: dict[str, Any]) -> Any:
    values = [
        v for v in ((spec or {}).get("min"), observed.get("min")) if isinstance(v, int | float)
    ]
    return min(values) if values else None


def _hi(spec: dict[str, Any] | None, observed: dict[str, Any]) -> Any:
    values = [
        v for v in ((spec or {}).get("max"), observed.get("max")) if isinstance(v, int | float)
    ]
    return max(values) if values else None


def _fix_columns(alert: dict[str, Any], ctx: SuggestContext) -> Remedy:
    evidence = _base_evidence(alert)
    checks = (alert["evidence"] or {}).get("failed_checks", [])
    columns = list(alert["columns"]) or sorted({c["column"] for c in checks if c["column"]})
    changes: dict[str, Any] = {}
    diffs = []
    name = ctx.config.name
    for column in columns[:10]:
        mine = [c for c in checks if c.get("column") == column]
        before, after, proposed = _column_change(column, ctx, mine)
        changes[column] = {
            "reference": before,
            "batch": after,
            "failed": [c["what"] for c in mine if c["check_kind"] == "validation"],
        }
        spec = ctx.suite["columns"].get(column)
        if spec is not None and proposed != spec:
            diffs.append(
                json_diff(
                    {column: spec},
                    {column: proposed} if proposed is not None else {},
                    f"suite v{ctx.suite_version} of {name}: column {column!r}",
                )
            )
    evidence["columns"] = changes
    others = len(checks) - sum(1 for c in checks if c["check_kind"] == "validation")
    quoted = ", ".join(repr(c) for c in columns[:5])
    blocking = bool((alert["evidence"] or {}).get("blocking"))
    return Remedy(
        kind="fix_upstream",
        title=f"fix column{'s' if len(columns) > 1 else ''} {quoted} upstream of {name!r}",
        rationale=(
            f"{alert['title']}. The column{'s' if len(columns) > 1 else ''} changed before "
            "reaching the model, so retraining would learn the fault and rolling back would not "
            "help: the data must be fixed where it is produced."
        ),
        expected_effect=(
            "the next batches pass validation again"
            + (
                f" and the {others} other failed check(s) explained by this (drift, predictions, performance) clear"
                if others
                else ""
            )
            + f"; the alert resolves after {ctx.options.resolve_after} clean batch(es). If the change is intended, "
            "apply the suite diff instead ('mileage monitor suite "
            f"{name} --export suite.json', edit as shown, '--import suite.json')."
        ),
        confidence="high" if blocking else "medium",
        evidence=evidence,
        diff="\n".join(diffs),
        diff_format="json" if diffs else "",
        action={
            "type": "fix_upstream",
            "columns": columns,
            "batches": evidence["alert"]["batches"],
        },
    )


def _fix_source(alert: dict[str, Any], ctx: SuggestContext, what: str) -> Remedy:
    config = ctx.config
    uri = config.labels_uri if what == "labels" else config.batches_uri
    where = redact_url(uri) if uri else "(not configured)"
    checks = (alert["evidence"] or {}).get("failed_checks", [])
    first = checks[0]["message"] if checks else alert["title"]
    return Remedy(
        kind="fix_upstream",
        title=f"fix the {what} source of {config.name!r} ({where})",
        rationale=f"{first}",
        expected_effect=(
            f"the next {'labels' if what == 'labels' else 'batch'} can be read and checked; "
            "nothing in the model or the suite needs to change"
        ),
        confidence="high",
        evidence={**_base_evidence(alert), "source": where},
        action={"type": "fix_upstream", "source": what},
    )


def _rollback(alert: dict[str, Any], ctx: SuggestContext) -> Remedy | None:
    config = ctx.config
    if not config.model_uri or "@" not in config.model_uri:
        return None
    registered, _, alias = config.model_uri.removeprefix("models:/").partition("@")
    release = (alert["evidence"] or {}).get("release")
    current = alert["model_version"] or (release[1] if release else None)
    fallback: str | None = None
    if config.fallback_version:
        fallback = f"{registered}/{config.fallback_version}"
    elif release:
        fallback = release[0]
    else:
        fallback = ctx.previous_version(current)
    _, current_number = _split_version(current)
    fallback_name, fallback_number = _split_version(fallback)
    if fallback_number is None or fallback_number == current_number:
        return None
    if fallback_name not in (None, registered):
        return None
    slo_breached = bool(alert["slo_breached"])
    auto = config.rollback_policy == "auto" and slo_breached
    before = {"model": registered, "aliases": {alias: current_number}}
    after = {"model": registered, "aliases": {alias: fallback_number}}
    known = _metric_line(ctx, f"{registered}/{fallback_number}")
    now = _metric_line(ctx, str(current)) if current else ""
    return Remedy(
        kind="rollback",
        title=f"roll {config.model_uri} back from version {current_number} to {fallback_number}",
        rationale=(
            f"{alert['title']}. Version {fallback_number} is the "
            + ("declared fallback" if config.fallback_version else "version served before")
            + "; rolling back restores service now, whatever the cause turns out to be."
        ),
        expected_effect=(
            "the alias serves version "
            + f"{fallback_number} from the next batch on"
            + (f"; {known}" if known else "")
            + (f"; now {now}" if now else "")
            + ". Rolling back is undone by moving the alias again."
        ),
        confidence="high" if slo_breached else "medium",
        evidence={
            **_base_evidence(alert),
            "current": current,
            "fallback": fallback,
            "policy": config.rollback_policy,
        },
        diff=yaml_diff(before, after, f"registry {config.model_uri}"),
        diff_format="yaml",
        action={
            "type": "rollback",
            "model": registered,
            "alias": alias,
            "from": current_number,
            "to": fallback_number,
        },
        auto=auto,
    )


def _retrain(alert: dict[str, Any], ctx: SuggestContext, *, confidence: str = "medium") -> Remedy:
    config = ctx.config
    keep, excluded = ctx.passing_batches()
    warm = ctx.warm_starts()
    perf = config.performance_options()
    request: dict[str, Any] = {
        "pipeline": config.name,
        "model": config.model_uri,
        "current_version": alert["model_version"],
        "train_window": {
            "batches": keep,
            "excluded": excluded,
            "labels": redact_url(config.labels_uri) if config.labels_uri else None,
            "id_column": config.id_column,
            "label_column": config.label_column,
        },
        "validate_before_promotion": {
            "reference": redact_url(config.reference_uri),
            "metric": perf.metric,
            "slo": perf.slo,
            "slices": list(config.slices),
        },
    }
    if warm.configurations:
        request["warm_start"] = {
            "source": warm.source,
            "configurations": [
                {k: c.get(k) for k in ("name", "learner", "params", "expected_regret") if k in c}
                for c in warm.configurations
            ],
        }
    else:
        request["warm_start"] = {"note": warm.note}
    evidence = {**_base_evidence(alert), "window": keep, "excluded": excluded}
    target = (
        f"{perf.metric} back to the SLO ({perf.slo:g})"
        if perf.slo is not None
        else f"{perf.metric} back to the reference level"
    )
    return Remedy(
        kind="retrain",
        title=f"retrain {config.name!r} on the last {len(keep)} validated batch(es)"
        + (
            f" with {len(warm.configurations)} warm-started configurations"
            if warm.configurations
            else ""
        ),
        rationale=(
            f"{alert['title']}. The data the model sees has changed and no upstream fault "
            "explains it, so the model should learn the new distribution; batches that failed "
            "validation are left out."
        ),
        expected_effect=(
            f"a model fitted to current data: {target}, and the drift alarms on its "
            "predictions stop once it is promoted. Promote only if it passes the reference "
            "and slice checks."
            + (f" Warm starts: {warm.source}." if warm.configurations else f" ({warm.note}.)")
        ),
        confidence=confidence,
        evidence=evidence,
        diff=yaml_diff(None, request, f"monitors/{config.name}/retrain/alert-{alert['id']}.yaml"),
        diff_format="yaml",
        action={"type": "retrain", "request": request},
    )


def _refresh_reference(alert: dict[str, Any], ctx: SuggestContext, *, confidence: str) -> Remedy:
    config = ctx.config
    keep, excluded = ctx.passing_batches()
    path = (
        ctx.home
        / "monitors"
        / config.name
        / "references"
        / f"reference-alert-{alert['id']}.parquet"
    )
    before = {"reference_uri": redact_url(config.reference_uri), "suite_version": ctx.suite_version}
    after = {
        "reference_uri": str(path),
        "suite_version": ctx.suite_version + 1,
        "built_from": keep,
    }
    perf = config.performance_options()
    return Remedy(
        kind="refresh_reference",
        title=f"refresh the reference of {config.name!r} from the last {len(keep)} validated batch(es)",
        rationale=(
            f"{alert['title']}. The shift has lasted {alert['batches']} batch(es) while "
            f"{perf.metric} meets the SLO: the world changed and the model copes, so drift "
            "should be measured against current data."
        ),
        expected_effect=(
            "drift is measured against recent data; these drift alarms stop while model "
            "performance, which is fine, is unchanged. The old reference and suite versions stay "
            "available."
        ),
        confidence=confidence,
        evidence={**_base_evidence(alert), "window": keep, "excluded": excluded, "slo": ctx.slo},
        diff=yaml_diff(before, after, f"monitor {config.name}"),
        diff_format="yaml",
        action={"type": "refresh_reference", "batches": keep, "path": str(path)},
    )


def _fix_drift_upstream(alert: dict[str, Any], ctx: SuggestContext) -> Remedy:
    columns = sorted(alert["columns"])
    return Remedy(
        kind="fix_upstream",
        title=f"check the source of {', '.join(repr(c) for c in columns[:5])} upstream",
        rationale=f"{alert['title']}. If nothing changed in the world, a change in how the data is produced (a join, a default value, a filter) is the usual cause.",
        expected_effect="if the source is at fault, fixing it stops the drift alarms without retraining",
        confidence="low",
        evidence=_base_evidence(alert),
        action={"type": "fix_upstream", "columns": columns},
    )


def _add_slice(alert: dict[str, Any], ctx: SuggestContext) -> Remedy | None:
    checks = (alert["evidence"] or {}).get("failed_checks", [])
    slice_name = next((c["slice"] for c in checks if c.get("slice")), None)
    if slice_name is None:
        return None
    config = ctx.config
    folder = ctx.home / "monitors" / config.name / "validation"
    versions = (
        sorted(int(p.stem[1:]) for p in folder.glob("v*.parquet") if p.stem[1:].isdigit())
        if folder.is_dir()
        else []
    )
    current = versions[-1] if versions else 0
    batches = (alert["evidence"] or {}).get("batches", [])[-WINDOW_BATCHES:]
    text = next((s for s in config.slices if s.split(":", 1)[0].strip() == slice_name), slice_name)
    before = {"validation_set": f"v{current}" if current else None, "slices": list(config.slices)}
    after = {
        "validation_set": f"v{current + 1}",
        "adds": {"slice": text, "labelled rows of batches": batches},
        "slices": list(config.slices) if text in config.slices else [*config.slices, text],
    }
    return Remedy(
        kind="add_slice",
        title=f"add slice {slice_name!r} of {config.name!r} to the validation set (v{current + 1})",
        rationale=(
            f"{alert['title']}. The global metric hides it: the slice's failures must be part "
            "of what every future model is validated on."
        ),
        expected_effect=(
            f"validation set v{current + 1} holds the slice's labelled rows from {len(batches)} "
            "batch(es); a model that regresses on it can no longer be promoted (earlier versions stay retrievable)."
        ),
        confidence="high",
        evidence={**_base_evidence(alert), "slice": slice_name},
        diff=yaml_diff(before, after, f"validation set of {config.name}"),
        diff_format="yaml",
        action={
            "type": "add_slice",
            "slice": slice_name,
            "batches": batches,
            "version": current + 1,
        },
    )


def remedies_for(alert: dict[str, Any], ctx: SuggestContext) -> list[Remedy]:
    """The remedies of one alert, best first."""
    kind = alert["kind"]
    out: list[Remedy | None]
    if kind == "broken_column":
        out = [_fix_columns(alert, ctx)]
    elif kind == "input_error":
        out = [_fix_source(alert, ctx, "batch")]
    elif kind == "labels_unavailable":
        out = [_fix_source(alert, ctx, "labels")]
    elif kind in ("model_release", "slo_breach"):
        rollback = _rollback(alert, ctx)
        out = [rollback, _retrain(alert, ctx, confidence="medium" if rollback else "high")]
    elif kind == "performance_regression":
        out = [_retrain(alert, ctx), _rollback(alert, ctx)]
    elif kind == "drift":
        settled = ctx.slo == "ok" and int(alert["batches"]) >= ctx.options.page_drift_after
        if settled:
            out = [
                _refresh_reference(alert, ctx, confidence="high"),
                _retrain(alert, ctx, confidence="low"),
            ]
        else:
            out = [_retrain(alert, ctx), _refresh_reference(alert, ctx, confidence="low")]
        out.append(_fix_drift_upstream(alert, ctx))
    elif kind == "prediction_drift":
        out = [
            _retrain(alert, ctx, confidence="low"),
            _refresh_reference(alert, ctx, confidence="low"),
        ]
    elif kind == "label_shift":
        out = [_retrain(alert, ctx)]
    elif kind == "slice_regression":
        out = [_add_slice(alert, ctx), _retrain(alert, ctx)]
    else:
        out = []
    return [r for r in out if r is not None]
