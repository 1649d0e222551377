"""R8: warm-started search on TabRepo's complete LightGBM matrix, leave-one-task-out.

TabRepo evaluated 104 LightGBM configurations on 93 OpenML tasks (38 binary, 24 multiclass,
31 regression). The table is imported into a temporary trace store with Mileage's collector
and read back with the meta-learner's reader, as ``mileage train warmstart`` reads it. Each
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

Prints a table, states the machine, writes ``benchmarks/results/warmstart.json`` and the plot
``benchmarks/results/warmstart.png``.
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

from mileage.collectors.metadata import import_metadata
from mileage.metalearner import evaluation as ev
from mileage.metalearner.traces import read_traces
from mileage.metalearner.warmstart import WarmStartRanker, greedy_portfolio, normalized_regret
from mileage.platform.store import TraceStore
from mileage.testing import shared_data_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine, table, write_result

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=shared_data_dir() / SOURCE)
    parser.add_argument("--skip-ranker", action="store_true", help="skip the LGBMRanker row")
    parser.add_argument(
        "--replot", action="store_true", help="only redraw the plot from results/warmstart.json"
    )
    args = parser.parse_args()
    if args.replot:
        import json

        plot(json.loads((RESULTS / "warmstart.json").read_text()), RESULTS / "warmstart.png")
        return
    started = time.perf_counter()
    data = load(args.data)
    X, E, P, C = data["X"], data["errors"], data["problem_types"], data["configurations"]
    regret = normalized_regret(E)
    default = data["names"].index(DEFAULT)
    cols = [
        data["meta_features"].index(n)
        for n in ("log_n_instances", "log_n_features", "n_classes", "numeric_features_ratio")
    ]
    methods: dict[str, ev.Method] = {
        "default (LightGBM_c1)": ev.default_first(default),
        "average rank": ev.average_rank,
        "greedy portfolio (auto-sklearn 2.0 style)": ev.greedy_portfolio_method,
        "nearest neighbour (FLAML zero-shot style)": ev.nearest_neighbour(cols),
    }
    if not args.skip_ranker:
        methods["LGBMRanker, meta x config features"] = ev.lgbm_ranker()
    expected: list[np.ndarray] = []

    def ours(fold: ev.Fold) -> np.ndarray:
        model = WarmStartRanker().fit(fold.X, fold.errors, configurations=fold.configurations)
        order, exp = model.recommend(fold.x)
        expected.append(exp[0, [k - 1 for k in ev.KS]])
        return order[0]

    methods["Mileage WarmStartRanker"] = ours
    results: dict[str, np.ndarray] = {
        "random order (expectation)": np.array([ev.random_regret(r) for r in regret])
    }
    seconds: dict[str, float] = {}
    for name, method in methods.items():
        t0 = time.perf_counter()
        results[name] = ev.leave_one_task_out(X, E, P, C, method)
        seconds[name] = time.perf_counter() - t0
        print(f"{name}: {seconds[name]:.1f}s", flush=True)
    sensitivity: dict[str, list[float]] = {}
    for bandwidth in (0.3, 3.0, "auto"):
        variant = ev.warm_start_ranker(bandwidth=bandwidth)
        t0 = time.perf_counter()
        sensitivity[f"bandwidth={bandwidth}"] = (
            ev.leave_one_task_out(X, E, P, C, variant).mean(axis=0).round(4).tolist()
        )
        print(f"WarmStartRanker bandwidth={bandwidth}: {time.perf_counter() - t0:.1f}s", flush=True)
    diagnostic = oracle_similarity(E)
    report = summarise(results, E, default, np.array(expected))
    report["diagnostic_oracle_similarity"] = diagnostic.mean(axis=0).round(4).tolist()
    report["sensitivity_warmstart_ranker"] = {
        "bandwidth=1.0 (default)": report["methods"]["Mileage WarmStartRanker"]["mean_regret"],
        **sensitivity,
    }
    report["seconds_per_method"] = {k: round(v, 1) for k, v in seconds.items()}
    report["machine"] = machine()
    report["tasks"] = len(E)
    report["configurations"] = E.shape[1]
    report["meta_features"] = data["meta_features"]
    report["seconds"] = round(time.perf_counter() - started, 1)
    print_report(report)
    plot(report, RESULTS / "warmstart.png")
    print(f"wrote {write_result('warmstart', report)}")


def summarise(
    results: dict[str, np.ndarray], errors: np.ndarray, default: int, expected: np.ndarray
) -> dict[str, Any]:
    """Mean regret, average rank, Wilcoxon test against the best baseline, win rate."""
    from scipy.stats import rankdata, wilcoxon

    ours = "Mileage WarmStartRanker"
    baselines = [n for n in results if n != ours and not n.startswith("LGBMRanker")]
    names = list(results)
    stacked = np.stack([results[n] for n in names])  # methods x tasks x ks
    ranks = np.apply_along_axis(rankdata, 0, stacked)  # rank methods per task and k
    regret = normalized_regret(errors)
    out: dict[str, Any] = {"ks": list(ev.KS), "methods": {}}
    for m, name in enumerate(names):
        wins = []
        for kk in range(len(ev.KS)):
            ours_k = results[name][:, kk]
            base = regret[:, default]
            wins.append(
                float(np.mean(np.where(ours_k < base, 1.0, np.where(ours_k == base, 0.5, 0.0))))
            )
        out["methods"][name] = {
            "mean_regret": results[name].mean(axis=0).round(4).tolist(),
            "average_rank": ranks[m].mean(axis=0).round(2).tolist(),
            "win_rate_vs_default": [round(w, 3) for w in wins],
        }
    tests = []
    for kk, k in enumerate(ev.KS):
        best = min(baselines, key=lambda n: results[n][:, kk].mean())
        diff = results[ours][:, kk] - results[best][:, kk]
        p = float(wilcoxon(diff, zero_method="zsplit").pvalue) if np.any(diff) else 1.0
        tests.append(
            {
                "k": k,
                "best_baseline": best,
                "p_value": round(p, 4),
                "ours_better_on": int((diff < 0).sum()),
                "ours_worse_on": int((diff > 0).sum()),
            }
        )
    out["wilcoxon_vs_best_baseline"] = tests
    out["expected_vs_realised"] = {
        "expected": expected.mean(axis=0).round(4).tolist(),
        "realised": results[ours].mean(axis=0).round(4).tolist(),
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
                *(f"{v:.0%}" for v in m["win_rate_vs_default"][:1] + m["win_rate_vs_default"][2:3]),
            ]
        )
    rows.append(
        [
            "(diagnostic) oracle similarity, uses the held-out results",
            *(f"{v:.3f}" for v in report["diagnostic_oracle_similarity"]),
            *([""] * (len(ks) + 2)),
        ]
    )
    header = [
        "method",
        *(f"regret@{k}" for k in ks),
        *(f"rank@{k}" for k in ks),
        "win vs default@1",
        "win vs default@5",
    ]
    print(table(rows, header))
    print()
    print(
        table(
            [
                [t["k"], t["best_baseline"], t["p_value"], t["ours_better_on"], t["ours_worse_on"]]
                for t in report["wilcoxon_vs_best_baseline"]
            ],
            ["k", "best baseline", "Wilcoxon p", "tasks better", "tasks worse"],
        )
    )
    print()
    print(
        table(
            [
                [name, *(f"{v:.3f}" for v in values)]
                for name, values in report["sensitivity_warmstart_ranker"].items()
            ],
            ["WarmStartRanker variant", *(f"regret@{k}" for k in ks)],
        )
    )
    cal = report["expected_vs_realised"]
    print(
        f"\nexpected regret reported by the ranker (calibrated in fit) vs realised, k={ks}: "
        f"{cal['expected']} vs {cal['realised']}"
    )
    mach = report["machine"]
    print(
        f"\n{report['tasks']} tasks x {report['configurations']} configurations; "
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
    ax.axhline(0.06, color="red", linewidth=0.6, linestyle="--", label="targets: 0.06 at k=5")
    ax.axhline(0.015, color="red", linewidth=0.6, linestyle="-.", label="0.015 at k=25")
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
