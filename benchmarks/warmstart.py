"""R8: warm-started search on TabRepo's complete LightGBM matrix, leave-one-task-out.

TabRepo evaluated 104 LightGBM configurations on 93 OpenML tasks (38 binary, 24 multiclass,
31 regression). The table is imported into a temporary trace store with Mileage's collector
and read back with the meta-learner's reader, as ``mileage warmstart train`` reads it. Each
task in turn is held out: every method is refitted on the other 92 tasks (models, scalers,
portfolios) and sees only the held-out task's meta-features and problem type. The score is
the normalised regret of the best of the first k configurations it proposes (per task,
``(error - best) / (worst - best)`` over the 104 configurations).

Methods: the default configuration (``LightGBM_c1``, then the average-rank order), random
order (exact expectation), average-rank order, an auto-sklearn 2.0 style greedy portfolio, a
FLAML zero-shot style nearest-neighbour method, a pointwise ``LGBMRanker`` (lambdarank) over
meta-features x configuration features, and Mileage's ``WarmStartRanker``. A diagnostic row
("oracle similarity") weights training tasks by their true agreement with the held-out task:
it uses the held-out task's results, so it is not a method, only a bound on what task
similarity can buy.

    python benchmarks/warmstart.py            # about 5 minutes on 2 busy cores
    python benchmarks/warmstart.py --quick    # smoke run: 20 tasks, 15 held out, no LGBMRanker

The paired tests of ours (one-shot and adaptive) against the per-type portfolio are in the
printed tables and the JSON (``wilcoxon``).

Prints a table, states the machine, writes ``benchmarks/results/warmstart.json`` and the plot
``benchmarks/results/warmstart.png`` (``warmstart_quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

# The repository root, so that `python benchmarks/<name>.py` finds the `benchmarks` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS, machine, table, write_results
from mileage.collectors.metadata import import_metadata
from mileage.metalearner.warmstart import evaluation as ev
from mileage.metalearner.warmstart._adaptive import DEFAULT_TEMPERATURE
from mileage.metalearner.warmstart._ranker import (
    WarmStartRanker,
    greedy_portfolio,
    normalized_regret,
)
from mileage.metalearner.warmstart._traces import read_traces
from mileage.platform.store import TraceStore
from mileage.testing import shared_data_dir

DEFAULT = "LightGBM_c1"
SOURCE = "tabrepo-lightgbm"


def load(path: Path) -> dict[str, Any]:
    """Import TabRepo into a temporary store and read the training table back."""
    with tempfile.TemporaryDirectory(prefix="mileage-bench-") as tmp:
        store = TraceStore.open(f"sqlite:///{Path(tmp) / 'trace.db'}")
        try:
            import_metadata(store, SOURCE, path)
            traces = read_traces(store)
        finally:
            store.close()
    X = traces.meta_matrix()
    names = [row["names"].get(SOURCE, key) for key, row in traces.configurations.iterrows()]
    features = traces.configurations[
        [c for c in traces.configurations.columns if c not in ("learner", "params", "names")]
    ]
    return {
        "X": X.to_numpy(),
        "meta_features": list(X.columns),
        "errors": traces.errors.to_numpy(dtype=float),
        "problem_types": traces.tasks["problem_type"].to_numpy(),
        "configurations": features.to_numpy(dtype=float),
        "names": names,
    }


def oracle_similarity(errors: np.ndarray, temperature: float = 0.1) -> np.ndarray:
    """Diagnostic: weights from the held-out task's true regret correlations (uses its results)."""
    regret = normalized_regret(errors)
    out = np.empty((len(errors), len(ev.KS)))
    for i in range(len(errors)):
        train = np.arange(len(errors)) != i
        corr = np.array([np.corrcoef(regret[i], regret[j])[0, 1] for j in np.flatnonzero(train)])
        order, _ = greedy_portfolio(regret[train], np.exp((corr - corr.max()) / temperature))
        out[i] = ev.regret_at(regret[i], order)
    return out


