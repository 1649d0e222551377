"""R8, end to end: does a warm-started Optuna study beat a cold one within 5 trials?

The warm-start ranker is trained on TabRepo's LightGBM table (imported into a temporary trace
store) and asked about scikit-learn's bundled datasets. For each seed, two Optuna studies
(TPE, seeded) tune ``LGBMClassifier`` for 5 trials on the same split: the warm one has the
ranker's top 5 configurations queued with ``study.enqueue_trial``, the cold one starts from
TPE's random start-up trials. Score: validation log loss with early stopping (the protocol of
``mileage demo``). Two search spaces: the demo's broad one, and one with a narrower learning
rate range (0.01 to 0.5), where random draws are rarely bad.

    python benchmarks/warmstart_optuna.py     # about 10 minutes on 2 busy cores

Prints a table, states the machine, writes ``benchmarks/results/warmstart_optuna.json``.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mileage.collectors.metadata import import_metadata
from mileage.metalearner.adapters import enqueue_optuna
from mileage.metalearner.metafeatures import compute_meta_features
from mileage.metalearner.service import load_warmstart, recommend, train_warmstart
from mileage.platform import _demo_warmstart as demo
from mileage.platform.store import TraceStore
from mileage.testing import shared_data_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, table, write_result

CASES = (  # dataset, seeds, space
    ("breast_cancer", 10, "broad"),
    ("wine", 10, "broad"),
    ("digits", 3, "broad"),
    ("digits", 3, "narrow learning rate"),
)


def main() -> None:
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
    for name, seeds, space_name in CASES:
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
                [
                    r["dataset"],
                    r["rows"],
                    r["space"],
                    r["seeds"],
                    f"{r['warm_mean']:.4f}",
                    f"{r['cold_mean']:.4f}",
                    f"{r['warm_better_on']} of {r['seeds']}",
                ]
                for r in rows
            ],
            [
                "dataset",
                "rows",
                "space",
                "seeds",
                "warm: best log loss in 5",
                "cold: best log loss in 5",
                "warm better on",
            ],
        )
    )
    mach = machine()
    print(
        f"\nmachine: {mach['cpu']}, {mach['cores']} cores shared with other jobs, Python {mach['python']}; "
        f"{time.perf_counter() - started:.0f}s"
    )
    print(f"wrote {write_result('warmstart_optuna', {'cases': rows, 'machine': mach})}")


if __name__ == "__main__":
    main()
