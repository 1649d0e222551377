"""``mileage nextstep ...``: which operator the next iteration of a chain will change."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mileage.cli._common import JsonOption, OutputOption, cli_state, emit, handle_errors
from mileage.platform.errors import ConfigError, NotFoundError

nextstep_app = typer.Typer(
    help="Predict which operator the next iteration of a chain will change.",
    no_args_is_help=True,
)


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
    output: OutputOption = None,
) -> None:
    """Train the next-change model on every chain in the trace store; save it.

    The model is a LightGBM text file plus JSON (no pickle); 'mileage pipeline run' uses it.
    """
    from mileage.metalearner.executor import MODEL_DIR
    from mileage.metalearner.nextstep import NextChangePredictor, generate_chains, load_chains
    from mileage.platform.progress import RichProgress

    state = cli_state(ctx)
    folder = out or state.settings().home.joinpath(*MODEL_DIR)
    with state.store() as store:
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
    output: OutputOption = None,
) -> None:
    """P(each operator changes in the next iteration) for a chain; without --chain, list chains."""
    from mileage.metalearner.executor import MODEL_DIR
    from mileage.metalearner.nextstep import NextChangePredictor, load_chains

    state = cli_state(ctx)
    with state.store() as store:
        chains = load_chains(store, min_steps=1)
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
        raise NotFoundError(
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
