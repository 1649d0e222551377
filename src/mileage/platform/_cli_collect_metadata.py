"""``mileage collect metadata``: published meta-data (TabRepo, auto-sklearn, FLAML, LCDB)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mileage.platform._cli_common import JsonOption, _state, emit, handle_errors

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
) -> None:
    """Import published meta-data: datasets with meta-features, tasks, configurations and
    scored runs, in Mileage's vocabulary.

    Example: mileage collect metadata --source tabrepo-lightgbm --path ../shared/data/tabrepo-lightgbm
    """
    from mileage.collectors.metadata import import_metadata
    from mileage.platform.progress import RichProgress

    state = _state(ctx)
    store = state.store()
    try:
        with RichProgress(enabled=sys.stderr.isatty()) as progress:
            report = import_metadata(
                store, source, path, settings=state.settings(), full=full, progress=progress
            )
    finally:
        store.close()
    _print(report.to_dict(), as_json)


def _print(data: dict[str, Any], as_json: bool) -> None:
    def human() -> None:
        verb = "already imported (files unchanged)" if data["unchanged"] else "imported"
        typer.echo(
            f"{data['source']} {verb} from {data['path']}: {data['tasks']} tasks, "
            f"{data['datasets']} datasets, {data['configurations']} configurations "
            f"({data['distinct_configurations']} distinct), {data['runs_seen']} runs "
            f"({data['scored_runs']} scored), {data['portfolio_members']} portfolio members "
            f"in {data['seconds']:.2f}s"
        )
        for line in data["warnings"]:
            typer.echo(f"warning: {line}", err=True)

    emit(data, as_json, human)
