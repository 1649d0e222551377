"""``mileage pipeline ...`` and ``mileage nextstep ...``: run workflows through the cache,
and show which operator the next iteration will likely change."""

from __future__ import annotations

import re
from contextlib import closing
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from mileage.cli._common import (
    JsonOption,
    OutputOption,
    cli_state,
    emit,
    handle_errors,
    make_console,
)
from mileage.platform.errors import ConfigError

pipeline_app = typer.Typer(
    help="Run example workflows through the intermediate cache and log each iteration.",
    no_args_is_help=True,
)

#: Budget of a cache created by 'mileage pipeline run' without --budget.
NEW_CACHE_BUDGET = 10**9
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int | None:
    """``500MB`` -> 500000000; ``2GiB`` -> 2147483648; ``unlimited`` -> None.

    Raises:
        ConfigError: The text is not a size.
    """
    if text.strip().lower() in ("unlimited", "none", "inf"):
        return None
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(
            f"--budget {text!r} is not a size; use bytes or a unit, e.g. 500MB, 2GiB, or "
            "'unlimited'."
        )
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    base = 1024 if "i" in unit else 1000
    letter = unit[:1]
    power = "kmgt".index(letter) + 1 if letter and letter in "kmgt" else 0
    return int(number * base**power)


def _assignments(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set {item!r} must look like STEP=ALTERNATIVE or STEP.PARAM=VALUE "
                "(e.g. --set model=lgbm --set model.num_leaves=31)."
            )
        out[key.strip()] = value.strip()
    return out


@pipeline_app.command("examples")
@handle_errors
def examples(as_json: JsonOption = False, output: OutputOption = None) -> None:
    """List the example workflows, their editable steps and alternatives."""
    from mileage.metalearner.examples import EXAMPLES

    data: list[dict[str, Any]] = [
        {
            "name": ex.name,
            "description": ex.description,
            "steps": {
                "split": {"split": ["test_size", "random_state"]},
                **{
                    step: {alias: sorted(choice.grid) for alias, choice in choices.items()}
                    for step, (_, choices) in ex.steps.items()
                },
            },
        }
        for ex in EXAMPLES.values()
    ]

    def human() -> None:
        for ex in data:
            typer.echo(f"{ex['name']}: {ex['description']}")
            for step, choices in ex["steps"].items():
                alts = ", ".join(
                    f"{alias}({', '.join(params)})" if params else alias
                    for alias, params in choices.items()
                )
                typer.echo(f"  {step:12} {alts}")
        typer.echo(
            "\nexample: mileage pipeline run fair --set model=lgbm --set model.num_leaves=31"
        )

    emit(data, as_json, human)


@pipeline_app.command("run")
@handle_errors
def pipeline_run(
    ctx: typer.Context,
    example: Annotated[
        str, typer.Argument(help="Example workflow (see 'mileage pipeline examples').")
    ],
    assign: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="STEP=ALTERNATIVE or STEP.PARAM=VALUE; repeat for several changes."
        ),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Who iterates (default: your login name).")
    ] = None,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Cache folder (default: <home>/cache).")
    ] = None,
    budget: Annotated[
        str | None,
        typer.Option(
            "--budget",
            help="Cache byte budget, e.g. 500MB, or 'unlimited' (default: the cache's "
            "current budget; 1GB for a new cache).",
        ),
    ] = None,
    policy: Annotated[
        Literal["ours", "helix", "everything", "nothing"],
        typer.Option("--policy", help="What the cache keeps."),
    ] = "ours",
    tracking_uri: Annotated[
        str | None,
        typer.Option("--tracking-uri", help="Also log the run to this MLflow tracking URI."),
    ] = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Run one iteration of an example workflow through the cache and log it.

    Each run is recorded in the trace store (and MLflow with --tracking-uri); runs of one
    example by one user form a chain. Outputs unchanged since an earlier run are loaded
    when that is cheaper than recomputing them.
    Example: mileage pipeline run fair --set model.C=0.3 --set select.k=12
    """
    from mileage.metalearner import WorkflowError
    from mileage.metalearner.examples import EXAMPLES, get_example
    from mileage.metalearner.executor import run
    from mileage.metalearner.materialize import DirectoryCache
    from mileage.platform.errors import NotFoundError

    if example not in EXAMPLES:  # not found (exit 1), like an unknown monitor
        raise NotFoundError(
            f"no example workflow {example!r}; available: {sorted(EXAMPLES)} "
            "(see 'mileage pipeline examples')."
        )
    state = cli_state(ctx)
    settings = state.settings()
    try:
        ex = get_example(example)
        config = ex.set(ex.default_config(), _assignments(assign or []))
    except WorkflowError as exc:  # a wrong --set on the command line is a usage error
        raise ConfigError(str(exc)) from None
    workflow = ex.workflow(config)
    folder = cache or settings.home / "cache"
    size: int | Literal["keep"] | None = "keep"
    if budget is not None:
        size = parse_size(budget)
    elif not (folder / "index.db").exists():
        size = NEW_CACHE_BUDGET
    with (
        state.store() as store,
        closing(DirectoryCache(folder, budget_bytes=size)) as the_cache,
    ):
        result = run(
            workflow,
            ex.load(),
            user=user,
            cache=the_cache,
            policy=policy,
            store=store,
            tracking_uri=tracking_uri,
            settings=settings,
        )
    data = result.to_dict()
    data["config"] = config

    def human() -> None:
        from rich.table import Table

        console = make_console()
        table = Table(
            "operator",
            "action",
            "seconds",
            "MB",
            "kept",
            "P(changes next)",
            title=f"{ex.name}: score {result.metrics.get('score', float('nan')):.4f}",
        )
        for r in result.operators:
            seconds = r.compute_seconds if r.action == "computed" else r.load_seconds
            table.add_row(
                r.operator,
                r.action,
                "" if seconds is None else f"{seconds:.3f}",
                "" if r.output_bytes is None else f"{r.output_bytes / 1e6:.2f}",
                "yes" if r.materialized else "",
                f"{result.change_probability[r.operator]:.2f}"
                if r.operator in result.change_probability
                else "",
            )
        console.print(table)
        console.print(
            f"{result.seconds:.2f}s; {result.cache_hits} outputs loaded from the cache, "
            f"{result.computed} computed; about {result.saved_seconds:.2f}s of compute saved; "
            f"run {result.run_id} in {store.url}"
            + (f"; MLflow run {result.mlflow_run_id}" if result.mlflow_run_id else "")
        )

    emit(data, as_json, human)


__all__ = ["parse_size", "pipeline_app"]
