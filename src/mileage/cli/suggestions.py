"""``mileage suggestions ...``: the inbox of remedies.

Accepting a suggestion performs its remedy and records who did it; accepting it again does
nothing. Exit codes: 0 on success (a no-op included), 1 when a remedy fails or an id is
unknown, 2 on bad usage.
"""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated, Any

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

if TYPE_CHECKING:
    from mileage.monitors import RespondReport
    from mileage.platform.store import TraceStore

suggestions_app = typer.Typer(
    help="The suggestion inbox: remedies for alerts, with evidence and diffs.",
    no_args_is_help=True,
)

By = Annotated[str | None, typer.Option("--by", help="Who decides (recorded) [the current user].")]
Pipeline = Annotated[str | None, typer.Option("--pipeline", help="Only this pipeline.")]


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _short(text: str, n: int = 90) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def response_lines(report: RespondReport) -> list[str]:
    """A few lines on what a response cycle did (for ``monitor run`` and the demo)."""
    d = report.to_dict()
    if not d["runs_read"]:
        return ["alerts: nothing new."]
    lines = [
        f"alerts: {d['findings_read']} finding(s) -> {d['alerts_opened']} new alert(s) "
        f"({d['pages']} page, {d['tickets']} ticket), {d['alerts_escalated']} escalated, "
        f"{d['alerts_resolved']} resolved; {d['suggestions_created']} suggestion(s); "
        f"deliveries {', '.join(f'{k} {v}' for k, v in d['deliveries'].items() if v) or 'none'}"
    ]
    if d["suggestions_applied"]:
        lines.append(f"applied automatically: suggestion(s) {d['suggestions_applied']}")
    for error in d["errors"]:
        lines.append(f"warning: {error}")
    if d["suggestions_created"]:
        lines.append(f"inbox: mileage suggestions list --pipeline {report.pipeline}")
    return lines


def _refresh(store: TraceStore, suggestion_id: int, ctx: typer.Context) -> None:
    """Show the decision on MLflow tags (best effort: the decision is already stored)."""
    from mileage.monitors.alerts import Dispatcher, load_routers

    settings = cli_state(ctx).settings()
    Dispatcher(store, load_routers(settings), settings).refresh(suggestion_id)


