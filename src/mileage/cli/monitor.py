"""``mileage monitor ...``: register monitored pipelines, check batches, read findings.

Exit codes: 0 when nothing blocking was found, 1 when a batch has a blocking finding (or one
at ``--fail-on`` severity) or an operation failed, 2 on bad usage.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from mileage.cli._common import (
    JsonOption,
    OutputOption,
    cli_state,
    emit,
    handle_errors,
    make_console,
    progress_reporter,
)
from mileage.platform.errors import ConfigError

if TYPE_CHECKING:
    from mileage.monitors import BatchReport, MonitorConfig

monitor_app = typer.Typer(
    help="Monitored pipelines: validation, drift and performance under label delay.",
    no_args_is_help=True,
)

Model = Annotated[
    str | None,
    typer.Option("--model", help="MLflow registry URI, e.g. models:/churn@champion."),
]
TrackingUri = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri", envvar="MLFLOW_TRACKING_URI", help="MLflow tracking/registry URI."
    ),
]
Labels = Annotated[
    str | None,
    typer.Option("--labels", help="Late labels: a file, a folder of files, or URL#table."),
]
IdColumn = Annotated[
    str | None, typer.Option("--id-column", help="Row id joining predictions with labels.")
]
PredictionColumn = Annotated[
    str | None, typer.Option("--prediction-column", help="Prediction column [prediction].")
]
LabelColumn = Annotated[str | None, typer.Option("--label-column", help="Label column [label].")]
TimestampColumn = Annotated[
    str | None, typer.Option("--timestamp-column", help="When each prediction was made.")
]
LabelTimestampColumn = Annotated[
    str | None,
    typer.Option("--label-timestamp-column", help="When each label arrived (label lag)."),
]
Metric = Annotated[
    str | None, typer.Option("--metric", help="accuracy (classification) or mae (regression).")
]
Slo = Annotated[
    float | None,
    typer.Option("--slo", help="Service level of the metric: accuracy >= SLO, MAE <= SLO."),
]
MinCoverage = Annotated[
    float | None,
    typer.Option("--min-coverage", help="Labelled share before the metric is final [0.5]."),
]
SloWindow = Annotated[
    int | None,
    typer.Option(
        "--slo-window",
        min=1,
        help="Batches in the SLO window: the labelled rows of the latest N final batches [7].",
    ),
]
LabelerColumns = Annotated[
    str | None,
    typer.Option(
        "--labeler-columns",
        help="Two or more labelers' columns in the labels, e.g. a,b: their agreement is the "
        "accuracy ceiling.",
    ),
]
ProbabilityColumns = Annotated[
    list[str] | None,
    typer.Option(
        "--probability-column",
        help="The classifier's scores: one column (binary: the positive class's probability) "
        "or CLASS=COLUMN per class (repeatable); with --estimate they give the accuracy "
        "expected before labels arrive.",
    ),
]
Estimate = Annotated[
    bool | None,
    typer.Option(
        "--estimate/--no-estimate",
        help="Estimate the metric before labels arrive (accuracy from calibrated "
        "--probability-column scores, MAE from a model of the error on the reference); the "
        "SLO state uses the estimate while labels are missing.",
    ),
]
Slices = Annotated[
    list[str] | None,
    typer.Option("--slice", help="A slice 'NAME: COLUMN OP VALUE [and ...]' (repeatable)."),
]
SliceColumns = Annotated[
    list[str] | None,
    typer.Option("--slice-column", help="Every value of this column is a slice (repeatable)."),
]
Keys = Annotated[
    list[str] | None,
    typer.Option(
        "--key",
        help="Column identifying a row, unique within every batch (repeatable: a compound key).",
    ),
]
DriftThreshold = Annotated[
    float | None,
    typer.Option("--drift-threshold", help="Effect size that alarms in one batch [0.1]."),
]
Persistence = Annotated[
    int | None,
    typer.Option("--persistence", min=1, help="Batches a smaller drift must persist [3]."),
]
Owner = Annotated[
    str | None,
    typer.Option("--owner", help="Who owns the pipeline: every alert and suggestion goes to them."),
]
OnCall = Annotated[
    str | None, typer.Option("--on-call", help="Who is on call for it: also receives pages.")
]
Shadows = Annotated[
    list[str] | None,
    typer.Option(
        "--shadow", help="Someone shadowing the on-call: copies, never pages (repeatable)."
    ),
]
FallbackVersion = Annotated[
    str | None,
    typer.Option(
        "--fallback-version",
        help="Model version to roll back to [the version served before the current one].",
    ),
]
RollbackPolicy = Annotated[
    Literal["manual", "auto"] | None,
    typer.Option(
        "--rollback-policy",
        help="manual (suggest rollbacks) or auto (roll back by itself when the SLO is breached).",
    ),
]
WebhookEnv = Annotated[
    str | None,
    typer.Option(
        "--webhook-env",
        help="Environment variable holding this pipeline's Slack-compatible webhook URL "
        "(NAME or env:NAME; the URL itself is refused: it is never stored).",
    ),
]
SeverityName = Literal["info", "warning", "blocking"]
CheckKind = Literal["input", "validation", "drift", "performance"]
FailOn = Annotated[
    SeverityName,
    typer.Option("--fail-on", help="Exit 1 on findings of this severity or worse."),
]


def _severity(value: str) -> Any:
    from mileage.monitors import Severity

    # The options' choices already hold the names; parse maps them to the enum.
    return Severity.parse(value)


#: Command parameters that are configuration options, and their names in the configuration.
_CONFIG_PARAMS = {
    "reference": "reference_uri",
    "model": "model_uri",
    "tracking_uri": "tracking_uri",
    "batches": "batches_uri",
    "labels": "labels_uri",
    "keys": "key_columns",
    "probability_columns": "probability_columns",
    **{
        name: name
        for name in (
            "id_column",
            "batch_column",
            "prediction_column",
            "label_column",
            "timestamp_column",
            "label_timestamp_column",
            "cadence",
            "owner",
            "on_call",
            "shadows",
            "fallback_version",
            "rollback_policy",
            "webhook_env",
            "metric",
            "slo",
            "min_coverage",
            "slo_window",
            "estimate",
            "labeler_columns",
            "slices",
            "slice_columns",
            "drift_threshold",
            "persistence",
        )
    },
}


def _webhook_warnings(config: MonitorConfig) -> list[str]:
    """A webhook variable that is not set here is most likely unset for the daemon too: its
    messages would fail (counted, and alerting as MileageSuggestionUndelivered)."""
    import os

    env = config.webhook_env
    if env and not os.environ.get(env):
        return [
            f"--webhook-env {env}: the environment variable {env} is not set here; the daemon "
            f"needs it (export {env}=https://hooks.example/...) or suggestions for "
            f"{config.name!r} will fail to reach their owner"
        ]
    return []


def _options(ctx: typer.Context) -> dict[str, Any]:
    """The configuration options among a command's parameters (``add`` and ``edit``)."""
    return {_CONFIG_PARAMS[k]: v for k, v in ctx.params.items() if k in _CONFIG_PARAMS}


