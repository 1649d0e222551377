"""``mileage collect openml``: tasks, datasets, flows, setups and runs from OpenML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mileage.platform._cli_common import JsonOption, _state, emit, handle_errors


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
    state = _state(ctx)
    collector = OpenmlCollector(
        selection,
        server=server,
        cache_dir=cache_dir,
        source_uri=server_name,
        settings=state.settings(),
        full=full,
        batch_size=batch_size,
    )
    store = state.store()
    try:
        with RichProgress(enabled=sys.stderr.isatty()) as progress:
            report = collector.collect(store, progress=progress)
    finally:
        store.close()
    data = report.to_dict()
    data["selection"] = selection.describe()
    _print(data, as_json)


def _print(data: dict[str, Any], as_json: bool) -> None:
    def human() -> None:
        typer.echo(
            f"{data['source']} ({data['reader']}, {data['selection']}): {data['runs_seen']} runs "
            f"seen, {data['runs_written']} written, {data['runs_unchanged']} unchanged, "
            f"{data['runs_deferred']} deferred; {data['tasks']} tasks, {data['datasets']} datasets, "
            f"{data['flows']} flows, {data['setups']} setups read; {data['chains_rebuilt']} chains "
            f"rebuilt in {data['seconds']:.2f}s"
        )
        for line in data["warnings"]:
            typer.echo(f"warning: {line}", err=True)

    emit(data, as_json, human)
