"""``mileage collect ...``: bring MLflow, OpenML and published run histories into the store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mileage.cli._common import JsonOption, OutputOption, cli_state, emit, handle_errors

if TYPE_CHECKING:
    from mileage.collectors import CollectReport
    from mileage.collectors.metadata import MetadataReport
    from mileage.collectors.openml import OpenmlReport

collect_app = typer.Typer(help="Bring run histories into the trace store.", no_args_is_help=True)


@collect_app.command("mlflow")
@handle_errors
def collect_mlflow(
    ctx: typer.Context,
    tracking_uri: Annotated[
        str,
        typer.Option(
            "--tracking-uri",
            envvar="MLFLOW_TRACKING_URI",
            help="http(s)://host:port, sqlite:///path/mlflow.db, or an mlruns/ folder.",
        ),
    ],
    full: Annotated[
        bool, typer.Option("--full", help="Re-read every run, not only new or changed ones.")
    ] = False,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Runs per transaction.")
    ] = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Ingest experiments, runs, params, tags, metric histories and the model registry.

    Incremental: a second pass only reads runs that are new or changed.
    Example: mileage collect mlflow --tracking-uri ./mlruns --json
    """
    from mileage.collectors.mlflow import MlflowCollector
    from mileage.platform.progress import RichProgress

    state = cli_state(ctx)
    with state.store() as store:
        collector = MlflowCollector(
            tracking_uri, settings=state.settings(), full=full, batch_size=batch_size
        )
        with RichProgress(enabled=sys.stderr.isatty()) as progress:
            report = collector.collect(store, progress=progress)
    _print_report(report, as_json)


def _print_report(report: CollectReport, as_json: bool) -> None:
    def human() -> None:
        typer.echo(
            f"{report.source} ({report.reader}): {report.runs_seen} runs seen, "
            f"{report.runs_written} written, {report.runs_unchanged} unchanged, "
            f"{report.experiments} experiments, {report.model_versions} model versions, "
            f"{report.registry_events} registry events, {report.chains_rebuilt} chains rebuilt "
            f"in {report.seconds:.2f}s"
        )
        for line in report.warnings:
            typer.echo(f"warning: {line}", err=True)

    emit(report.to_dict(), as_json, human)


