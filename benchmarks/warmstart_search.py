"""Warm-started search end to end: time to quality with real LightGBM training.

Twelve data sets that ship inside installed packages (scikit-learn, statsmodels,
vega_datasets; binary, multiclass, regression; 178 to 20,190 rows), several seeds each.
Every method tunes the same LightGBM search space with Optuna on the same train/validation
split (validation: 1 - AUC for binary, log loss for multiclass, RMSE for regression; at most
2,000 training rows, 200 boosting rounds with early stopping after 20, sized so the full run
finishes in about 45 minutes on 2 shared cores):

* ``random``: Optuna's RandomSampler;
* ``TPE cold``: Optuna's TPESampler;
* ``TPE + 5 enqueued``: the embedded default's 5 one-shot recommendations enqueued, then TPE;
* ``WarmStartSampler``: Mileage's adaptive sampler (embedded default, TPE after hand-over);
* ``FLAML zero-shot``: ``flaml.default``'s suggested LightGBM configuration as the first
  trial, then TPE (skipped, and said so, when ``flaml.default`` cannot be imported).

Score: normalised regret of the best validation error after 1, 3, 5, 10, 20, 50 trials,
``(best so far - best any method found) / (worst - best)`` per data set and seed (HPO-B's
normalisation), and wall time until within 1% of the best any method found. LightGBM's
default configuration is also scored once per data set and seed, against the first
recommendation. The targets (``WarmStartSampler`` reaches cold TPE's mean regret after 5 and
10 trials in at most half as many trials; beats FLAML's zero-shot start at 10 trials; its first
recommendation no worse on average than LightGBM's default) are checked and written out, met
or not.

    nice -n 10 python benchmarks/warmstart_search.py --workers 2   # 12 data sets x 3 seeds x 50 trials
    nice -n 10 python benchmarks/warmstart_search.py --quick       # 3 data sets x 1 seed x 10 trials

Prints tables, states the machine, writes ``benchmarks/results/warmstart_search.json`` and
the plot ``benchmarks/results/warmstart_search.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS, machine, machine_line, table, write_results

TRIAL_MARKS = (1, 3, 5, 10, 20, 50)
MAX_ROWS, ROUNDS, PATIENCE = 2000, 200, 20


def datasets() -> dict[str, Callable[[], tuple[Any, str]]]:
    """Name -> loader of ``(frame with a 'target' column, problem type)``."""
    import pandas as pd

    def sk(name: str, problem: str) -> Callable[[], tuple[Any, str]]:
        def load() -> tuple[Any, str]:
            import sklearn.datasets as skd

            return getattr(skd, f"load_{name}")(as_frame=True).frame, problem

        return load

    def fair(kind: str) -> tuple[Any, str]:
        import statsmodels.api as sm

        d = sm.datasets.fair.load_pandas().data
        if kind == "binary":
            return d.assign(target=(d.pop("affairs") > 0).astype(int)), "binary"
        return d.drop(columns="affairs").assign(target=d["rate_marriage"].astype(int)).drop(
            columns="rate_marriage"
        ), "multiclass"

    def randhie(kind: str) -> tuple[Any, str]:
        import statsmodels.api as sm

        d = sm.datasets.randhie.load_pandas().data
        y = d.pop("mdvis")
        if kind == "binary":
            return d.assign(target=(y > 0).astype(int)), "binary"
        return d.assign(target=np.log1p(y)), "regression"

    def weather() -> tuple[Any, str]:
        from vega_datasets import local_data

        d = local_data.seattle_weather()
        date = pd.to_datetime(d.pop("date"))
        d["doy"], d["year"] = date.dt.dayofyear, date.dt.year
        return d.assign(target=d.pop("weather").astype("category").cat.codes), "multiclass"

    def temps(name: str) -> tuple[Any, str]:
        from vega_datasets import local_data

        d = getattr(local_data, name)()
        date = pd.to_datetime(d.pop("date"))
        frame = pd.DataFrame(
            {"hour": date.dt.hour, "doy": date.dt.dayofyear, "weekday": date.dt.weekday}
        )
        return frame.assign(target=d["temp"].to_numpy()), "regression"

    def cars() -> tuple[Any, str]:
        from vega_datasets import local_data

        d = local_data.cars().dropna(subset=["Miles_per_Gallon"])
        d = d.drop(columns=["Name", "Year"]).assign(
            Origin=lambda f: f["Origin"].astype("category").cat.codes
        )
        return d.assign(target=d.pop("Miles_per_Gallon")), "regression"

    return {
        "breast_cancer": sk("breast_cancer", "binary"),
        "digits": sk("digits", "multiclass"),
        "wine": sk("wine", "multiclass"),
        "diabetes": sk("diabetes", "regression"),
        "fair-affairs": lambda: fair("binary"),
        "fair-marriage": lambda: fair("multiclass"),
        "randhie-any-visit": lambda: randhie("binary"),
        "randhie-visits": lambda: randhie("regression"),
        "seattle-weather": weather,
        "seattle-temps": lambda: temps("seattle_temps"),
        "sf-temps": lambda: temps("sf_temps"),
        "cars-mpg": cars,
    }


def make_objective(
    frame: Any, problem: str, seed: int, rounds: int = ROUNDS
) -> tuple[Callable[..., float], Any]:
    """Validation error of LightGBM for a trial, and a function scoring a params dict."""
    import lightgbm as lgb
    from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score
    from sklearn.model_selection import train_test_split

    X = frame.drop(columns="target").to_numpy(dtype=float)
    y = frame["target"].to_numpy()
    strat = y if problem != "regression" else None
    X_tr, X_va, y_tr, y_va = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=strat
    )
    if len(X_tr) > MAX_ROWS:
        X_tr, y_tr = X_tr[:MAX_ROWS], y_tr[:MAX_ROWS]

    def score(params: dict[str, Any]) -> float:
        cls = lgb.LGBMRegressor if problem == "regression" else lgb.LGBMClassifier
        model = cls(n_estimators=rounds, n_jobs=1, verbose=-1, random_state=seed, **params)
        model.fit(
            X_tr,
            y_tr,
            eval_set=[(X_va, y_va)],
            callbacks=[lgb.early_stopping(PATIENCE, verbose=False)],
        )
        if problem == "regression":
            return float(np.sqrt(mean_squared_error(y_va, model.predict(X_va))))
        proba = np.asarray(model.predict_proba(X_va))
        if problem == "binary":
            return float(1.0 - roc_auc_score(y_va, proba[:, 1]))
        return float(log_loss(y_va, proba, labels=model.classes_))

    def objective(trial: Any) -> float:
        return score(
            {
                "learning_rate": trial.suggest_float("learning_rate", 0.005, 0.3, log=True),
                "num_leaves": trial.suggest_int("num_leaves", 4, 256, log=True),
                "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
                "min_child_samples": trial.suggest_int("min_child_samples", 2, 100, log=True),
                "extra_trees": trial.suggest_categorical("extra_trees", [False, True]),
            }
        )

    return objective, score


SPACE: dict[str, Any] = {
    "learning_rate": (0.005, 0.3),
    "num_leaves": (4, 256),
    "colsample_bytree": (0.3, 1.0),
    "min_child_samples": (2, 100),
    "extra_trees": [False, True],
}


def flaml_suggestion(frame: Any, problem: str) -> dict[str, Any] | None:
    """FLAML's zero-shot LightGBM configuration, restricted to the search space."""
    from flaml.default import preprocess_and_suggest_hyperparams  # type: ignore[attr-defined]

    task = "regression" if problem == "regression" else "classification"
    X = frame.drop(columns="target")
    hyperparams, *_ = preprocess_and_suggest_hyperparams(task, X, frame["target"], "lgbm")
    point = {k: v for k, v in hyperparams.items() if k in SPACE}
    for key, (low, high) in ((k, v) for k, v in SPACE.items() if isinstance(v, tuple)):
        if key in point:
            point[key] = type(low)(min(max(point[key], low), high))
    return point


