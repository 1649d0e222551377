"""``mileage warmstart train|recommend``: the warm-start ranker and the configurations to try first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mileage.cli._common import (
    JsonOption,
    OutputOption,
    cli_state,
    emit,
    handle_errors,
    make_console,
)
from mileage.platform.errors import ConfigError, DataError


class _RecommendByDefault(TyperGroup):
    """``mileage warmstart DATA.csv ...`` is ``mileage warmstart recommend DATA.csv ...``."""

    def _routed(self, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            return ["recommend", *args]
        return args

    def parse_args(self, ctx: Any, args: list[str]) -> Any:
        return super().parse_args(ctx, self._routed(args))

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        return super().resolve_command(ctx, self._routed(args))


warmstart_app = typer.Typer(
    cls=_RecommendByDefault,
    help="Configurations to try first on a new dataset, and the ranker that picks them.",
    no_args_is_help=True,
)
# Old spelling, kept for one release: "mileage train warmstart".
train_app = typer.Typer(help="Train the meta-learner's models (old spelling).", hidden=True)


@handle_errors
def train_warmstart_command(
    ctx: typer.Context,
    model_dir: Annotated[
        Path | None,
        typer.Option(
            "--model-dir",
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
    output: OutputOption = None,
) -> None:
    """Train the warm-start ranker on every scored LightGBM configuration in the trace store.

    Public meta-data (TabRepo), OpenML runs and in-house MLflow runs tagged with their
    dataset's meta-features all count. The model is kept in the trace store.
    Example: mileage warmstart train --json
    """
    from mileage.metalearner.warmstart import train_warmstart

    state = cli_state(ctx)
    with state.cluster("warmstart train on Dask") as client:
        report = state.call(
            train_warmstart,
            min_configurations=min_configurations,
            output=model_dir,
            client=client,
            table_folder=None if client is None else state.settings().home / "warmstart-table",
        )
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
            help="Use a model written by 'mileage warmstart train --model-dir DIR'.",
        ),
    ] = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
) -> None:
    """Rank LightGBM configurations to try first on a dataset, with their expected regret.

    Answered by the trace store's newest model, else by one trained now from the store's
    traces, else by the embedded default (TabRepo's LightGBM matrix); the output says which.
    Nothing runs: hand the list to your own search (mileage.metalearner.warmstart.adapters has Optuna
    and FLAML adapters). Expected regret: normalised regret of the best of the first i
    configurations on similar training tasks (0 = as good as the best configuration known).
    Examples: mileage warmstart train.csv --target churn --k 5
              mileage warmstart --meta-features q.json --candidates tabrepo-lightgbm --k 5 --json
    """
    import json

    from mileage.metalearner.warmstart import (
        configurations_document,
        load_warmstart_dir,
        model_summary,
        recommend,
        resolve_warmstart,
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
    state = cli_state(ctx)
    with state.store() as store:
        loaded = load_warmstart_dir(model_dir) if model_dir else resolve_warmstart(store)
        recs = recommend(loaded, features, problem, k=k, candidates=candidates, store=store)
    out: dict[str, Any] = {
        **configurations_document(recs),
        "problem_type": problem,
        "meta_features": features,
        "model": model_summary(loaded),
    }

    def human() -> None:
        from rich.table import Table

        table = Table(
            "rank",
            "configuration",
            "expected regret after 1..rank",
            "hyperparameters",
            title=f"configurations to try first ({problem})",
            caption=f"answered by: {loaded.describe()}",
        )
        for r in recs:
            shown = ", ".join(
                f"{key}={v:.3g}" if isinstance(v, float) else f"{key}={v}"
                for key, v in r.params.items()
            )
            table.add_row(
                str(r.rank), r.name, f"{r.expected_regret:.3f}", shown or f"({r.learner} defaults)"
            )
        make_console().print(table)

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


def build_default_files(data: Path) -> dict[str, str]:
    """The embedded default's model files rebuilt from a TabRepo LightGBM folder.

    TabRepo is imported into a temporary SQLite store by the metadata collector and read
    back as ``mileage warmstart train`` reads it, so the artefact sees exactly what a user's
    own model would.
    """
    import tempfile

    from mileage.collectors.metadata import import_metadata
    from mileage.metalearner.warmstart import DEFAULT_SOURCE, read_traces
    from mileage.metalearner.warmstart import build_default_files as build
    from mileage.platform.store import TraceStore

    with tempfile.TemporaryDirectory(prefix="mileage-default-") as tmp:
        store = TraceStore.open(f"sqlite:///{Path(tmp) / 'trace.db'}")
        try:
            import_metadata(store, str(DEFAULT_SOURCE["name"]), data)
            traces = read_traces(store)
        finally:
            store.close()
    return build(traces)


@handle_errors
def build_default_command(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            metavar="DIR",
            help="TabRepo's LightGBM folder (lightgbm_results_ranked_by_dataset_valid.csv, ...).",
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            metavar="DIR",
            help="Where to write the files (default: the package's embedded default folder).",
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Only compare with the files in --output; exit 1 if they differ."
        ),
    ] = False,
) -> None:
    """Rebuild the embedded default warm-start model from TabRepo's LightGBM matrix.

    Deterministic (one thread, fixed seeds, sorted JSON): the same data gives the same bytes.
    Example: mileage warmstart build-default --data ../shared/data/tabrepo-lightgbm
    """
    from mileage.metalearner.warmstart import DEFAULT_DIR

    if not (data / "lightgbm_results_ranked_by_dataset_valid.csv").is_file():
        raise ConfigError(
            f"--data {str(data)!r} does not hold TabRepo's lightgbm_results_ranked_by_dataset_valid.csv; "
            "pass the tabrepo-lightgbm folder."
        )
    target = output or DEFAULT_DIR
    files = build_default_files(data)
    if check:
        differ = [
            name
            for name, text in sorted(files.items())
            if not (target / name).is_file() or (target / name).read_text(encoding="utf-8") != text
        ]
        if differ:
            typer.echo(f"{target}: {', '.join(differ)} differ from a rebuild", err=True)
            raise typer.Exit(1)
        typer.echo(f"{target}: identical to a rebuild ({len(files)} files)")
        return
    target.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(files.items()):
        (target / name).write_text(text, encoding="utf-8")
    size = sum(len(t.encode()) for t in files.values())
    typer.echo(f"wrote {len(files)} files ({size / 1e6:.2f} MB) to {target}")


warmstart_app.command("train")(train_warmstart_command)
warmstart_app.command("build-default")(build_default_command)
warmstart_app.command("recommend")(warmstart)
train_app.command("warmstart", hidden=True)(train_warmstart_command)
