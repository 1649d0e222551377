"""``mileage dashboards``: build Grafana dashboards, Prometheus rules and Alertmanager config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mileage.cli._common import JsonOption, OutputOption, emit, handle_errors

dashboards_app = typer.Typer(
    help="Grafana dashboards and Prometheus rules as code.", no_args_is_help=True
)


@dashboards_app.command("build")
@handle_errors
def build_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write into.")] = Path("dashboards"),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 when the folder is stale.")
    ] = False,
    runbook_base: Annotated[
        str | None,
        typer.Option(
            "--runbook-base",
            help="Absolute URL of docs/runbooks.md as your team serves it "
            "(default: MILEAGE_RUNBOOK_URL, else the daemon's /runbooks page).",
        ),
    ] = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Write dashboards/grafana/*.json, provisioning, Prometheus rules and tests, Alertmanager config.

    Example: mileage dashboards build --check
    """
    from mileage.dashboards import build, stale
    from mileage.platform.settings import Settings

    runbook_base = runbook_base or Settings.load().runbook_url

    if check:
        outdated = stale(out, runbook_base)
        emit(
            {"stale": outdated},
            as_json,
            lambda: typer.echo("\n".join(outdated) or "dashboards are current"),
        )
        if outdated:
            raise typer.Exit(1)
        return
    written = [str(p) for p in build(out, runbook_base)]
    emit({"written": written}, as_json, lambda: typer.echo("\n".join(written)))
