"""R8, end to end: does a warm-started Optuna study beat a cold one within 5 trials?

The warm-start ranker is trained on TabRepo's LightGBM table (imported into a temporary trace
store) and asked about scikit-learn's bundled datasets. For each seed, two Optuna studies
(TPE, seeded) tune ``LGBMClassifier`` for 5 trials on the same split: the warm one has the
ranker's top 5 configurations queued with ``study.enqueue_trial``, the cold one starts from
TPE's random start-up trials. Score: validation log loss with early stopping (the protocol of
``mileage demo``). Two search spaces: the demo's broad one, and one with a narrower learning
rate range (0.01 to 0.5), where random draws are rarely bad.

    python benchmarks/warmstart_optuna.py          # about 10 minutes on 2 busy cores
    python benchmarks/warmstart_optuna.py --quick  # smoke run: one seed on breast_cancer

The claim is the last column: on every case the warm studies' mean best log loss is lower than
the cold studies'.

Prints a table, states the machine, writes ``benchmarks/results/warmstart_optuna.json``
(``warmstart_optuna_quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

# The repository root, so that `python benchmarks/<name>.py` finds the `benchmarks` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, table, write_results
from mileage.cli.demo import warmstart as demo
from mileage.collectors.metadata import import_metadata
from mileage.metalearner.metafeatures import compute_meta_features
from mileage.metalearner.warmstart import (
    enqueue_optuna,
    load_warmstart,
    recommend,
    train_warmstart,
)
from mileage.platform.store import TraceStore
from mileage.testing import shared_data_dir

CASES = (  # dataset, seeds, space
    ("breast_cancer", 10, "broad"),
    ("wine", 10, "broad"),
    ("digits", 3, "broad"),
    ("digits", 3, "narrow learning rate"),
)
QUICK_CASES = (("breast_cancer", 1, "broad"),)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed on one dataset (smoke run)")
    args = parser.parse_args(argv)
    import optuna
    from sklearn import datasets

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mileage-bench-") as tmp:
        store = TraceStore.open(f"sqlite:///{Path(tmp) / 'trace.db'}")
        try:
            import_metadata(store, "tabrepo-lightgbm", shared_data_dir() / "tabrepo-lightgbm")
            train_warmstart(store)
            loaded = load_warmstart(store)
        finally:
            store.close()
    rows: list[dict[str, Any]] = []
    broad = dict(demo.SPACE)
    for name, seeds, space_name in QUICK_CASES if args.quick else CASES:
        space = broad if space_name == "broad" else {**broad, "learning_rate": (0.01, 0.5)}
        frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
        features, problem = compute_meta_features(frame, "target")
        recs = recommend(loaded, features, problem, k=5, candidates="tabrepo-lightgbm")
        X, y = frame.drop(columns="target").to_numpy(), frame["target"].to_numpy()
        best: dict[str, list[float]] = {"warm": [], "cold": []}
        t0 = time.perf_counter()
        for seed in range(seeds):
            objective = demo._objective(X, y, seed, space)
            for mode in ("warm", "cold"):
                study = optuna.create_study(
                    direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed)
                )
                if mode == "warm":
                    enqueue_optuna(study, recs, space=space)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    study.optimize(objective, n_trials=5)
                best[mode].append(float(study.best_value))
        rows.append(
            {
                "dataset": name,
                "rows": int(features["n_instances"]),
                "space": space_name,
                "seeds": seeds,
                "warm_mean": round(float(np.mean(best["warm"])), 4),
                "cold_mean": round(float(np.mean(best["cold"])), 4),
                "warm_better_on": int(sum(w < c for w, c in zip(best["warm"], best["cold"]))),
                "warm_mean_lower": bool(np.mean(best["warm"]) < np.mean(best["cold"])),
                "warm": [round(v, 4) for v in best["warm"]],
                "cold": [round(v, 4) for v in best["cold"]],
                "recommended": [r.name for r in recs],
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        print(f"{name} ({space_name}): {rows[-1]['seconds']}s", flush=True)
    print(
        table(
            [
                "dataset",
                "rows",
                "space",
                "seeds",
                "warm: best log loss in 5",
                "cold: best log loss in 5",
                "warm better on",
                "warm mean lower",
            ],
            [
                [
                    r["dataset"],
                    r["rows"],
                    r["space"],
                    r["seeds"],
                    f"{r['warm_mean']:.4f}",
                    f"{r['cold_mean']:.4f}",
                    f"{r['warm_better_on']} of {r['seeds']}",
                    "yes" if r["warm_mean_lower"] else "NO",
                ]
                for r in rows
            ],
        )
    )
    mach = machine()
    print(
        f"\nmachine: {mach['cpu']}, {mach['cores']} cores shared with other jobs, Python {mach['python']}; "
        f"{time.perf_counter() - started:.0f}s"
    )
    payload = {"benchmark": "warmstart_optuna", "quick": args.quick, "cases": rows, "machine": mach}
    print(f"wrote {write_results('warmstart_optuna', payload, quick=args.quick)}")


if __name__ == "__main__":
    main()
