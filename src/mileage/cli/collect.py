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


@handle_errors
def collect_sources(
    ctx: typer.Context,
    mlflow: Annotated[
        list[str] | None,
        typer.Option(
            "--mlflow",
            metavar="URI",
            help="MLflow tracking URI (repeatable), as for collect mlflow.",
        ),
    ] = None,
    openml_task: Annotated[
        list[int] | None,
        typer.Option("--openml-task", metavar="ID", help="OpenML task id (repeatable)."),
    ] = None,
    openml_suite: Annotated[
        list[int] | None,
        typer.Option("--openml-suite", metavar="ID", help="OpenML study or suite id (repeatable)."),
    ] = None,
    openml_run: Annotated[
        list[int] | None,
        typer.Option("--openml-run", metavar="ID", help="OpenML run id (repeatable)."),
    ] = None,
    openml_uploader: Annotated[
        list[int] | None,
        typer.Option("--openml-uploader", metavar="ID", help="OpenML user id (repeatable)."),
    ] = None,
    openml_server: Annotated[
        str | None,
        typer.Option("--openml-server", help="OpenML API URL (default: openml-python's)."),
    ] = None,
    metadata: Annotated[
        list[str] | None,
        typer.Option(
            "--metadata",
            metavar="NAME[=DIR]",
            help=f"Published meta-data (repeatable): one of {', '.join(SOURCE_NAMES)}, with "
            "=DIR for a folder of its files.",
        ),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Re-read every run, not only new or changed ones.")
    ] = False,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Collect many sources at once (MLflow, OpenML, meta-data): each is read by tasks on
    the Dask cluster of MILEAGE_DASK_SCHEDULER, or else on local worker processes
    (MILEAGE_DAEMON_PROCESSES, one per core by default), and this process writes every
    part, so the store has one writer. Exits 1 when any source failed (the others are
    written).

    Example: mileage collect sources --mlflow ./mlruns --openml-task 31 --metadata lcdb
    """
    from mileage.collectors import ApartCollector, CollectReport, collect_apart
    from mileage.collectors.metadata import MetadataCollector
    from mileage.collectors.mlflow import MlflowCollector
    from mileage.collectors.openml import OpenmlCollector, Selection
    from mileage.platform.cluster import open_task_pool
    from mileage.platform.errors import ConfigError

    state = cli_state(ctx)
    settings = state.settings()
    collectors: list[ApartCollector] = [
        MlflowCollector(uri, settings=settings, full=full) for uri in mlflow or ()
    ]
    selection = Selection(
        tasks=tuple(openml_task or ()),
        suites=tuple(openml_suite or ()),
        runs=tuple(openml_run or ()),
        uploaders=tuple(openml_uploader or ()),
    )
    if not selection.is_empty():
        collectors.append(
            OpenmlCollector(selection, server=openml_server, settings=settings, full=full)
        )
    for item in metadata or ():
        name, _, folder = item.partition("=")
        collectors.append(
            MetadataCollector(name, Path(folder) if folder else None, settings=settings, full=full)
        )
    if not collectors:
        raise ConfigError(
            "no source given; name at least one with --mlflow, --openml-task (or another "
            "--openml-* selection) or --metadata."
        )
    pool = open_task_pool(
        settings.dask_scheduler,
        processes=settings.daemon_processes,
        what="collecting sources on Dask",
    )
    try:
        with state.store() as store:
            results = collect_apart(store, collectors, pool)
    finally:
        pool.close()
    rows = [
        {
            "source": c.apart_key(),
            **(
                {"ok": True, **r.to_dict()}
                if isinstance(r, CollectReport)
                else {"ok": False, "error": f"{type(r).__name__}: {r}"}
            ),
        }
        for c, r in zip(collectors, results, strict=True)
    ]

    def human() -> None:
        for row in rows:
            if row["ok"]:
                typer.echo(
                    f"{row['source']}: {row['runs_seen']} runs seen, {row['runs_written']} "
                    f"written in {row['seconds']:.2f}s"
                )
            else:
                typer.echo(f"{row['source']}: failed: {row['error']}", err=True)

    emit({"where": pool.where, "sources": rows}, as_json, human)
    if not all(row["ok"] for row in rows):
        raise typer.Exit(1)


collect_app.command("openml")(collect_openml)
collect_app.command("metadata")(collect_metadata)
collect_app.command("sources")(collect_sources)
