"""``mileage daemon``: scheduled jobs, ``/metrics`` and ``/healthz``."""

from __future__ import annotations

from contextlib import closing
from typing import Annotated, Any

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
    output: OutputOption = None,
) -> None:
    """Run scheduled jobs (collect, retrain, monitor) and serve /metrics and /healthz.

    Replicas on one database elect a leader; standbys serve metrics and take over.
    Example: mileage daemon --once --json
    """
    from mileage.daemon import Daemon
    from mileage.platform.logs import configure_logging

    state = cli_state(ctx)
    settings = state.settings()
    configure_logging(settings.log_level, settings.log_format)
    with state.store() as store, closing(Daemon(settings, store)) as worker:
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


@handle_errors
def jobs(
    ctx: typer.Context,
    job: Annotated[
        str | None,
        typer.Argument(help="Only this job (e.g. monitor:churn); all when omitted."),
    ] = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """The daemon's jobs for on-call, read-only: cadence, last run, next slot, leader.

    Reads the trace store; runs nothing and takes no lock, so it is safe beside a live
    daemon. Times are ISO-8601 UTC. Example: mileage jobs --output json
    """
    from prometheus_client import CollectorRegistry

    from mileage.daemon import Daemon
    from mileage.platform.errors import NotFoundError

    state = cli_state(ctx)
    store = state.store()
    try:
        view = Daemon(state.settings(), store, registry=CollectorRegistry()).overview()
    finally:
        store.close()
    rows = view["jobs"]
    if job is not None:
        rows = [r for r in rows if r["job"] == job]
        if not rows:
            known = ", ".join(r["job"] for r in view["jobs"][:20]) or "none"
            raise NotFoundError(
                f"no job is called {job!r} (known: {known}); 'mileage jobs' lists them."
            )
    data: dict[str, Any] = {
        "now": iso_time(view["now"]),
        "leader": view["leader"]
        and {
            "owner": view["leader"]["owner"],
            "last_run_started": iso_time(view["leader"]["last_run_started"]),
        },
        "jobs": [
            {
                **r,
                "next_slot": iso_time(r["next_slot"]),
                "last_run": r["last_run"]
                and {
                    **r["last_run"],
                    "slot": iso_time(r["last_run"]["slot"]),
                    "started": iso_time(r["last_run"]["started"]),
                    "finished": iso_time(r["last_run"]["finished"]),
                },
            }
            for r in rows
        ],
    }

    def human() -> None:
        from rich.table import Table

        console = make_console()
        leader = data["leader"]
        console.print(
            f"leader: {leader['owner']} (last run started {leader['last_run_started']})"
            if leader
            else "leader: none seen (no job has run yet)",
            markup=False,
        )
        table = Table(
            "job", "kind", "every", "last slot", "status", "seconds", "owner", "next slot"
        )
        for r in data["jobs"]:
            last = r["last_run"] or {}
            table.add_row(
                r["job"],
                r["kind"],
                _every(r["interval_seconds"]),
                last.get("slot", "-"),
                last.get("status", "never run"),
                "-" if last.get("seconds") is None else f"{last['seconds']:.3f}",
                last.get("owner", "-"),
                r["next_slot"],
            )
        console.print(table if data["jobs"] else "no jobs: add a source or a monitor first.")

    emit(data, as_json, human)


def _every(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
