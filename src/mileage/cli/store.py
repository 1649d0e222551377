"""``mileage init``, ``mileage status`` and ``mileage iterations stats``: the trace store itself."""

from __future__ import annotations

import typer

from mileage.cli._common import (
    JsonOption,
    OutputOption,
    cli_state,
    emit,
    handle_errors,
    iso_time,
    make_console,
)

iterations_app = typer.Typer(
    help="Iteration chains: consecutive runs and what changed.", no_args_is_help=True
)


@handle_errors
def init(ctx: typer.Context, as_json: JsonOption = False, output: OutputOption = None) -> None:
    """Create the trace store, or upgrade its schema, and print where it is."""
    with cli_state(ctx).store() as store:
        info = {"db_url": store.url, "tables": len(store.table_names()), "schema": "current"}
    emit(
        info,
        as_json,
        lambda: typer.echo(f"trace store ready: {info['db_url']} ({info['tables']} tables)"),
    )


@handle_errors
def status(ctx: typer.Context, as_json: JsonOption = False, output: OutputOption = None) -> None:
    """Row counts, sources, and the last collection pass of each source."""
    from mileage.platform.store import store_status

    with cli_state(ctx).store() as store:
        data = store_status(store)

    def human() -> None:
        from rich.table import Table

        console = make_console()
        console.print(f"trace store: {data.db_url}")
        counts = Table("table", "rows", title="contents")
        for name, n in data.counts.items():
            counts.add_row(name, f"{n:,}")
        console.print(counts)
        if data.sources:
            sources = Table(
                "kind", "source", "runs", "quarantined", "last pass", "status", title="sources"
            )
            for s in data.sources:
                last = s.last_pass
                sources.add_row(
                    s.kind,
                    s.uri,
                    f"{s.runs:,}",
                    f"{s.quarantined:,}",
                    iso_time(last.finished_at if last else None),
                    str(last.status if last else None),
                )
            console.print(sources)
        if data.quarantine:
            from rich.markup import escape

            held = Table("source", "kind", "record", "field", "problem", title="quarantine")
            for q in data.quarantine:
                held.add_row(
                    str(q.source_id),
                    q.kind,
                    escape(q.record_id),
                    escape(q.field),
                    escape(q.problem),
                )
            console.print(held)

    emit(data.to_dict(), as_json, human)


@iterations_app.command("stats")
@handle_errors
def iterations_stats(
    ctx: typer.Context, as_json: JsonOption = False, output: OutputOption = None
) -> None:
    """Chains, links, and the share of links reusing more than half of the previous run."""
    from mileage.collectors import iteration_stats as stats

    with cli_state(ctx).store() as store, store.connect() as conn:
        data = stats(conn)

    def human() -> None:
        share = data.share_reusing_over_half
        typer.echo(
            f"{data.chains} chains, {data.links} links; "
            + (
                f"{share:.1%} of measured links reuse over half of the previous run"
                if share is not None
                else "no measured links"
            )
            + f" (seed papers: {data.seed_reference})"
        )
        for s in data.sources:
            sh = s.share_reusing_over_half
            typer.echo(
                f"  {s.kind:8} {s.source}: {s.chains} chains, {s.links} links, "
                + (f"{sh:.1%} reuse > 1/2" if sh is not None else "n/a")
            )

    emit(data.to_dict(), as_json, human)