OURS_ONE_SHOT = "Mileage WarmStartRanker (one-shot)"
OURS_ADAPTIVE = "Mileage adaptive (WarmStartSampler, simulated)"
PER_TYPE = "greedy portfolio per problem type (auto-sklearn 2.0 / TabRepo style)"
#: ``type_blend`` values compared (the ranker's default is marked in the report).
BLENDS = (0.0, 0.5, 1.0)
#: AdaptivePortfolio temperatures compared.
TEMPERATURES = (0.25, 0.5, 1.0)


def run_ours(
    data: dict[str, Any],
    X: np.ndarray,
    E: np.ndarray,
    P: np.ndarray,
    C: np.ndarray,
    tasks: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One ranker fit per fold; one-shot orders for each blend, adaptive orders for each
    blend x temperature (the held-out errors revealed one proposed configuration at a time)."""
    import pandas as pd

    default_blend = WarmStartRanker().type_blend
    n = E.shape[1]
    out: dict[str, np.ndarray] = {}
    handed: dict[str, list[int]] = {}
    expected: list[np.ndarray] = []
    regret = normalized_regret(E)
    for i in tasks:
        fold = ev.holdout(X, E, P, C, int(i))
        frame = pd.DataFrame(fold.X, columns=data["meta_features"])
        # No configuration features: TabRepo's matrix is complete, so the surrogate (which only
        # fills unevaluated entries) would change nothing and cost most of the fit.
        model = WarmStartRanker().fit(frame, fold.errors)
        x = pd.DataFrame(fold.x, columns=data["meta_features"])
        for blend in BLENDS:
            model.type_blend = blend
            order, exp = model.recommend(x)
            name = f"one-shot, type_blend={blend}"
            out.setdefault(name, np.empty((len(tasks), len(ev.KS))))[i] = ev.regret_at(
                regret[i], order[0]
            )
            if blend == default_blend:
                expected.append(exp[0, [k - 1 for k in ev.KS]])
            prior = model.task_weights(x)[0]
            for temperature in TEMPERATURES:
                order_a, step = ev.adaptive_order(
                    fold, E[i], prior, max(ev.KS), temperature=temperature
                )
                key = f"adaptive, type_blend={blend}, temperature={temperature}"
                out.setdefault(key, np.empty((len(tasks), len(ev.KS))))[i] = ev.regret_at(
                    regret[i], order_a
                )
                handed.setdefault(key, []).append(step)
        if i % 10 == 0:
            print(f"  fold {i + 1}/{len(tasks)}", flush=True)
    assert n > 0
    extra = {
        "expected": np.array(expected),
        "hand_over_step_mean": {k: round(float(np.mean(v)), 1) for k, v in handed.items()},
        "default_blend": default_blend,
    }
    return out, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=shared_data_dir() / SOURCE)
    parser.add_argument("--skip-ranker", action="store_true", help="skip the LGBMRanker row")
    parser.add_argument(
        "--replot", action="store_true", help="only redraw the plot from results/warmstart.json"
    )
    parser.add_argument("--tasks", type=int, default=None, help="only the first N tasks")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: the first 20 tasks, the first 15 held out, no LGBMRanker row",
    )
    args = parser.parse_args()
    if args.quick:
        args.tasks = args.tasks or 20
    if args.replot:
        import json

        plot(json.loads((RESULTS / "warmstart.json").read_text()), RESULTS / "warmstart.png")
        return
    started = time.perf_counter()
    data = load(args.data)
    X, E, P, C = data["X"], data["errors"], data["problem_types"], data["configurations"]
    if args.tasks:
        X, E, P = X[: args.tasks], E[: args.tasks], P[: args.tasks]
    regret = normalized_regret(E)
    default = data["names"].index(DEFAULT)
    cols = [
        data["meta_features"].index(n)
        for n in ("log_n_instances", "log_n_features", "n_classes", "numeric_features_ratio")
    ]
    methods: dict[str, ev.Method] = {
        "default first (LightGBM_c1, then average rank)": ev.default_first(default),
        "average rank": ev.average_rank,
        "greedy portfolio, all problem types": ev.greedy_portfolio_method,
        PER_TYPE: ev.greedy_portfolio_per_type,
        "nearest neighbour (FLAML zero-shot style)": ev.nearest_neighbour(cols),
    }
    if not args.skip_ranker and not args.quick:
        methods["LGBMRanker, meta x config features"] = ev.lgbm_ranker()
    tasks = np.arange(15 if args.quick else len(X))
    results: dict[str, np.ndarray] = {
        "random order (expectation)": np.array([ev.random_regret(r) for r in regret])
    }
    seconds: dict[str, float] = {}
    for name, method in methods.items():
        t0 = time.perf_counter()
        results[name] = ev.leave_one_task_out(X, E, P, C, method)
        seconds[name] = time.perf_counter() - t0
        print(f"{name}: {seconds[name]:.1f}s", flush=True)
    t0 = time.perf_counter()
    variants, extra = run_ours(data, X, E, P, C, tasks)
    seconds["Mileage (all variants)"] = time.perf_counter() - t0
    if args.quick:  # baselines on the same held-out tasks as ours
        results = {k: v[tasks] for k, v in results.items()}
    blend = extra["default_blend"]
    results[OURS_ONE_SHOT] = variants[f"one-shot, type_blend={blend}"]
    results[OURS_ADAPTIVE] = variants[
        f"adaptive, type_blend={blend}, temperature={DEFAULT_TEMPERATURE}"
    ]
    diagnostic = oracle_similarity(E)[tasks]
    report = summarise(results, E[tasks], default, extra["expected"])
    report["variants"] = {k: v.mean(axis=0).round(4).tolist() for k, v in variants.items()}
    report["hand_over_step_mean"] = extra["hand_over_step_mean"]
    report["diagnostic_oracle_similarity"] = diagnostic.mean(axis=0).round(4).tolist()
    report["seconds_per_method"] = {k: round(v, 1) for k, v in seconds.items()}
    report["machine"] = machine()
    report["tasks"] = len(tasks)
    report["configurations"] = E.shape[1]
    report["meta_features"] = data["meta_features"]
    report["quick"] = bool(args.quick)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print_report(report)
    name = "warmstart_quick" if args.quick else "warmstart"
    plot(report, RESULTS / f"{name}.png")
    print(f"wrote {write_results('warmstart', report, quick=args.quick)}")


def summarise(
    results: dict[str, np.ndarray], errors: np.ndarray, default: int, expected: np.ndarray
) -> dict[str, Any]:
    """Mean regret, average rank, win rate against the default, and paired Wilcoxon tests
    of ours (one-shot and adaptive) against the per-type portfolio and the best baseline."""
    from scipy.stats import rankdata, wilcoxon

    ours = (OURS_ONE_SHOT, OURS_ADAPTIVE)
    baselines = [n for n in results if n not in ours and not n.startswith("LGBMRanker")]
    names = list(results)
    stacked = np.stack([results[n] for n in names])  # methods x tasks x ks
    ranks = np.apply_along_axis(rankdata, 0, stacked)  # rank methods per task and k
    regret = normalized_regret(errors)
    out: dict[str, Any] = {"ks": list(ev.KS), "methods": {}}
    for m, name in enumerate(names):
        wins = []
        for kk in range(len(ev.KS)):
            mine = results[name][:, kk]
            base = regret[:, default]
            wins.append(
                float(np.mean(np.where(mine < base, 1.0, np.where(mine == base, 0.5, 0.0))))
            )
        out["methods"][name] = {
            "mean_regret": results[name].mean(axis=0).round(4).tolist(),
            "average_rank": ranks[m].mean(axis=0).round(2).tolist(),
            "win_rate_vs_default": [round(w, 3) for w in wins],
        }
    tests = []
    for method in ours:
        for kk, k in enumerate(ev.KS):
            best = min(baselines, key=lambda n: results[n][:, kk].mean())
            for against in dict.fromkeys([PER_TYPE, best]):
                diff = results[method][:, kk] - results[against][:, kk]
                p = float(wilcoxon(diff, zero_method="zsplit").pvalue) if np.any(diff) else 1.0
                tests.append(
                    {
                        "method": method,
                        "k": k,
                        "against": against,
                        "mean_difference": round(float(diff.mean()), 4),
                        "p_value": round(p, 4),
                        "better_on": int((diff < 0).sum()),
                        "worse_on": int((diff > 0).sum()),
                    }
                )
    out["wilcoxon"] = tests
    out["expected_vs_realised"] = {
        "expected": expected.mean(axis=0).round(4).tolist(),
        "realised": results[OURS_ONE_SHOT].mean(axis=0).round(4).tolist(),
    }
    return out


def print_report(report: dict[str, Any]) -> None:
    ks = report["ks"]
    rows = []
    for name, m in report["methods"].items():
        rows.append(
            [
                name,
                *(f"{v:.3f}" for v in m["mean_regret"]),
                *(f"{v:.2f}" for v in m["average_rank"]),
                f"{m['win_rate_vs_default'][0]:.0%}",
            ]
        )
    rows.append(
        [
            "(diagnostic) oracle similarity, uses the held-out results",
            *(f"{v:.3f}" for v in report["diagnostic_oracle_similarity"]),
            *([""] * (len(ks) + 1)),
        ]
    )
    header = [
        "method",
        *(f"regret@{k}" for k in ks),
        *(f"rank@{k}" for k in ks),
        "win vs default@1",
    ]
    print(table(header, rows))
    print()
    print(
        table(
            ["method", "k", "against", "mean diff", "Wilcoxon p", "better on", "worse on"],
            [
                [
                    t["method"],
                    t["k"],
                    t["against"],
                    f"{t['mean_difference']:+.4f}",
                    t["p_value"],
                    t["better_on"],
                    t["worse_on"],
                ]
                for t in report["wilcoxon"]
            ],
        )
    )
    print()
    print(
        table(
            ["variant", *(f"regret@{k}" for k in ks), "hand-over step (mean)"],
            [
                [
                    name,
                    *(f"{v:.3f}" for v in values),
                    report["hand_over_step_mean"].get(name, ""),
                ]
                for name, values in report["variants"].items()
            ],
        )
    )
    cal = report["expected_vs_realised"]
    print(
        f"\nexpected regret reported by the ranker (calibrated in fit) vs realised, k={ks}: "
        f"{cal['expected']} vs {cal['realised']}"
    )
    mach = report["machine"]
    print(
        f"\n{report['tasks']} held-out tasks x {report['configurations']} configurations; "
        f"machine: {mach['cpu']}, {mach['cores']} cores shared with other jobs "
        f"(load {mach['load_average_at_start']}), Python {mach['python']}; {report['seconds']}s"
    )


def plot(report: dict[str, Any], path: Path) -> None:
    """Regret against k for every method (PNG)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt

    ks = report["ks"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, m in report["methods"].items():
        ours = name.startswith("Mileage")
        ax.plot(
            ks,
            m["mean_regret"],
            marker="o",
            label=name,
            linewidth=2.5 if ours else 1.5,
            color="black" if ours else None,
        )
    ax.plot(
        ks,
        report["diagnostic_oracle_similarity"],
        linestyle=":",
        color="grey",
        label="(diagnostic) oracle similarity",
    )
    ax.axhline(0.075, color="red", linewidth=0.6, linestyle="--", label="targets: 0.075 at k=5")
    ax.axhline(0.045, color="red", linewidth=0.6, linestyle="-.", label="0.045 at k=10")
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("configurations evaluated (k)")
    ax.set_ylabel("mean normalised regret (leave-one-task-out)")
    ax.set_title(
        f"TabRepo LightGBM: {report['tasks']} tasks x {report['configurations']} configurations"
    )
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