@handle_errors
def collect_openml(
    ctx: typer.Context,
    task: Annotated[
        list[int] | None,
        typer.Option(
            "--task", metavar="ID", help="Task id (repeatable): the task, its dataset and its runs."
        ),
    ] = None,
    suite: Annotated[
        list[int] | None,
        typer.Option(
            "--suite", help="Study or benchmark-suite id (repeatable), e.g. 99 (OpenML-CC18)."
        ),
    ] = None,
    flow: Annotated[
        list[int] | None,
        typer.Option(
            "--flow", metavar="ID", help="Flow id (repeatable): the flow, its setups and its runs."
        ),
    ] = None,
    uploader: Annotated[
        list[int] | None,
        typer.Option(
            "--uploader", metavar="ID", help="User id (repeatable): their runs and flows."
        ),
    ] = None,
    run: Annotated[
        list[int] | None, typer.Option("--run", metavar="ID", help="Run id (repeatable).")
    ] = None,
    setup: Annotated[
        list[int] | None, typer.Option("--setup", metavar="ID", help="Setup id (repeatable).")
    ] = None,
    dataset: Annotated[
        list[int] | None,
        typer.Option(
            "--dataset", metavar="ID", help="Dataset id (repeatable): description and qualities."
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=1, metavar="N", help="At most this many new runs per pass, oldest first."
        ),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="OpenML API URL (default: openml-python's configured server, www.openml.org).",
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            help="openml-python cache folder to read (offline unless --server is also given).",
        ),
    ] = None,
    server_name: Annotated[
        str | None,
        typer.Option(
            "--server-name",
            help="Store the data as coming from this OpenML host (for a mirror or a copied cache).",
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option("--full", help="Re-read every selected run, not only new or incomplete ones."),
    ] = False,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, metavar="N", help="Runs per transaction.")
    ] = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Collect tasks, datasets (qualities as meta-features), flows, setups and runs with
    per-fold evaluations from OpenML; runs form per-uploader, per-task iteration chains.

    Incremental: a second pass reads only new, changed or incomplete runs.
    Example: mileage collect openml --task 31 --limit 500
    """
    from mileage.collectors.openml import OpenmlCollector, Selection
    from mileage.platform.progress import RichProgress

    selection = Selection(
        tasks=tuple(task or ()),
        suites=tuple(suite or ()),
        flows=tuple(flow or ()),
        uploaders=tuple(uploader or ()),
        runs=tuple(run or ()),
        setups=tuple(setup or ()),
        datasets=tuple(dataset or ()),
        limit=limit,
    )
    state = cli_state(ctx)
    collector = OpenmlCollector(
        selection,
        server=server,
        cache_dir=cache_dir,
        source_uri=server_name,
        settings=state.settings(),
        full=full,
        batch_size=batch_size,
    )
    with state.store() as store, RichProgress(enabled=sys.stderr.isatty()) as progress:
        report = collector.collect(store, progress=progress)
    _print_openml(report, selection.describe(), as_json)


def _print_openml(report: OpenmlReport, selection: str, as_json: bool) -> None:
    def human() -> None:
        typer.echo(
            f"{report.source} ({report.reader}, {selection}): {report.runs_seen} runs "
            f"seen, {report.runs_written} written, {report.runs_unchanged} unchanged, "
            f"{report.runs_deferred} deferred; {report.tasks} tasks, {report.datasets} datasets, "
            f"{report.flows} flows, {report.setups} setups read; {report.chains_rebuilt} chains "
            f"rebuilt in {report.seconds:.2f}s"
        )
        for line in report.warnings:
            typer.echo(f"warning: {line}", err=True)

    emit({**report.to_dict(), "selection": selection}, as_json, human)


#: Kept here (not imported from the collectors) so ``--help`` stays light.
SOURCE_NAMES = ("tabrepo-lightgbm", "autosklearn", "flaml-zeroshot", "lcdb")


@handle_errors
def collect_metadata(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Option("--source", metavar="NAME", help=f"One of: {', '.join(SOURCE_NAMES)}."),
    ],
    path: Annotated[
        Path | None,
        typer.Option(
            "--path",
            metavar="DIR",
            help="Folder with the source's files; default: download the PyPI package that ships "
            "it (auto-sklearn, flaml, lcdb) into the Mileage cache.",
        ),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Rewrite even when the files did not change.")
    ] = False,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Import published meta-data: datasets with meta-features, tasks, configurations and
    scored runs, in Mileage's vocabulary.

    Example: mileage collect metadata --source tabrepo-lightgbm --path ../shared/data/tabrepo-lightgbm
    """
    from mileage.collectors.metadata import import_metadata
    from mileage.platform.progress import RichProgress

    state = cli_state(ctx)
    with state.store() as store, RichProgress(enabled=sys.stderr.isatty()) as progress:
        report = import_metadata(
            store, source, path, settings=state.settings(), full=full, progress=progress
        )
    _print_metadata(report, as_json)


def _print_metadata(report: MetadataReport, as_json: bool) -> None:
    def human() -> None:
        verb = "already imported (files unchanged)" if report.unchanged else "imported"
        typer.echo(
            f"{report.source} {verb} from {report.path}: {report.tasks} tasks, "
            f"{report.datasets} datasets, {report.configurations} configurations "
            f"({report.distinct_configurations} distinct), {report.runs_seen} runs "
            f"({report.scored_runs} scored), {report.portfolio_members} portfolio members "
            f"in {report.seconds:.2f}s"
        )
        for line in report.warnings:
            typer.echo(f"warning: {line}", err=True)

    emit(report.to_dict(), as_json, human)


collect_app.command("openml")(collect_openml)
collect_app.command("metadata")(collect_metadata)
