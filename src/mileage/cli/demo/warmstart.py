"""Demo step: the warm-start ranker trained on the imported public traces (or, without
them, the embedded default), asked about a bundled dataset, and a short warm versus cold
Optuna comparison."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.table import Table

from mileage.platform.progress import RichProgress

if TYPE_CHECKING:
    from mileage.cli.demo._run import DemoContext

SPACE: dict[str, Any] = {
    "learning_rate": (0.001, 0.5),
    "num_leaves": (2, 256),
    "colsample_bytree": (0.1, 1.0),
    "min_child_samples": (1, 100),
    "extra_trees": [False, True],
}
SEEDS = 3
TRIALS = 5
#: Boosting rounds at most, and early-stopping patience on the validation split.
ROUNDS, PATIENCE = 1000, 20


def step_warmstart(ctx: DemoContext) -> None:
    """Train the warm-start ranker on the traces, rank configurations for scikit-learn's
    digits, and compare a warm-started Optuna study with a cold one."""
    from sklearn.datasets import load_digits

    from mileage.metalearner.metafeatures import compute_meta_features
    from mileage.metalearner.warmstart import (
        NoTrainingDataError,
        load_default,
        load_warmstart,
        recommend,
        train_warmstart,
    )

    try:
        report = train_warmstart(ctx.store)
    except NoTrainingDataError:
        loaded = load_default()
        ctx.console.print(
            "no public meta-data was imported (the shared reference data is absent), so the "
            f"warm start uses the {loaded.describe()}"
        )
    else:
        ctx.console.print(
            f"warm-start model trained on {report.tasks} tasks, {report.configurations} "
            f"configurations, {report.scores} scores in {report.seconds:.1f}s (kept in the "
            "trace store)"
        )
        loaded = load_warmstart(ctx.store, report.model_id)
    frame = load_digits(as_frame=True).frame
    features, problem = compute_meta_features(frame, "target")
    recs = recommend(loaded, features, problem, k=TRIALS)
    table = Table(
        "rank",
        "configuration",
        "expected regret after 1..rank",
        "hyperparameters",
        title=f"try these first on digits ({int(features['n_instances'])} rows, {problem})",
    )
    for r in recs:
        shown = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.params.items()
        )
        table.add_row(str(r.rank), r.name, f"{r.expected_regret:.3f}", shown)
    ctx.console.print(table)
    _warm_versus_cold(ctx, frame, recs)
    ctx.notes.append(
        ("rank configurations for your data", "mileage warmstart DATA.csv --target COL --k 10")
    )


def _objective(X: Any, y: Any, seed: int, space: Mapping[str, Any] = SPACE) -> Any:
    """Validation log loss of LightGBM with early stopping (as TabRepo's runs were scored)."""
    import lightgbm as lgb
    import optuna
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split

    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.4, random_state=seed, stratify=y)

    def objective(trial: optuna.Trial) -> float:
        params = {
            "learning_rate": trial.suggest_float(
                "learning_rate", *space["learning_rate"], log=True
            ),
            "num_leaves": trial.suggest_int("num_leaves", *space["num_leaves"], log=True),
            "colsample_bytree": trial.suggest_float("colsample_bytree", *space["colsample_bytree"]),
            "min_child_samples": trial.suggest_int(
                "min_child_samples", *space["min_child_samples"], log=True
            ),
            "extra_trees": trial.suggest_categorical("extra_trees", space["extra_trees"]),
        }
        model = lgb.LGBMClassifier(
            n_estimators=ROUNDS, n_jobs=1, verbose=-1, random_state=0, **params
        )
        model.fit(
            X_tr,
            y_tr,
            eval_X=(X_va,),
            eval_y=(y_va,),
            callbacks=[lgb.early_stopping(PATIENCE, verbose=False)],
        )
        return float(log_loss(y_va, model.predict_proba(X_va)))

    return objective


def _warm_versus_cold(ctx: DemoContext, frame: Any, recs: list[Any]) -> None:
    import numpy as np
    import optuna

    from mileage.metalearner.warmstart.adapters import enqueue_optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y = frame.drop(columns="target").to_numpy(), frame["target"].to_numpy()
    table = Table(
        "seed",
        "warm: best log loss",
        "cold: best log loss",
        title=f"Optuna, {TRIALS} trials each (validation log loss, lower is better)",
    )
    results: dict[str, list[float]] = {"warm": [], "cold": []}
    with RichProgress() as progress, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        progress.start("warm and cold Optuna studies", total=SEEDS * 2)
        for seed in range(SEEDS):
            objective = _objective(X, y, seed)

            for mode in ("warm", "cold"):
                study = optuna.create_study(
                    direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed)
                )
                if mode == "warm":
                    enqueue_optuna(study, recs, space=SPACE)  # queued only: optimize runs them
                study.optimize(objective, n_trials=TRIALS)
                results[mode].append(float(study.best_value))
                progress.advance()
        progress.finish()
    for seed in range(SEEDS):
        table.add_row(str(seed), f"{results['warm'][seed]:.4f}", f"{results['cold'][seed]:.4f}")
    warm, cold = float(np.mean(results["warm"])), float(np.mean(results["cold"]))
    table.add_row("mean", f"{warm:.4f}", f"{cold:.4f}")
    ctx.console.print(table)
    wins = sum(w < c for w, c in zip(results["warm"], results["cold"]))
    ctx.console.print(
        f"warm start {'better' if warm < cold else 'not better'} on average "
        f"({warm:.4f} vs {cold:.4f}; better on {wins} of {SEEDS} seeds, over a broad search "
        "space). A few seeds on one dataset only: docs/benchmarks.md has the "
        "leave-one-task-out figures on 93 tasks."
    )