@suggestions_app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    pipeline: Pipeline = None,
    recipient: Annotated[
        str | None, typer.Option("--for", help="Only suggestions sent to this person or team.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Decided ones too.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Suggestions waiting for a decision, most urgent first.

    Example: mileage suggestions list --for churn-team
    """
    from mileage.monitors.alerts import PENDING, list_suggestions

    rows = cli_state(ctx).call(
        list_suggestions,
        pipeline=pipeline,
        recipient=recipient,
        statuses=None if all_ else PENDING,
        limit=limit,
    )

    def human() -> None:
        from rich.table import Table

        if not rows:
            typer.echo("no suggestions waiting." if not all_ else "no suggestions.")
            return
        table = Table("id", "level", "pipeline", "kind", "status", "owner", "suggestion")
        for r in rows:
            table.add_row(
                str(r.id),
                r.alert_level,
                r.pipeline,
                r.kind + ("" if r.rank == 1 else f" (alt {r.rank})"),
                r.status,
                r.owner,
                _short(r.title),
            )
        make_console().print(table)
        typer.echo("details: mileage suggestions show ID")

    emit(
        [
            {
                "id": r.id,
                "alert_id": r.alert_id,
                "pipeline": r.pipeline,
                "kind": r.kind,
                "rank": r.rank,
                "status": r.status,
                "owner": r.owner,
                "title": r.title,
                "alert_level": r.alert_level,
                "model_version": r.model_version,
            }
            for r in rows
        ],
        as_json,
        human,
    )


@suggestions_app.command("show")
@handle_errors
def show(
    ctx: typer.Context,
    suggestion_id: Annotated[int, typer.Argument(help="Suggestion id.")],
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """A suggestion: the alert, failed checks, evidence, expected effect, diff, deliveries."""
    from mileage.monitors.alerts import get_suggestion

    s = cli_state(ctx).call(get_suggestion, suggestion_id)

    def human() -> None:
        a = s.alert
        typer.echo(f"suggestion {s.id} [{s.status}] {s.kind} ({s.confidence} confidence)")
        typer.echo(f"  {s.title}")
        typer.echo(f"alert {a.id} [{a.level}, {a.status}] {a.pipeline}: {a.title}")
        typer.echo(
            f"owner: {s.owner}; recipients: "
            + ", ".join(f"{r['name']} ({r['role']})" for r in s.recipients)
        )
        typer.echo(f"model version: {s.model_version or 'unknown'}")
        typer.echo(f"why: {s.rationale}")
        typer.echo(f"expected effect: {s.expected_effect}")
        typer.echo("failed checks:")
        for c in s.evidence.get("failed_checks", [])[:15]:
            typer.echo(
                f"  - {c['check_kind']}/{c['check']}: {c['what']} ({c['severity']}, batch {c['batch_id']})"
            )
        for column, change in (s.evidence.get("columns") or {}).items():
            typer.echo(
                f"column {column!r}: reference {change['reference']} -> batch {change['batch']}"
            )
        if s.diff:
            typer.echo(f"diff ({s.diff_format}):\n{s.diff}")
        if s.decided_by:
            typer.echo(
                f"decided: {s.status} by {s.decided_by} at {iso_time(s.decided_at)}; result {s.result}"
            )
        for d in s.deliveries:
            err = f" ({d.last_error})" if d.last_error else ""
            typer.echo(
                f"delivery {d.router} [{d.level}]: {d.status} after {d.attempts} attempt(s){err}"
            )
        for o in s.alternatives:
            typer.echo(f"alternative {o.id} [{o.status}] {o.kind}: {o.title}")
        if s.status in ("open", "acknowledged"):
            typer.echo(f"decide: mileage suggestions accept {s.id} | dismiss {s.id} --reason ...")

    emit(s.to_dict(), as_json, human)


def _decision(
    ctx: typer.Context, suggestion_id: int, action: str, as_json: bool, **kw: Any
) -> None:
    from mileage.monitors import alerts as inbox

    state = cli_state(ctx)
    with state.store() as store:
        if action == "ack":
            decision = inbox.acknowledge_suggestion(store, suggestion_id, **kw)
        elif action == "accept":
            decision = inbox.accept_suggestion(
                store, suggestion_id, home=state.settings().home, **kw
            )
        else:
            decision = inbox.dismiss_suggestion(store, suggestion_id, **kw)
        if not decision.noop:
            _refresh(store, suggestion_id, ctx)
    emit(decision.to_dict(), as_json, lambda: typer.echo(decision.message))


@suggestions_app.command("ack")
@handle_errors
def ack(
    ctx: typer.Context,
    suggestion_id: Annotated[int, typer.Argument(help="Suggestion id.")],
    by: By = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Acknowledge a suggestion (and its alert): seen, being looked at."""
    _decision(ctx, suggestion_id, "ack", as_json, by=_who(by))


@suggestions_app.command("accept")
@handle_errors
def accept(
    ctx: typer.Context,
    suggestion_id: Annotated[int, typer.Argument(help="Suggestion id.")],
    by: By = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Perform the remedy and record who accepted it; a second accept does nothing.

    A rollback moves the MLflow alias; a retrain writes the retrain request; a new reference
    re-infers the suite (new version); a slice goes into a new validation-set version.
    Example: mileage suggestions accept 12 --by ana
    """
    _decision(ctx, suggestion_id, "accept", as_json, by=_who(by))


@suggestions_app.command("dismiss")
@handle_errors
def dismiss(
    ctx: typer.Context,
    suggestion_id: Annotated[int, typer.Argument(help="Suggestion id.")],
    by: By = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the decision).")] = "",
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Decline a suggestion. Kinds of alert nobody acts on are shown one level lower later."""
    _decision(ctx, suggestion_id, "dismiss", as_json, by=_who(by), reason=reason)


# -- alerts --------------------------------------------------------------------------------