def run_method(
    method: str, frame: Any, problem: str, seed: int, n_trials: int, recs: Any, rounds: int
) -> Any:
    """Validation errors and wall times of one study."""
    import optuna

    from mileage.metalearner import WarmStartSampler, compute_meta_features
    from mileage.metalearner.warmstart.adapters import enqueue_optuna

    objective, _ = make_objective(frame, problem, seed, rounds)
    if method == "random":
        sampler: Any = optuna.samplers.RandomSampler(seed=seed)
    elif method == "WarmStartSampler":
        features, _ = compute_meta_features(frame, "target", problem_type=problem)
        sampler = WarmStartSampler(features, problem, seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(sampler=sampler)
    if method == "TPE + 5 enqueued":
        enqueue_optuna(study, recs, space=SPACE)
    if method == "FLAML zero-shot":
        point = flaml_suggestion(frame, problem)
        if point:
            study.enqueue_trial(point)
    started = time.perf_counter()
    stamps: list[float] = []
    study.optimize(
        objective,
        n_trials=n_trials,
        callbacks=[lambda s, t: stamps.append(time.perf_counter() - started)],
    )
    values = [t.value if t.value is not None else np.inf for t in study.trials]
    return np.asarray(values, dtype=float), np.asarray(stamps)


def run_cell(
    name: str, seed: int, n_trials: int, methods: list[str], rounds: int
) -> dict[str, Any]:
    """Every method on one data set and seed (one process-pool job)."""
    import optuna

    from mileage.metalearner import compute_meta_features
    from mileage.metalearner.warmstart import load_default, recommend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    frame, problem = datasets()[name]()
    features, _ = compute_meta_features(frame, "target", problem_type=problem)
    recs = recommend(load_default(), features, problem, k=5)
    started = time.process_time()
    runs = {m: run_method(m, frame, problem, seed, n_trials, recs, rounds) for m in methods}
    _, score = make_objective(frame, problem, seed, rounds)
    return {
        "dataset": name,
        "problem_type": problem,
        "rows": len(frame),
        "columns": frame.shape[1] - 1,
        "seed": seed,
        "default_error": score({}),
        "runs": {m: (v.tolist(), s.tolist()) for m, (v, s) in runs.items()},
        "cpu_seconds": round(time.process_time() - started, 1),
    }


def trials_to_reach(curve: np.ndarray, level: float) -> float:
    """First trial count (1-based) at which a mean regret curve is at or below ``level``."""
    hit = np.flatnonzero(curve <= level + 1e-12)
    return float(hit[0] + 1) if hit.size else float("inf")


def run_cells(
    names: list[str],
    seeds: int,
    n_trials: int,
    methods: list[str],
    workers: int,
    started: float,
    rounds: int,
) -> list[dict[str, Any]]:
    """Every data set and seed, in ``workers`` processes (seed-major order)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    jobs = [(name, seed) for seed in range(seeds) for name in names]
    cells: list[dict[str, Any]] = []
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(run_cell, n, s, n_trials, methods, rounds) for n, s in jobs]
            for future in futures:
                cells.append(future.result())
                _progress(cells[-1], started)
    else:
        for n, s in jobs:
            cells.append(run_cell(n, s, n_trials, methods, rounds))
            _progress(cells[-1], started)
    return cells


def check_targets(
    mean_curve: dict[str, np.ndarray],
    curves: dict[str, list[np.ndarray]],
    relative: np.ndarray,
    n_trials: int,
) -> dict[str, Any]:
    """The end-to-end targets, measured: met or missed, with the figures."""
    targets: dict[str, Any] = {}
    for k in (5, 10):
        if k <= n_trials:
            level = float(mean_curve["TPE cold"][k - 1])
            needed = trials_to_reach(mean_curve["WarmStartSampler"], level)
            targets[f"half_trials_of_cold_tpe_at_{k}"] = {
                "cold_tpe_mean_regret": round(level, 4),
                "warmstart_trials_to_reach_it": needed,
                "target_trials": k / 2,
                "met": bool(needed <= k / 2),
            }
    if "FLAML zero-shot" in curves and n_trials >= 10:
        ours = np.array([c[9] for c in curves["WarmStartSampler"]])
        theirs = np.array([c[9] for c in curves["FLAML zero-shot"]])
        targets["beats_flaml_zero_shot_at_10"] = {
            "warmstart_mean_regret": round(float(ours.mean()), 4),
            "flaml_mean_regret": round(float(theirs.mean()), 4),
            "warmstart_better_on": int((ours < theirs).sum()),
            "flaml_better_on": int((ours > theirs).sum()),
            "met": bool(ours.mean() < theirs.mean()),
        }
    targets["first_recommendation_not_worse_than_default"] = {
        "mean_relative_difference": round(float(relative.mean()), 4),
        "met": bool(relative.mean() <= 0),
    }
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 data sets x 1 seed x 10 trials")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="boosting rounds at most")
    parser.add_argument(
        "--tag", default="", help="suffix of the results' file names (a run with other sizes)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes, one data set and seed each"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    loaders = datasets()
    names = ["breast_cancer", "fair-marriage", "seattle-temps"] if args.quick else list(loaders)
    seeds = 1 if args.quick else args.seeds
    n_trials = 10 if args.quick else args.trials
    marks = [m for m in TRIAL_MARKS if m <= n_trials]
    methods = ["random", "TPE cold", "TPE + 5 enqueued", "WarmStartSampler", "FLAML zero-shot"]
    try:
        import flaml.default  # noqa: F401
    except ImportError as exc:
        methods.remove("FLAML zero-shot")
        flaml_note = (
            f"FLAML zero-shot skipped: flaml.default cannot be imported ({exc}); "
            "it needs flaml[automl] (xgboost)"
        )
    else:
        flaml_note = ""
    info = machine()
    started = time.perf_counter()
    cells = run_cells(names, seeds, n_trials, methods, args.workers, started, args.rounds)
    curves: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    to_quality: dict[str, list[float]] = {m: [] for m in methods}
    first_vs_default: list[tuple[float, float]] = []
    rows: list[dict[str, Any]] = []
    for cell in cells:
        runs = {
            m: (np.asarray(v, dtype=float), np.asarray(t)) for m, (v, t) in cell["runs"].items()
        }
        allv = np.concatenate([v[np.isfinite(v)] for v, _ in runs.values()])
        best, worst = float(allv.min()), float(allv.max())
        span = worst - best if worst > best else 1.0
        for m, (values, stamps) in runs.items():
            curve = np.minimum.accumulate(values)
            curves[m].append((curve - best) / span)
            hit = np.flatnonzero(curve <= best + 0.01 * abs(best))
            to_quality[m].append(float(stamps[hit[0]]) if hit.size else float("inf"))
        first = float(runs["WarmStartSampler"][0][0])
        first_vs_default.append((first, float(cell["default_error"])))
        rows.append(
            {
                **{k: cell[k] for k in ("dataset", "problem_type", "rows", "columns", "seed")},
                "best": best,
                "default_error": cell["default_error"],
                "first_recommendation_error": first,
                "best_by_method": {m: float(np.min(v)) for m, (v, _) in runs.items()},
                "cpu_seconds": cell["cpu_seconds"],
            }
        )
    mean_curve = {m: np.mean(curves[m], axis=0) for m in methods}
    summary = {
        m: {
            "mean_regret": [round(float(mean_curve[m][k - 1]), 4) for k in marks],
            "mean_regret_every_trial": mean_curve[m].round(4).tolist(),
            "median_seconds_to_1pct": float(np.median(to_quality[m])),
            "reached_1pct": float(np.mean(np.isfinite(to_quality[m]))),
        }
        for m in methods
    }
    fv = np.array(first_vs_default)
    relative = (fv[:, 0] - fv[:, 1]) / np.abs(fv[:, 1]).clip(1e-12)
    targets = check_targets(mean_curve, curves, relative, n_trials)
    report: dict[str, Any] = {
        "trial_marks": marks,
        "methods": summary,
        "first_recommendation_vs_default": {
            "mean_relative_difference": round(float(relative.mean()), 4),
            "first_better_on": int((fv[:, 0] < fv[:, 1]).sum()),
            "first_worse_on": int((fv[:, 0] > fv[:, 1]).sum()),
            "note": "relative difference of validation error, (first - default) / |default|, "
            "averaged over data sets and seeds; negative: the first recommendation is better",
        },
        "targets": targets,
        "runs": rows,
        "datasets": names,
        "seeds": seeds,
        "trials": n_trials,
        "sizes": {
            "max_training_rows": MAX_ROWS,
            "boosting_rounds": args.rounds,
            "early_stopping_patience": PATIENCE,
            "validation_fraction": 0.25,
            "workers": args.workers,
        },
        "quick": bool(args.quick),
        "notes": [n for n in (flaml_note,) if n],
        "machine": info,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(
        table(
            ["method", *(f"regret@{k}" for k in marks), "median s to 1%", "reached 1%"],
            [
                [
                    m,
                    *(f"{v:.3f}" for v in s["mean_regret"]),
                    f"{s['median_seconds_to_1pct']:.1f}",
                    f"{s['reached_1pct']:.0%}",
                ]
                for m, s in summary.items()
            ],
        )
    )
    print(
        f"\nfirst recommendation vs LightGBM default: {report['first_recommendation_vs_default']}"
    )
    for key, value in targets.items():
        print(f"target {key}: {value}")
    for note in report["notes"]:
        print(note)
    print(
        f"{len(names)} data sets x {seeds} seeds x {n_trials} trials (at most {MAX_ROWS} "
        f"training rows, {args.rounds} rounds); {report['seconds']}s"
    )
    print(machine_line(info))
    name = "warmstart_search_quick" if args.quick else "warmstart_search" + args.tag
    plot(report, RESULTS / f"{name}.png")
    print(f"wrote {write_results(name, report)}")


def _progress(cell: dict[str, Any], started: float) -> None:
    best = min(min(v) for v, _ in cell["runs"].values())
    print(
        f"{cell['dataset']} seed {cell['seed']}: best {best:.4f} ({cell['cpu_seconds']}s CPU, "
        f"{time.perf_counter() - started:.0f}s elapsed)",
        flush=True,
    )


def plot(report: dict[str, Any], path: Path) -> None:
    """Mean normalised regret against trials for every method (PNG, HPO-B style)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt

    marks = report["trial_marks"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, m in report["methods"].items():
        ours = name == "WarmStartSampler"
        curve = m["mean_regret_every_trial"]
        ax.plot(
            range(1, len(curve) + 1),
            curve,
            label=name,
            linewidth=2.5 if ours else 1.5,
            color="black" if ours else None,
        )
    ax.set_xscale("log")
    ax.set_xticks(marks, [str(k) for k in marks])
    ax.set_xlabel("trials")
    ax.set_ylabel("mean normalised regret of the best so far")
    ax.set_title(
        f"LightGBM on {len(report['datasets'])} data sets x {report['seeds']} seeds"
        + (" (quick)" if report["quick"] else "")
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