#: Options naming columns, and how they are spelt on the command line.
_COLUMN_OPTIONS = {
    "id_column": "--id-column",
    "batch_column": "--batch-column",
    "prediction_column": "--prediction-column",
    "label_column": "--label-column",
    "timestamp_column": "--timestamp-column",
    "label_timestamp_column": "--label-timestamp-column",
    "slice_columns": "--slice-column",
    "key_columns": "--key",
}


def _check_column_names(options: dict[str, Any]) -> None:
    """A column option given as ``''`` (an unset shell variable, say) is a usage error."""
    for key, flag in _COLUMN_OPTIONS.items():
        value = options.get(key)
        given = value if isinstance(value, list) else [value]
        blank = [v for v in given if v is not None and not str(v).strip()]
        if blank:
            raise ConfigError(
                f"{flag} {blank[0]!r} names no column; give a column's name, or leave the "
                "option out."
            )
    labelers = options.get("labeler_columns")
    if labelers is not None and any(not c.strip() for c in labelers.split(",")):
        raise ConfigError(
            f"--labeler-columns {labelers!r} has an empty column name; list two or more "
            "columns, e.g. a,b."
        )


def _apply(config: MonitorConfig, **options: Any) -> MonitorConfig:
    """Copy ``config`` with the options that were given."""
    _check_column_names(options)
    simple = {
        k: v
        for k, v in options.items()
        if v is not None
        and k
        in {
            "model_uri",
            "tracking_uri",
            "batches_uri",
            "labels_uri",
            "id_column",
            "batch_column",
            "prediction_column",
            "label_column",
            "timestamp_column",
            "label_timestamp_column",
            "cadence",
            "owner",
            "on_call",
            "fallback_version",
            "rollback_policy",
            "webhook_env",
            "reference_uri",
        }
    }
    from mileage.monitors import absolute_source

    # stored absolute: the daemon reads them from wherever it was started (systemd, a container)
    for key in ("reference_uri", "batches_uri", "labels_uri"):
        if simple.get(key):
            simple[key] = absolute_source(simple[key])
    config = dataclasses.replace(config, **simple)
    if options.get("shadows"):
        config = dataclasses.replace(config, shadows=list(options["shadows"]))
    from mileage.monitors import cadence_seconds

    cadence_seconds(config.cadence)  # a usage error now, not a daemon warning later
    if options.get("slices"):
        config = dataclasses.replace(config, slices=list(options["slices"]))
    if options.get("slice_columns"):
        config = dataclasses.replace(config, slice_columns=list(options["slice_columns"]))
    if options.get("key_columns"):
        config = dataclasses.replace(
            config, key_columns=list(dict.fromkeys(options["key_columns"]))
        )
    if options.get("probability_columns"):
        config = dataclasses.replace(
            config, probability_columns=list(dict.fromkeys(options["probability_columns"]))
        )
    perf = dict(config.performance)
    for key in ("metric", "slo", "min_coverage", "slo_window", "estimate"):
        if options.get(key) is not None:
            perf[key] = options[key]
    drift = dict(config.drift)
    if options.get("drift_threshold") is not None:
        drift["threshold"] = options["drift_threshold"]
        drift["watch"] = options["drift_threshold"] / 2
    if options.get("persistence") is not None:
        drift["persistence"] = options["persistence"]
    config = dataclasses.replace(config, performance=perf, drift=drift)
    if options.get("labeler_columns") is not None:
        columns = [c.strip() for c in options["labeler_columns"].split(",") if c.strip()]
        config = dataclasses.replace(config, labeler_columns=columns)
    config.performance_options()  # validate now: a usage error, exit 2
    config.drift_options()
    from mileage.monitors import Slice

    for text in config.slices:
        Slice.parse(text)
    return config


