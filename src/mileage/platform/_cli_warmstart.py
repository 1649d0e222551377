"""``mileage warmstart`` and ``mileage train warmstart``: ranked configurations to try first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mileage.platform._cli_common import JsonOption, _state, emit, handle_errors
from mileage.platform.errors import ConfigError, DataError

train_app = typer.Typer(
    help="Train the meta-learner's models from the trace store.", no_args_is_help=True
)


@train_app.command("warmstart")
@handle_errors
def train_warmstart_command(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            metavar="DIR",
            help="Also write the model files (LightGBM text + JSON) here.",
        ),
    ] = None,
    min_configurations: Annotated[
        int,
        typer.Option(
            "--min-configurations",
            min=2,
            help="Leave out tasks with fewer LightGBM configurations.",
        ),
    ] = 5,
    as_json: JsonOption = False,
) -> None:
    """Train the warm-start ranker on every scored LightGBM configuration in the trace store.

    Public meta-data (TabRepo), OpenML runs and in-house MLflow runs tagged with their
    dataset's meta-features all count. The model is kept in the trace store.
    Example: mileage train warmstart --json
    """
    from mileage.metalearner.service import train_warmstart

    report = _state(ctx).call(train_warmstart, min_configurations=min_configurations, output=output)
    data = report.to_dict()

    def human() -> None:
        sources = ", ".join(f"{s}: {n}" for s, n in sorted(data["tasks_by_source"].items()))
        typer.echo(
            f"warm-start model {data['model_id']} trained on {data['tasks']} tasks ({sources}), "
            f"{data['configurations']} configurations, {data['scores']} scores in {data['seconds']:.1f}s"
        )
        for why, n in sorted(data["skipped"].items()):
            typer.echo(f"left out: {n} x {why}", err=True)
        for path in data["output"]:
            typer.echo(f"wrote {path}")

    emit(data, as_json, human)


@handle_errors
def warmstart(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Argument(metavar="[DATA.csv]", help="The dataset (CSV with a header row)."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", metavar="COL", help="Column to predict (with DATA.csv)."),
    ] = None,
    meta_features: Annotated[
        Path | None,
        typer.Option(
            "--meta-features",
            metavar="FILE.json",
            help='OpenML qualities (NumberOfInstances, ...) plus "problem_type" instead of data.',
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="How many configurations.")] = 10,
    candidates: Annotated[
        str | None,
        typer.Option(
            "--candidates",
            metavar="SOURCE",
            help="Rank only this source's configurations (e.g. tabrepo-lightgbm); default: all the model knows.",
        ),
    ] = None,
    problem_type: Annotated[
        str | None,
        typer.Option(
            "--problem-type",
            help="binary, multiclass or regression (default: inferred from the target).",
        ),
    ] = None,
    model_dir: Annotated[
        Path | None,
        typer.Option(
            "--model",
            metavar="DIR",
            help="Use a model written by 'mileage train warmstart --output DIR'.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Rank LightGBM configurations to try first on a dataset, with their expected regret.

    Nothing runs: hand the list to your own search (mileage.metalearner.adapters has Optuna
    and FLAML adapters). Expected regret: normalised regret of the best of the first i
    configurations on similar training tasks (0 = as good as the best configuration known).
    Examples: mileage warmstart train.csv --target churn --k 5
              mileage warmstart --meta-features q.json --candidates tabrepo-lightgbm --k 5 --json
    """
    import json

    from mileage.metalearner.service import (
        configurations_document,
        load_warmstart,
        load_warmstart_dir,
        model_summary,
        recommend,
    )

    if (data is None) == (meta_features is None):
        raise ConfigError(
            "give either DATA.csv with --target, or --meta-features FILE.json (not both, not neither); "
            "see 'mileage warmstart --help'."
        )
    if data is not None:
        features, problem = _from_csv(data, target, problem_type)
    else:
        assert meta_features is not None
        features, problem = _from_json(meta_features)
    state = _state(ctx)
    store = state.store()
    try:
        loaded = load_warmstart_dir(model_dir) if model_dir else load_warmstart(store)
        recs = recommend(loaded, features, problem, k=k, candidates=candidates, store=store)
    finally:
        store.close()
    out: dict[str, Any] = {
        **configurations_document(recs),
        "problem_type": problem,
        "meta_features": features,
        "model": model_summary(loaded),
    }

    def human() -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(
            "rank",
            "configuration",
            "expected regret after 1..rank",
            "hyperparameters",
            title=f"configurations to try first ({problem}; model {loaded.model_id} trained on "
            f"{sum(out['model']['tasks_by_source'].values())} tasks)",
        )
        for r in recs:
            shown = ", ".join(
                f"{key}={v:.3g}" if isinstance(v, float) else f"{key}={v}"
                for key, v in r.params.items()
            )
            table.add_row(
                str(r.rank), r.name, f"{r.expected_regret:.3f}", shown or f"({r.learner} defaults)"
            )
        Console().print(table)

    if as_json:
        typer.echo(json.dumps(out, indent=2, allow_nan=False, default=str))
    else:
        emit(out, False, human)


def _from_csv(
    path: Path, target: str | None, problem_type: str | None
) -> tuple[dict[str, float], str]:
    import pandas as pd

    from mileage.metalearner.metafeatures import compute_meta_features

    if target is None:
        raise ConfigError(f"--target is required with {str(path)!r}: name the column to predict.")
    if not path.is_file():
        raise ConfigError(f"data file {str(path)!r} does not exist; pass a CSV file.")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{str(path)!r} is empty (no header, no rows); pass a CSV with a header row."
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{str(path)!r} is not a readable CSV file ({exc}).") from None
    return compute_meta_features(frame, target, problem_type=problem_type)


def _from_json(path: Path) -> tuple[dict[str, float], str]:
    import json

    from mileage.metalearner.metafeatures import meta_features_from_json

    if not path.is_file():
        raise ConfigError(f"meta-features file {str(path)!r} does not exist.")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"{str(path)!r} is not JSON ({exc}).") from None
    if not isinstance(document, dict):
        raise DataError(
            f"{str(path)!r} must hold a JSON object of OpenML qualities, got {type(document).__name__}."
        )
    return meta_features_from_json(document)
