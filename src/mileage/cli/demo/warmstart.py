"""Demo step: the warm-start ranker trained on the imported public traces (or, without
them, the embedded default), asked about a bundled dataset, and a short race of Optuna's
cold TPE against :class:`~mileage.metalearner.warmstart.WarmStartSampler` (which starts from
the same model and re-weights its training tasks after every trial)."""

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
#: Recommendations shown, and trials of each study in the race.
TRIALS = 5
#: Trial counts at which the race reports the best value so far.
MARKS = (1, 3, 5)
#: Boosting rounds at most, and early-stopping patience on the validation split.
ROUNDS, PATIENCE = 1000, 20


def step_warmstart(ctx: DemoContext) -> None:
    """Train the warm-start ranker on the traces, rank configurations for scikit-learn's
    digits, and race cold TPE against ``WarmStartSampler`` on it."""
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
    _warm_versus_cold(ctx, frame, features, problem, loaded)
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


def _warm_versus_cold(
    ctx: DemoContext, frame: Any, features: Mapping[str, Any], problem: str, loaded: Any
) -> None:
    """Race cold TPE against ``WarmStartSampler`` (same seeds, objective and trial budget)."""
    import numpy as np
    import optuna

    from mileage.metalearner.warmstart import WarmStartSampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y = frame.drop(columns="target").to_numpy(), frame["target"].to_numpy()
    marks = [m for m in MARKS if m <= TRIALS]
    modes = ("WarmStartSampler", "cold TPE")
    curves: dict[str, list[np.ndarray]] = {m: [] for m in modes}
    with RichProgress() as progress, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        progress.start("cold TPE versus WarmStartSampler", total=SEEDS * 2)
        for seed in range(SEEDS):
            objective = _objective(X, y, seed)
            for mode in modes:
                sampler: optuna.samplers.BaseSampler = (
                    WarmStartSampler(features, problem, model=loaded, seed=seed)
                    if mode == "WarmStartSampler"
                    else optuna.samplers.TPESampler(seed=seed)
                )
                study = optuna.create_study(direction="minimize", sampler=sampler)
                study.optimize(objective, n_trials=TRIALS)
                values = [t.value if t.value is not None else np.inf for t in study.trials]
                curves[mode].append(np.minimum.accumulate(np.asarray(values, dtype=float)))
                progress.advance()
        progress.finish()
    table = Table(
        "seed",
        *(f"{mode}: best after {', '.join(map(str, marks))}" for mode in modes),
        title=(
            f"Optuna race on digits, {TRIALS} trials each (validation log loss of the best "
            "trial so far, lower is better)"
        ),
    )
    for seed in range(SEEDS):
        table.add_row(
            str(seed),
            *(" / ".join(f"{curves[m][seed][k - 1]:.4f}" for k in marks) for m in modes),
        )
    mean = {m: np.mean(curves[m], axis=0) for m in modes}
    table.add_row("mean", *(" / ".join(f"{mean[m][k - 1]:.4f}" for k in marks) for m in modes))
    ctx.console.print(table)
    warm, cold = float(mean[modes[0]][-1]), float(mean[modes[1]][-1])
    wins = sum(w[-1] < c[-1] for w, c in zip(curves[modes[0]], curves[modes[1]]))
    reach = np.flatnonzero(mean[modes[0]] <= cold)
    reached = (
        f"it reached cold TPE's {TRIALS}-trial mean after {int(reach[0]) + 1} of {TRIALS} trials"
        if reach.size
        else f"it did not reach cold TPE's {TRIALS}-trial mean"
    )
    ctx.console.print(
        f"WarmStartSampler {'better' if warm < cold else 'not better'} after {TRIALS} trials on "
        f"average ({warm:.4f} vs {cold:.4f}; better on {wins} of {SEEDS} seeds); {reached}. "
        f"Model that answered: {loaded.describe()}. A few seeds on one dataset only: "
        "docs/benchmarks.md has the end-to-end race on 12 data sets and the "
        "leave-one-task-out figures."
    )