def print_reports(reports: list[BatchReport], as_json: bool, extra: dict[str, Any]) -> None:
    data = {**extra, "batches": [r.to_dict() for r in reports]}

    def human() -> None:
        from rich.table import Table

        console = make_console()
        if not reports:
            console.print("no new batches and nothing waiting for labels.")
        for r in reports:
            d = r.to_dict()
            counts = ", ".join(f"{v} {k}" for k, v in d["counts"].items() if v)
            console.print(
                f"[bold]batch {r.batch_id}[/bold]: {d['status']}"
                f" ({r.n_rows if r.n_rows is not None else '?'} rows"
                f"{', model ' + r.model_version if r.model_version else ''})"
                f"{': ' + counts if counts else ''}"
            )
            perf = {
                s.statistic: s.value
                for s in r.statistics
                if s.check_kind == "performance" and not s.slice
            }
            if perf.get("label_coverage") is not None:
                metric = next((k for k in ("accuracy", "mae") if perf.get(k) is not None), None)
                console.print(
                    f"  labels: {perf['label_coverage']:.0%} of predictions labelled"
                    + (
                        f", {metric} {perf[metric]:.4g}"
                        f" ({'final' if perf.get('final') else 'provisional'})"
                        if metric
                        else ""
                    )
                    + (
                        f", median lag {perf['label_lag_days_median']:.1f} days"
                        if perf.get("label_lag_days_median") is not None
                        else ""
                    )
                )
            _state_lines(console, r)
            if not r.findings:
                continue
            table = Table("severity", "check", "column / slice", "statistic", "value", "limit")
            for f in r.findings:
                table.add_row(
                    f.severity.label,
                    f"{f.check_kind}: {f.check}",
                    f.column or (f"slice {f.slice}" if f.slice else "-"),
                    f.statistic,
                    "-" if f.value is None else f"{f.value:.4g}",
                    "-" if f.threshold is None else f"{f.threshold:.4g}",
                )
            console.print(table)
            for f in r.findings:
                if f.severity.label != "info" or len(r.findings) <= 5:
                    console.print(f"  - {f.message}", soft_wrap=True, markup=False)

    emit(data, as_json, human)


