"""``mileage alerts ...``: findings grouped by likely cause, with their history."""

from __future__ import annotations

from typing import Annotated

import typer

from mileage.cli._common import (
    JsonOption,
    OutputOption,
    cli_state,
    emit,
    handle_errors,
    make_console,
)
from mileage.cli.suggestions import By, Pipeline, _short, _who

alerts_app = typer.Typer(
    help="Alerts: findings grouped by likely cause, with their history.", no_args_is_help=True
)


@alerts_app.command("list")
@handle_errors
def alerts_list(
    ctx: typer.Context,
    pipeline: Pipeline = None,
    all_: Annotated[bool, typer.Option("--all", help="Resolved ones too.")] = False,
    demoted: Annotated[bool, typer.Option("--demoted", help="Only demoted alerts.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Open alerts, pages first (``--all`` for the history, demoted ones included)."""
    from mileage.monitors.alerts import list_alerts

    rows = cli_state(ctx).call(
        list_alerts, pipeline=pipeline, include_closed=all_, demoted_only=demoted, limit=limit
    )

    def human() -> None:
        from rich.table import Table

        if not rows:
            typer.echo("no open alerts." if not all_ else "no alerts.")
            return
        table = Table(
            "id", "level", "pipeline", "kind", "status", "batches", "owner", "likely cause"
        )
        for r in rows:
            level = r.level + (f" (demoted from {r.policy_level})" if r.demoted else "")
            table.add_row(
                str(r.id),
                level,
                r.pipeline,
                r.kind,
                r.status,
                str(r.batches),
                r.owner,
                _short(r.title),
            )
        make_console().print(table)

    emit(
        [
            {
                "id": r.id,
                "pipeline": r.pipeline,
                "kind": r.kind,
                "level": r.level,
                "policy_level": r.policy_level,
                "demoted": r.demoted,
                "status": r.status,
                "owner": r.owner,
                "batches": r.batches,
                "title": r.title,
                "model_version": r.model_version,
                "opened_at": r.opened_at,
            }
            for r in rows
        ],
        as_json,
        human,
    )


@alerts_app.command("show")
@handle_errors
def alerts_show(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(help="Alert id.")],
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """An alert: likely cause, failed checks, every state change, its suggestions."""
    from mileage.monitors.alerts import get_alert

    a = cli_state(ctx).call(get_alert, alert_id)

    def human() -> None:
        typer.echo(f"alert {a.id} [{a.level}, {a.status}] {a.pipeline} ({a.kind}): {a.title}")
        typer.echo(
            f"owner {a.owner}; model {a.model_version or 'unknown'}; batches {a.first_batch} .. {a.last_batch} ({a.batches})"
        )
        for c in (a.evidence or {}).get("failed_checks", [])[:20]:
            typer.echo(
                f"  - {c['check_kind']}/{c['check']}: {c['what']} ({c['severity']}, batch {c['batch_id']})"
            )
        for e in a.events:
            typer.echo(f"{e.at} {e.event} [{e.level}] by {e.actor} {e.detail or ''}")
        for s in a.suggestions:
            typer.echo(f"suggestion {s.id} [{s.status}] {s.kind}: {s.title}")

    emit(a.to_dict(), as_json, human)


@alerts_app.command("ack")
@handle_errors
def alerts_ack(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(help="Alert id.")],
    by: By = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Acknowledge an alert; with MILEAGE_ALERTMANAGER_URL set, silence its page there too."""
    from mileage.monitors.alerts import PagerError, acknowledge_alert, get_alert, silence_alert

    state = cli_state(ctx)
    who = _who(by)
    done = state.call(acknowledge_alert, alert_id, by=who)
    status = "acknowledged" if done else state.call(get_alert, alert_id).status
    if done:
        text = f"alert {alert_id} acknowledged."
    elif status == "acknowledged":
        # acking again makes sure its silence holds: Alertmanager was away at the first ack,
        # or the silence lapsed after seven days
        text = f"alert {alert_id} was already acknowledged."
    else:
        text = f"alert {alert_id} is {status}; nothing to acknowledge."
    silence: str | None = None
    if status == "acknowledged":
        try:
            silence = state.call(silence_alert, state.settings(), alert_id, by=who)
        except PagerError as exc:  # the ack holds in Mileage; say the page may go on
            typer.echo(
                f"warning: {exc}; the alert is acknowledged in Mileage but Alertmanager may "
                f"keep paging: ack again once it is reachable",
                err=True,
            )
    if silence:
        text += f" Alertmanager silence {silence} holds it."
    emit(
        {"alert": alert_id, "changed": done, "silence": silence},
        as_json,
        lambda: typer.echo(text),
    )


@alerts_app.command("unack")
@handle_errors
def alerts_unack(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(help="Alert id.")],
    by: By = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Take back an acknowledgement: the alert is open again and its Alertmanager silence
    expires, so it pages again."""
    from mileage.monitors.alerts import PagerError, unacknowledge_alert, unsilence_alert

    state = cli_state(ctx)
    done = state.call(unacknowledge_alert, alert_id, by=_who(by))
    text = (
        f"alert {alert_id} is open again."
        if done
        else f"alert {alert_id} was not acknowledged; nothing done."
    )
    expired = 0
    try:  # also when already open: a silence left by an earlier attempt expires now
        expired = unsilence_alert(state.settings(), alert_id)
    except PagerError as exc:  # open in Mileage; the silence holds until it is expired
        typer.echo(
            f"warning: {exc}; the alert is open in Mileage but its Alertmanager silence "
            f"holds: run 'mileage alerts unack {alert_id}' again once it is reachable",
            err=True,
        )
    if expired:
        text += f" {expired} Alertmanager silence(s) expired."
    emit(
        {"alert": alert_id, "changed": done, "silences_expired": expired},
        as_json,
        lambda: typer.echo(text),
    )


@alerts_app.command("resolve")
@handle_errors
def alerts_resolve(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(help="Alert id.")],
    by: By = None,
    note: Annotated[str, typer.Option("--note", help="What was done.")] = "",
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Resolve an alert by hand (counts as acted on); expires its Alertmanager silence."""
    from mileage.monitors.alerts import (
        Dispatcher,
        PagerError,
        load_routers,
        resolve_alert,
        unsilence_alert,
    )

    state = cli_state(ctx)
    done = state.call(resolve_alert, alert_id, by=_who(by), note=note)
    text = f"alert {alert_id} resolved." if done else f"alert {alert_id} was already resolved."
    if done:  # its undecided suggestions closed: the routers that show status catch up
        settings = state.settings()
        state.call(
            lambda store: Dispatcher(store, load_routers(settings), settings).refresh_alert(
                alert_id
            )
        )
    expired = 0
    try:
        expired = unsilence_alert(state.settings(), alert_id)
    except PagerError as exc:  # the daemon's next push resolves it and expires the silence
        typer.echo(f"warning: {exc}; the daemon's next push will catch up", err=True)
    if expired:
        text += f" {expired} Alertmanager silence(s) expired."
    emit(
        {"alert": alert_id, "changed": done, "silences_expired": expired},
        as_json,
        lambda: typer.echo(text),
    )


@alerts_app.command("actionability")
@handle_errors
def alerts_actionability(
    ctx: typer.Context, as_json: JsonOption = False, output: OutputOption = None
) -> None:
    """Per pipeline and kind: how often people acted on alerts, and which kinds are demoted."""
    from mileage.monitors.alerts import actionability_table

    rows = cli_state(ctx).call(actionability_table)

    def human() -> None:
        if not rows:
            typer.echo("no alerts yet.")
        for r in rows:
            ratio = "-" if r.ratio is None else f"{r.ratio:.0%}"
            flag = "  demoted: new alerts one level lower" if r.demoted else ""
            typer.echo(f"{r.pipeline:24} {r.kind:24} acted on {r.acted}/{r.closed} ({ratio}){flag}")

    emit([r.to_dict() for r in rows], as_json, human)
