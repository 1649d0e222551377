"""``mileage pipeline ...`` and ``mileage nextstep ...``: run workflows through the cache,
and show which operator the next iteration will likely change."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from mileage.platform._cli_common import JsonOption, _state, emit, handle_errors
from mileage.platform.errors import ConfigError

pipeline_app = typer.Typer(
    help="Run example workflows through the intermediate cache and log each iteration.",
    no_args_is_help=True,
)
nextstep_app = typer.Typer(
    help="Predict which operator the next iteration of a chain will change.",
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
def examples(as_json: JsonOption = False) -> None:
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
        str, typer.Option("--policy", help="ours, helix, everything or nothing.")
    ] = "ours",
    tracking_uri: Annotated[
        str | None,
        typer.Option("--tracking-uri", help="Also log the run to this MLflow tracking URI."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run one iteration of an example workflow through the cache and log it.

    Each run is recorded in the trace store (and MLflow with --tracking-uri); runs of one
    example by one user form a chain. Outputs unchanged since an earlier run are loaded
    when that is cheaper than recomputing them.
    Example: mileage pipeline run fair --set model.C=0.3 --set select.k=12
    """
    from mileage.metalearner import WorkflowError
    from mileage.metalearner.examples import get_example
    from mileage.metalearner.executor import run
    from mileage.metalearner.materialize import DirectoryCache

    state = _state(ctx)
    settings = state.settings()
    try:
        ex = get_example(example)
        config = ex.set(ex.default_config(), _assignments(assign or []))
    except WorkflowError as exc:  # a wrong name on the command line is a usage error
        raise ConfigError(str(exc)) from None
    workflow = ex.workflow(config)
    folder = cache or settings.home / "cache"
    size: int | Literal["keep"] | None = "keep"
    if budget is not None:
        size = parse_size(budget)
    elif not (folder / "index.db").exists():
        size = NEW_CACHE_BUDGET
    store = state.store()
    the_cache = DirectoryCache(folder, budget_bytes=size)
    try:
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
    finally:
        the_cache.close()
        store.close()
    data = result.to_dict()
    data["config"] = config

    def human() -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console()
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


@nextstep_app.command("train")
@handle_errors
def nextstep_train(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Model folder (default: <home>/models/nextstep)."),
    ] = None,
    synthetic: Annotated[
        int,
        typer.Option(
            "--synthetic",
            min=0,
            help="Also train on this many generated (synthetic) chains, for a cold start.",
        ),
    ] = 0,
    as_json: JsonOption = False,
) -> None:
    """Train the next-change model on every chain in the trace store; save it.

    The model is a LightGBM text file plus JSON (no pickle); 'mileage pipeline run' uses it.
    """
    from mileage.metalearner.executor import MODEL_DIR
    from mileage.metalearner.nextstep import NextChangePredictor, generate_chains, load_chains
    from mileage.platform.progress import RichProgress

    state = _state(ctx)
    folder = out or state.settings().home.joinpath(*MODEL_DIR)
    store = state.store()
    try:
        with RichProgress(enabled=sys.stderr.isatty()) as progress:
            progress.start("reading chains from the trace store")
            chains = load_chains(store)
            progress.finish()
            training = chains + (generate_chains(synthetic, 30, seed=0) if synthetic else [])
            if not any(c.n_links for c in training):
                raise ConfigError(
                    f"the trace store {store.url} holds no iteration chains to learn from; collect "
                    "runs first ('mileage collect mlflow ...', 'mileage pipeline run ...') or add "
                    "--synthetic 60 for a model trained on generated chains."
                )
            progress.start("fitting the next-change model")
            model = NextChangePredictor().fit(training)
            progress.finish()
        model.save(folder)
    finally:
        store.close()
    data = {
        "model": str(folder),
        "chains_from_store": len(chains),
        "synthetic_chains": synthetic,
        "rows": model.n_rows_,
        "complexity": model.complexity_,
    }
    emit(
        data,
        as_json,
        lambda: typer.echo(
            f"trained on {len(chains)} chains from the store"
            + (f" and {synthetic} synthetic chains" if synthetic else "")
            + f" ({model.n_rows_} rows, {model.complexity_} trees); saved to {folder}"
        ),
    )


@nextstep_app.command("show")
@handle_errors
def nextstep_show(
    ctx: typer.Context,
    chain: Annotated[
        str | None,
        typer.Option("--chain", help="Chain key (see the list printed without --chain)."),
    ] = None,
    model: Annotated[
        Path | None, typer.Option("--model", help="Model folder (default: <home>/models/nextstep).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """P(each operator changes in the next iteration) for a chain; without --chain, list chains."""
    from mileage.metalearner.executor import MODEL_DIR
    from mileage.metalearner.nextstep import NextChangePredictor, load_chains

    state = _state(ctx)
    store = state.store()
    try:
        chains = load_chains(store, min_steps=1)
    finally:
        store.close()
    if chain is None:
        listing = [
            {"chain": c.key, "user": c.user, "source": c.origin, "runs": len(c), "unit": c.unit}
            for c in chains
        ]

        def human_list() -> None:
            if not listing:
                typer.echo("no chains in the trace store yet")
            for c in listing:
                typer.echo(
                    f"{c['chain']:30} {c['source']:9} {c['user'] or '':12} {c['runs']:4} runs ({c['unit']})"
                )
            typer.echo("show one with: mileage nextstep show --chain KEY")

        emit(listing, as_json, human_list)
        return
    found = next((c for c in chains if c.key == chain), None)
    if found is None:
        raise ConfigError(
            f"no chain {chain!r} in the trace store; 'mileage nextstep show' lists the chains."
        )
    predictor = NextChangePredictor.load(model or state.settings().home.joinpath(*MODEL_DIR))
    context = [c for c in chains if c.user == found.user and c.key != found.key]
    ranking = predictor.rank(found, context=context)
    data: dict[str, Any] = {
        "chain": found.key,
        "runs": len(found),
        "last_change": sorted(found.steps[-1].changed),
        "next_change_probability": dict(ranking),
    }

    def human() -> None:
        typer.echo(
            f"chain {found.key}: {len(found)} runs; last change: "
            f"{', '.join(sorted(found.steps[-1].changed)) or '-'}"
        )
        for unit, p in ranking:
            typer.echo(f"  {p:5.2f}  {'#' * round(p * 30):30}  {unit}")

    emit(data, as_json, human)


__all__ = ["nextstep_app", "parse_size", "pipeline_app"]
