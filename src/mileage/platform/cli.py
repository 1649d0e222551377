"""The ``mileage`` command line.

``mileage <noun> <verb>``; ``--json`` on every command for machines; exit code 0 on
success, 1 on a failed check or a failed operation, 2 on bad usage. Heavy libraries are
imported inside the commands so ``mileage --help`` answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mileage.platform._cli_collect_metadata import collect_metadata
from mileage.platform._cli_collect_openml import collect_openml
from mileage.platform._cli_common import JsonOption, _State, _state, emit, handle_errors
from mileage.platform._cli_dashboards import dashboards_app
from mileage.platform._cli_monitor import monitor_app
from mileage.platform._cli_pipeline import nextstep_app, pipeline_app
from mileage.platform._cli_suggestions import alerts_app, suggestions_app
from mileage.platform._cli_warmstart import train_app, warmstart

app = typer.Typer(
    name="mileage",
    help="Mileage: collect experiment traces, warm-start searches, monitor deployed pipelines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
collect_app = typer.Typer(help="Bring run histories into the trace store.", no_args_is_help=True)
iterations_app = typer.Typer(
    help="Iteration chains: consecutive runs and what changed.", no_args_is_help=True
)
app.add_typer(collect_app, name="collect")
collect_app.command("openml")(collect_openml)
collect_app.command("metadata")(collect_metadata)
app.add_typer(iterations_app, name="iterations")
app.add_typer(dashboards_app, name="dashboards")
app.add_typer(monitor_app, name="monitor")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(nextstep_app, name="nextstep")
app.add_typer(train_app, name="train")
app.command("warmstart")(warmstart)
app.add_typer(suggestions_app, name="suggestions")
app.add_typer(alerts_app, name="alerts")


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
) -> None:
    ctx.obj = _State(config=config, db_url=db_url)


@app.command()
@handle_errors
def init(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Create the trace store, or upgrade its schema, and print where it is."""
    store = _state(ctx).store()
    try:
        info = {"db_url": store.url, "tables": len(store.table_names()), "schema": "current"}
    finally:
        store.close()
    emit(
        info,
        as_json,
        lambda: typer.echo(f"trace store ready: {info['db_url']} ({info['tables']} tables)"),
    )


@app.command()
@handle_errors
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Row counts, sources, and the last collection pass of each source."""
    from mileage.platform._status import store_status

    store = _state(ctx).store()
    try:
        data = store_status(store)
    finally:
        store.close()

    def human() -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        console.print(f"trace store: {data['db_url']}")
        counts = Table("table", "rows", title="contents")
        for name, n in data["counts"].items():
            counts.add_row(name, f"{n:,}")
        console.print(counts)
        if data["sources"]:
            sources = Table("kind", "source", "runs", "last pass", "status", title="sources")
            for s in data["sources"]:
                sources.add_row(
                    s["kind"],
                    s["uri"],
                    f"{s['runs']:,}",
                    str(s["last_pass_finished"]),
                    str(s["last_pass_status"]),
                )
            console.print(sources)

    emit(data, as_json, human)


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
) -> None:
    """Ingest experiments, runs, params, tags, metric histories and the model registry.

    Incremental: a second pass only reads runs that are new or changed.
    Example: mileage collect mlflow --tracking-uri ./mlruns --json
    """
    from mileage.collectors.mlflow import MlflowCollector
    from mileage.platform.progress import RichProgress

    state = _state(ctx)
    store = state.store()
    try:
        collector = MlflowCollector(
            tracking_uri, settings=state.settings(), full=full, batch_size=batch_size
        )
        with RichProgress(enabled=sys.stderr.isatty()) as progress:
            report = collector.collect(store, progress=progress)
    finally:
        store.close()
    _print_report(report.to_dict(), as_json)


def _print_report(data: dict[str, Any], as_json: bool) -> None:
    def human() -> None:
        typer.echo(
            f"{data['source']} ({data['reader']}): {data['runs_seen']} runs seen, "
            f"{data['runs_written']} written, {data['runs_unchanged']} unchanged, "
            f"{data['experiments']} experiments, {data['model_versions']} model versions, "
            f"{data['registry_events']} registry events, {data['chains_rebuilt']} chains rebuilt "
            f"in {data['seconds']:.2f}s"
        )
        for line in data["warnings"]:
            typer.echo(f"warning: {line}", err=True)

    emit(data, as_json, human)


@iterations_app.command("stats")
@handle_errors
def iterations_stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Chains, links, and the share of links reusing more than half of the previous run."""
    from mileage.collectors._iterations import stats

    store = _state(ctx).store()
    try:
        with store.connect() as conn:
            data = stats(conn)
    finally:
        store.close()

    def human() -> None:
        share = data["share_reusing_over_half"]
        typer.echo(
            f"{data['chains']} chains, {data['links']} links; "
            + (
                f"{share:.1%} of measured links reuse over half of the previous run"
                if share is not None
                else "no measured links"
            )
            + f" (seed papers: {data['seed_reference']})"
        )
        for s in data["sources"]:
            sh = s["share_reusing_over_half"]
            typer.echo(
                f"  {s['kind']:8} {s['source']}: {s['chains']} chains, {s['links']} links, "
                + (f"{sh:.1%} reuse > 1/2" if sh is not None else "n/a")
            )

    emit(data, as_json, human)


@app.command()
@handle_errors
def daemon(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run every job once, then exit.")] = False,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Bind address of /metrics and /healthz (default 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port of /metrics and /healthz (default 9464).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run scheduled jobs (collect, retrain, monitor) and serve /metrics and /healthz.

    Replicas on one database elect a leader; standbys serve metrics and take over.
    Example: mileage daemon --once --json
    """
    import logging

    from mileage.platform.daemon import Daemon

    state = _state(ctx)
    settings = state.settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    store = state.store()
    worker = Daemon(settings, store)
    try:
        if once:
            results = worker.run_once()
            failed = [r for r in results if r["status"] == "failed"]

            def human() -> None:
                for r in results:
                    typer.echo(
                        f"{r['job']}: {r['status']} after {r.get('attempts', 0)} attempt(s) {r.get('detail', '')[:200]}"
                    )
                typer.echo(f"{len(results)} jobs, {len(failed)} failed")

            emit({"jobs": results, "failed": len(failed)}, as_json, human)
            if failed:
                raise typer.Exit(1)
            return
        bound = worker.serve_http(host, port)
        typer.echo(f"metrics on http://{bound[0]}:{bound[1]}/metrics, health on /healthz", err=True)
        worker.install_signal_handlers()
        worker.run_forever()
    finally:
        worker.close()
        store.close()


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
    from mileage.platform._demo import run_demo

    run_demo(_state(ctx).settings(), fresh=not keep)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