def _state_lines(console: Any, report: BatchReport) -> None:
    """The SLO state and the labelers' agreement recorded in a report, if any."""
    from mileage.monitors import describe_slo as describe

    perf = {
        s.statistic: s.value
        for s in report.statistics
        if s.check_kind == "performance" and not s.slice and not s.column
    }
    line = describe(perf, "mae" if perf.get("mae") is not None else "accuracy")
    if line:
        console.print(f"  {line}", markup=False)
    if perf.get("label_agreement") is not None:
        kappa = perf.get("label_kappa")
        console.print(
            f"  labelers agree on {perf['label_agreement']:.1%} of "
            f"{int(perf.get('label_agreement_rows') or 0):,} rows (Cohen's kappa "
            f"{'n/a' if kappa is None else f'{kappa:.3f}'}): the accuracy ceiling",
            markup=False,
        )


@monitor_app.command("check")
@handle_errors
def check(
    ctx: typer.Context,
    reference: Annotated[
        str, typer.Option("--reference", help="Reference data (file or URL#table).")
    ],
    batch: Annotated[str, typer.Option("--batch", help="The batch to check (file or URL#table).")],
    labels: Labels = None,
    model: Model = None,
    tracking_uri: TrackingUri = None,
    id_column: IdColumn = None,
    prediction_column: PredictionColumn = None,
    label_column: LabelColumn = None,
    timestamp_column: TimestampColumn = None,
    label_timestamp_column: LabelTimestampColumn = None,
    metric: Metric = None,
    slo: Slo = None,
    min_coverage: MinCoverage = None,
    estimate: Estimate = None,
    probability_columns: ProbabilityColumns = None,
    labeler_columns: LabelerColumns = None,
    slices: Slices = None,
    slice_columns: SliceColumns = None,
    drift_threshold: DriftThreshold = None,
    suite: Annotated[
        Path | None, typer.Option("--suite", help="Suite JSON to use instead of inferring one.")
    ] = None,
    fail_on: FailOn = "blocking",
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Check one batch against a reference, without a registry (for CI and notebooks).

    Example: mileage monitor check --reference ref.parquet --batch today.parquet --json
    """
    from mileage.monitors import MonitorConfig, check_once

    threshold = _severity(fail_on)
    config = _apply(
        MonitorConfig(name="check", reference_uri=reference),
        model_uri=model,
        tracking_uri=tracking_uri,
        id_column=id_column,
        prediction_column=prediction_column,
        label_column=label_column,
        timestamp_column=timestamp_column,
        label_timestamp_column=label_timestamp_column,
        metric=metric,
        slo=slo,
        min_coverage=min_coverage,
        estimate=estimate,
        probability_columns=probability_columns,
        labeler_columns=labeler_columns,
        slices=slices,
        slice_columns=slice_columns,
        drift_threshold=drift_threshold,
    )
    spec = _read_suite(suite) if suite else None
    state = cli_state(ctx)
    with state.cluster("monitor check on Dask") as client, progress_reporter() as progress:
        report, _ = check_once(
            reference,
            batch,
            config=config,
            labels_uri=labels,
            suite=spec,
            progress=progress,
            large_batch_rows=state.settings().large_batch_rows,
            client=client,
        )
    print_reports([report], as_json, {"reference": reference})
    if report.worst is not None and report.worst >= threshold:
        raise typer.Exit(1)


def _read_suite(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"suite file {str(path)!r} cannot be read as JSON: {exc}.") from None
    from mileage.monitors import check_suite

    return check_suite(data)


@monitor_app.command("add")
@handle_errors
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Monitor name, e.g. churn.")],
    reference: Annotated[
        str, typer.Option("--reference", help="Reference data (file or URL#table).")
    ],
    model: Model = None,
    tracking_uri: TrackingUri = None,
    batches: Annotated[
        str | None, typer.Option("--batches", help="Folder of batch files, or URL#table.")
    ] = None,
    labels: Labels = None,
    id_column: IdColumn = None,
    batch_column: Annotated[
        str | None, typer.Option("--batch-column", help="Batch id column of a SQL table.")
    ] = None,
    prediction_column: PredictionColumn = None,
    label_column: LabelColumn = None,
    timestamp_column: TimestampColumn = None,
    label_timestamp_column: LabelTimestampColumn = None,
    cadence: Annotated[
        str | None, typer.Option("--cadence", help="How often to run: 1d, 6h.")
    ] = None,
    owner: Owner = None,
    on_call: OnCall = None,
    shadows: Shadows = None,
    fallback_version: FallbackVersion = None,
    rollback_policy: RollbackPolicy = None,
    webhook_env: WebhookEnv = None,
    metric: Metric = None,
    slo: Slo = None,
    min_coverage: MinCoverage = None,
    slo_window: SloWindow = None,
    estimate: Estimate = None,
    probability_columns: ProbabilityColumns = None,
    labeler_columns: LabelerColumns = None,
    slices: Slices = None,
    slice_columns: SliceColumns = None,
    keys: Keys = None,
    drop_columns: Annotated[
        list[str] | None, typer.Option("--drop-column", help="Reference column to ignore.")
    ] = None,
    drift_threshold: DriftThreshold = None,
    persistence: Persistence = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Register a monitored pipeline; infers its validation suite from the reference.

    Example: mileage monitor add churn --model models:/churn@champion --reference ref.parquet
    --batches batches/ --labels labels/ --id-column id --slo 0.9 --slice "north: region == north"
    """
    from mileage.monitors import MonitorConfig, create_monitor

    # the options are read back from ctx.params, so each one is listed once (_CONFIG_PARAMS)
    config = _apply(
        MonitorConfig(name=name, reference_uri=reference, dropped_columns=list(drop_columns or [])),
        **_options(ctx),
    )
    if config.key_columns:
        from mileage.monitors import read_frame
        from mileage.monitors.checks import check_key_columns

        columns = read_frame(config.reference_uri, what="reference").columns
        check_key_columns(config.key_columns, [str(c) for c in columns])
    record, suite = cli_state(ctx).call(create_monitor, config)
    warnings = (
        []
        if record.config.owner
        else [
            "no owner: alerts and suggestions go to 'unassigned'; "
            f"set one with 'mileage monitor edit {name} --owner TEAM'"
        ]
    ) + _webhook_warnings(record.config)
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    data = {
        "name": record.config.name,
        "suite_version": record.suite_version,
        "columns": len(suite["columns"]),
        "baseline": record.config.baseline,
        "warnings": warnings,
    }
    emit(
        data,
        as_json,
        lambda: typer.echo(
            f"monitor {name!r} added: suite v{record.suite_version} with "
            f"{len(suite['columns'])} columns inferred from {reference}"
            + (
                f"; baseline {record.config.baseline['metric']} {record.config.baseline['overall']:.4g}"
                if record.config.baseline and record.config.baseline.get("overall") is not None
                else ""
            )
            + f". Next: 'mileage monitor run {name}'."
        ),
    )


@monitor_app.command("list")
@handle_errors
def list_(ctx: typer.Context, as_json: JsonOption = False, output: OutputOption = None) -> None:
    """Monitored pipelines and their last run."""
    from mileage.monitors import list_monitors

    rows = cli_state(ctx).call(list_monitors)

    def human() -> None:
        from rich.table import Table

        table = Table("name", "model", "cadence", "owner", "runs", "last batch", "status")
        for r in rows:
            table.add_row(
                r.name,
                r.model or "-",
                r.cadence or "-",
                r.owner or "-",
                str(r.runs),
                r.last_batch or "-",
                r.last_status or "-",
            )
        make_console().print(
            table if rows else "no monitors yet; add one with 'mileage monitor add'."
        )

    emit([r.to_dict() for r in rows], as_json, human)


@monitor_app.command("show")
@handle_errors
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Monitor name.")],
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """A monitor's configuration, suite versions, recent runs and findings."""
    from mileage.monitors import (
        current_state,
        describe_suite,
        get_monitor,
        get_suite,
        list_suites,
        performance_history,
        query_findings,
        recent_runs,
    )

    with cli_state(ctx).store() as store:
        record = get_monitor(store, name)
        suite = get_suite(store, record.id)
        metric = record.config.performance_options().metric
        performance = [
            {
                "batch_id": h["batch_id"],
                "metric": metric,
                "realised": h["stats"].get(metric) if h["stats"].get("final") == 1.0 else None,
                "provisional": h["stats"].get(metric) if h["stats"].get("final") == 0.0 else None,
                "estimated": h["stats"].get(f"{metric}_estimated"),
                "labelled": h["stats"].get("labelled"),
            }
            for h in performance_history(store, record.id)
            if h["stats"].get(metric) is not None
            or h["stats"].get(f"{metric}_estimated") is not None
        ][-10:]
        data: dict[str, Any] = {
            "config": record.config.to_dict(),
            "suite_versions": [v.to_dict() for v in list_suites(store, record.id)],
            "suite": describe_suite(suite["spec"]),
            "recent_runs": [r.to_dict() for r in recent_runs(store, record.id)],
            "slo_state": current_state(store, record).to_dict(),
            "performance": performance,
            "recent_findings": [
                {
                    "batch_id": f.batch_id,
                    "severity": f.severity,
                    "check_kind": f.check_kind,
                    "check": f.check,
                    "column": f.column,
                    "slice": f.slice,
                    "message": f.message,
                }
                for f in query_findings(store, monitor=name, limit=10)
            ],
        }

    def human() -> None:
        from rich.table import Table

        console = make_console()
        c = data["config"]
        for key in (
            "model_uri",
            "reference_uri",
            "batches_uri",
            "labels_uri",
            "id_column",
            "key_columns",
            "labeler_columns",
            "probability_columns",
            "cadence",
            "owner",
            "on_call",
            "shadows",
            "fallback_version",
            "rollback_policy",
            "webhook_env",
            "slices",
            "slice_columns",
            "performance",
            "drift",
            "baseline",
        ):
            if c.get(key):
                console.print(f"[bold]{key}[/bold]: {c[key]}", overflow="fold", markup=True)
        table = Table(
            "column",
            "kind",
            "type",
            "max nulls",
            "detail",
            title=f"suite v{suite['version']} ({suite['origin']})",
        )
        for col in data["suite"]:
            table.add_row(
                col["column"],
                col["kind"],
                str(col["type"]),
                f"{col['max_null_fraction']:.1%}",
                col["detail"],
            )
        console.print(table)
        slo_state = data["slo_state"]
        console.print(f"SLO state: {slo_state['state']}: {slo_state['reason']}", markup=False)
        if data["performance"]:
            perf = Table(
                "batch",
                "realised",
                "estimated (no labels)",
                "labelled",
                title=f"{data['performance'][0]['metric']} by batch (realised once labels are final)",
            )
            for p in data["performance"]:
                realised = (
                    f"{p['realised']:.4g}"
                    if p["realised"] is not None
                    else (f"{p['provisional']:.4g} (provisional)" if p["provisional"] else "-")
                )
                perf.add_row(
                    p["batch_id"],
                    realised,
                    f"{p['estimated']:.4g}" if p["estimated"] is not None else "-",
                    str(int(p["labelled"])) if p["labelled"] is not None else "-",
                )
            console.print(perf)
        runs = Table(
            "run", "batch", "kind", "model", "status", "rows", "findings", title="recent runs"
        )
        for r in data["recent_runs"]:
            runs.add_row(
                str(r["id"]),
                r["batch_id"],
                r["kind"],
                r["model_version"] or "-",
                r["status"],
                str(r["n_rows"]),
                str(r["n_findings"]),
            )
        console.print(runs)
        for f in data["recent_findings"]:
            console.print(f"  - [{f['severity']}] {f['message']}", soft_wrap=True, markup=False)

    emit(data, as_json, human)


@monitor_app.command("edit")
@handle_errors
def edit(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Monitor name.")],
    reference: Annotated[
        str | None, typer.Option("--reference", help="New reference data.")
    ] = None,
    model: Model = None,
    tracking_uri: TrackingUri = None,
    batches: Annotated[str | None, typer.Option("--batches", help="Folder or URL#table.")] = None,
    labels: Labels = None,
    id_column: IdColumn = None,
    label_column: LabelColumn = None,
    timestamp_column: TimestampColumn = None,
    label_timestamp_column: LabelTimestampColumn = None,
    cadence: Annotated[str | None, typer.Option("--cadence", help="How often to run.")] = None,
    owner: Owner = None,
    on_call: OnCall = None,
    shadows: Shadows = None,
    fallback_version: FallbackVersion = None,
    rollback_policy: RollbackPolicy = None,
    webhook_env: WebhookEnv = None,
    metric: Metric = None,
    slo: Slo = None,
    min_coverage: MinCoverage = None,
    slo_window: SloWindow = None,
    estimate: Estimate = None,
    probability_columns: ProbabilityColumns = None,
    labeler_columns: LabelerColumns = None,
    slices: Slices = None,
    slice_columns: SliceColumns = None,
    keys: Keys = None,
    drop_columns: Annotated[
        list[str] | None,
        typer.Option("--drop-column", help="Stop checking this column (new suite version)."),
    ] = None,
    drift_threshold: DriftThreshold = None,
    persistence: Persistence = None,
    reinfer: Annotated[
        bool, typer.Option("--reinfer", help="Infer a new suite version from the reference.")
    ] = False,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Change a monitor; suite changes create a new suite version (old ones are kept)."""
    from mileage.monitors import (
        drop_column,
        get_monitor,
        get_suite,
        infer_suite,
        read_frame,
        refresh_baseline,
        update_monitor,
    )

    with cli_state(ctx).store() as store:
        record = get_monitor(store, name)
        config: MonitorConfig = _apply(record.config, **_options(ctx))  # options: ctx.params
        spec = get_suite(store, record.id)["spec"]
        new_suite, note = None, None
        if drop_columns:
            new_suite = spec
            for column in drop_columns:
                new_suite = drop_column(new_suite, column)
            config = dataclasses.replace(
                config, dropped_columns=sorted({*config.dropped_columns, *drop_columns})
            )
            note = f"dropped {', '.join(drop_columns)}"
        if reinfer or reference:
            frame = read_frame(config.reference_uri, what="reference")
            new_suite = infer_suite(frame, id_column=config.id_column, exclude=config.excluded)
            note = "re-inferred from the reference"
        if keys:
            from mileage.monitors.checks import check_key_columns

            check_key_columns(config.key_columns, list((new_suite or spec)["columns"]))
        config = refresh_baseline(config, new_suite or spec)
        record = update_monitor(
            store,
            name,
            config,
            suite=new_suite,
            origin="inferred" if reinfer or reference else "edited",
            note=note,
        )
    warnings = _webhook_warnings(record.config) if webhook_env else []
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    data = {
        "name": name,
        "suite_version": record.suite_version,
        "config": record.config.to_dict(),
        "warnings": warnings,
    }
    emit(
        data,
        as_json,
        lambda: typer.echo(f"monitor {name!r} updated (suite v{record.suite_version})."),
    )


@monitor_app.command("remove")
@handle_errors
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Monitor name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Delete a monitor with its suites, runs and findings."""
    from mileage.monitors import remove_monitor

    if not yes:
        if not sys.stdin.isatty():  # a script or a pipe: nobody to ask, so do not delete
            raise ConfigError(
                f"monitor remove {name!r} deletes it with its suites, runs and findings; "
                "stdin is not a terminal, so it cannot ask: add --yes to confirm."
            )
        if not typer.confirm(f"delete monitor {name!r} and its findings?"):
            raise typer.Exit(1)
    counts = cli_state(ctx).call(remove_monitor, name)
    emit(
        {"name": name, **counts},
        as_json,
        lambda: typer.echo(
            f"monitor {name!r} removed ({counts['runs']} runs, {counts['findings']} findings)."
        ),
    )


@monitor_app.command("suite")
@handle_errors
def suite_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Monitor name.")],
    export: Annotated[
        Path | None, typer.Option("--export", help="Write the suite as JSON.")
    ] = None,
    import_: Annotated[
        Path | None, typer.Option("--import", help="Store this JSON as the next suite version.")
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", help="Suite version [latest].")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why the suite changed.")] = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Review and edit the validation suite: export it, edit the JSON, import it back.

    Example: mileage monitor suite churn --export suite.json; (edit); mileage monitor suite
    churn --import suite.json --note "age may reach 120"
    """
    from mileage.monitors import get_monitor, get_suite, list_suites, save_suite

    with cli_state(ctx).store() as store:
        record = get_monitor(store, name)
        if import_ is not None:
            spec = _read_suite(import_)
            saved = save_suite(
                store,
                record.id,
                spec,
                origin="edited",
                note=note or f"imported from {import_.name}",
            )
            data: dict[str, Any] = {"name": name, "suite_version": saved}
            emit(data, as_json, lambda: typer.echo(f"suite v{saved} stored for monitor {name!r}."))
            return
        suite = get_suite(store, record.id, version)
        versions = list_suites(store, record.id)
    if export is not None:
        export.write_text(json.dumps(suite["spec"], indent=2, default=str) + "\n")
    data = {"name": name, **suite, "versions": [v.to_dict() for v in versions]}
    emit(
        data,
        as_json,
        lambda: (
            typer.echo(
                f"suite v{suite['version']} ({suite['origin']}, {len(suite['spec']['columns'])} columns)"
                + (f" written to {export}" if export else "")
                + f"; versions: {', '.join(str(v.version) for v in versions)}"
            )
            if export
            else typer.echo(json.dumps(suite["spec"], indent=2, default=str))
        ),
    )


@monitor_app.command("run")
@handle_errors
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Monitor name.")],
    batch: Annotated[
        str | None, typer.Option("--batch", help="Check this batch (again) instead of new ones.")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Only labels that arrived by this ISO time count.")
    ] = None,
    fail_on: FailOn = "blocking",
    alerts: Annotated[
        bool,
        typer.Option(
            "--alerts/--no-alerts",
            help="Then turn findings into alerts and route suggestions to the owner [on].",
        ),
    ] = True,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Check the monitor's new batches and re-judge batches still waiting for labels, then
    turn the findings into alerts and send suggestions to the pipeline's owner (as the daemon
    does).

    Findings are stored in the trace store and printed. Example: mileage monitor run churn
    """
    from mileage.cli.suggestions import response_lines
    from mileage.monitors import MonitorRunner, respond
    from mileage.platform.cluster import DaskTaskPool

    threshold = _severity(fail_on)
    state = cli_state(ctx)
    extra: dict[str, Any] = {"pipeline": name}
    with state.store() as store:
        with state.cluster("monitor run on Dask") as client, progress_reporter() as progress:
            runner = MonitorRunner(
                store,
                name,
                home=state.settings().home,
                progress=progress,
                large_batch_rows=state.settings().large_batch_rows,
                client=client,
                pool=None if client is None else DaskTaskPool(client),
            )
            reports = runner.run(batch, as_of=as_of)
        if alerts:
            response = respond(store, name, settings=state.settings())
            extra["response"] = response.to_dict()
    if runner.raced:
        extra["checked_elsewhere"] = runner.raced
    print_reports(reports, as_json, extra)
    for batch_id in runner.raced:
        typer.echo(
            f"batch {batch_id}: checked by another run at the same time (stored once); see "
            f"'mileage monitor findings {shlex.quote(name)} --batch {shlex.quote(batch_id)}'.",
            err=True,
        )
    if alerts and not as_json:
        for line in response_lines(response):
            typer.echo(line)
    if any(r.worst is not None and r.worst >= threshold for r in reports):
        raise typer.Exit(1)


@monitor_app.command("findings")
@handle_errors
def findings(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Monitor name (all when omitted).")] = None,
    batch: Annotated[str | None, typer.Option("--batch", help="Only this batch.")] = None,
    severity: Annotated[
        SeverityName, typer.Option("--severity", help="At least this severity.")
    ] = "warning",
    kind: Annotated[
        CheckKind | None, typer.Option("--kind", help="Only this kind of check.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Stored findings, newest first."""
    from mileage.monitors import get_monitor, query_findings

    if name is not None:  # an unknown monitor is not found (exit 1), not "no findings"
        cli_state(ctx).call(get_monitor, name)
    rows = cli_state(ctx).call(
        query_findings,
        monitor=name,
        batch_id=batch,
        min_severity=_severity(severity),
        check_kind=kind,
        limit=limit,
    )

    def human() -> None:
        if not rows:
            typer.echo("no findings.")
        for f in rows:
            typer.echo(
                f"[{f.severity}] {f.pipeline} {f.batch_id} {f.check_kind}/{f.check}: {f.message}"
            )

    emit([f.to_dict() for f in rows], as_json, human)


@monitor_app.command("cadence")
@handle_errors
def cadence(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Monitor name.")],
    training_hours: Annotated[
        float,
        typer.Option(
            "--training-hours", help="Training plus validation time: the shortest cadence [4]."
        ),
    ] = 4.0,
    fit: Annotated[
        Literal["linear", "isotonic"],
        typer.Option("--fit", help="linear (Theil-Sen) or isotonic (monotone) decay fit."),
    ] = "linear",
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Recommend a retraining cadence from how the metric decays with model age.

    Uses the monitor's labelled batches (model age: batch time minus the model version's
    registration). Example: mileage monitor cadence churn --training-hours 4
    """
    from mileage.monitors.checks.cadence import cadence_for_monitor

    rec = cli_state(ctx).call(cadence_for_monitor, name, training_hours=training_hours, method=fit)
    data = {"pipeline": name, **rec.to_dict()}

    def human() -> None:
        if not rec.enough:
            typer.echo(f"monitor {name!r}: no cadence recommended yet.")
        else:
            low, high = rec.decay_per_day_ci or (float("nan"), float("nan"))
            typer.echo(
                f"monitor {name!r}: {rec.metric} {rec.decay_per_day:+.4g} per day of model age "
                f"(95% interval {low:+.4g} to {high:+.4g}); fresh model {rec.fresh:.4g}."
            )
            typer.echo(
                f"recommended cadence: every {rec.cadence}"
                + ("" if rec.keeps_threshold else " (cannot keep the threshold)")
            )
        for line in rec.reasoning:
            typer.echo(f"  - {line}")

    emit(data, as_json, human)
