"""The ``mileage`` command line.

``mileage <noun> <verb>``; ``--output plain|json|table`` (``--json``) on every command that
prints data; exit code 0 on success, 1 on a failed check, a failed operation or something not
found, 2 on bad usage (``docs/reference/cli-conventions.md``). Heavy libraries are imported
inside the commands so ``mileage --help`` answers at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mileage.cli._common import CliState, cli_state, handle_errors, reset_output
from mileage.cli.alerts import alerts_app
from mileage.cli.collect import collect_app
from mileage.cli.daemon import daemon, jobs
from mileage.cli.dashboards import dashboards_app
from mileage.cli.monitor import monitor_app
from mileage.cli.nextstep import nextstep_app
from mileage.cli.pipeline import pipeline_app
from mileage.cli.store import init, iterations_app, status
from mileage.cli.suggestions import suggestions_app
from mileage.cli.warmstart import train_app, warmstart_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="mileage",
    help="Mileage: collect experiment traces, warm-start searches, monitor deployed pipelines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command()(init)
app.command()(status)
app.add_typer(collect_app, name="collect")
app.add_typer(iterations_app, name="iterations")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(nextstep_app, name="nextstep")
app.add_typer(warmstart_app, name="warmstart")
app.add_typer(monitor_app, name="monitor")
app.add_typer(alerts_app, name="alerts")
app.add_typer(suggestions_app, name="suggestions")
app.add_typer(dashboards_app, name="dashboards")
app.command()(daemon)
app.command()(jobs)
# Old spelling, kept for one release: 'mileage train warmstart' is 'mileage warmstart train'.
app.add_typer(train_app, name="train", hidden=True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mileage")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mileage {_version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file (default: ./mileage.toml).")
    ] = None,
    db_url: Annotated[
        str | None,
        typer.Option(
            "--db-url", help="Trace store URL (default: MILEAGE_DB_URL or SQLite in .mileage/)."
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    reset_output()
    ctx.obj = CliState(config=config, db_url=db_url)


@app.command()
@handle_errors
def demo(
    ctx: typer.Context,
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Keep the previous demo's files instead of starting fresh."),
    ] = False,
) -> None:
    """Run the whole loop on real data in a few minutes (what 'make run' does).

    Trains real models while changing one thing at a time, logs them to a local MLflow store,
    collects that store, and prints what changed between iterations and where to look next.
    """
    from mileage.cli.demo._run import run_demo

    run_demo(cli_state(ctx).settings(), fresh=not keep)


def main() -> None:
    """Console-script entry point.

    A command that needs an optional extra which is not installed fails with one line naming
    the extra, wherever in the command the missing library is imported.
    """
    import sys

    from mileage.platform.extras import missing_extra

    try:
        app()
    except ModuleNotFoundError as exc:
        error = missing_extra(exc, f"'{' '.join(['mileage', *_command_path(sys.argv[1:])])}'")
        if error is None:
            raise
        typer.echo(f"error: {error}", err=True)
        raise SystemExit(1) from None


def _command_path(argv: list[str]) -> list[str]:
    """The (sub)command names in ``argv``, without options and their values."""
    import typer.main

    command: Any = typer.main.get_command(app)
    path: list[str] = []
    for token in argv:
        sub = (getattr(command, "commands", None) or {}).get(token)
        if sub is None:
            continue
        path.append(token)
        command = sub
    return path
