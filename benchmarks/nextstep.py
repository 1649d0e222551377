"""Which operator changes next? Top-1/top-3 accuracy, split by chain, against three baselines.

Chains:

* **real**: the four real MLflow stores in ``../shared/data`` (agnias47: Optuna trials;
  peco602: Hyperopt XGBoost searches and scikit-learn model switches, an MLflow 1.26 SQLite
  database; stockquant and backtesting: short histories), collected with the MLflow
  collector into a temporary trace store and read back through the store. Their units are
  parameters; top-1 is scored on **modelling choices only**: bookkeeping parameters (seeds,
  ``n_jobs``/``verbose``, results logged as parameters, paths, timestamps, command lines)
  are left out of the chains for every predictor (``modelling_only``). The same chains with
  every parameter are shown for comparison.
* **executor**: chains recorded by Mileage's executor (``mileage.run``) on the ``fair``
  example: every run is real, but the changes are made by simulated users (synthetic).
* **synthetic**: chains from the documented generator, sweeping its change-type mix
  (data / preprocessing / model / hyperparameter shares).

Predictors: ``majority`` (the most often changed unit in training chains), ``repeat last``
(the units changed last time), ``markov`` (first-order Markov chain over changed units) and
``ours`` (LightGBM on chain features). Evaluation folds group whole chains: no chain has
rows on both sides. A step counts when the next iteration changes at least one unit; top-1
is correct when the best-ranked unit is among those changed. ``kept`` is the share of steps
whose lowest-ranked unit was indeed kept (what a cache needs); ``brier`` scores the
probabilities of ``majority``, ``markov`` and ``ours`` (``repeat last`` gives none).

Run: ``python benchmarks/nextstep.py`` (about two minutes; ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# The repository root, so that `python benchmarks/<name>.py` finds the `benchmarks` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, machine_line, table, write_results
from mileage.metalearner.examples import EXAMPLES
from mileage.metalearner.executor import SOURCE_KIND, run
from mileage.metalearner.materialize import DirectoryCache
from mileage.metalearner.nextstep import (
    Chain,
    ChangeMix,
    ChangePredictor,
    MajorityBaseline,
    MarkovBaseline,
    NextChangePredictor,
    RepeatLastBaseline,
    SimulatedUser,
    TopKResult,
    bookkeeping_units,
    evaluate,
    generate_chains,
    load_chains,
    modelling_only,
)
from mileage.platform.store import TraceStore
from mileage.testing import shared_data_dir

PREDICTORS: dict[str, Callable[[], ChangePredictor]] = {
    "majority": MajorityBaseline,
    "repeat last": RepeatLastBaseline,
    "markov": MarkovBaseline,
    "ours": NextChangePredictor,
}
MIXES = {
    "hyperparameter-heavy": ChangeMix(0.05, 0.30, 0.10, 0.55),
    "balanced": ChangeMix(0.25, 0.25, 0.25, 0.25),
    "preprocessing-heavy": ChangeMix(0.05, 0.60, 0.10, 0.25),
    "model-heavy": ChangeMix(0.05, 0.15, 0.50, 0.30),
}


#: The real MLflow stores: folder under ../shared/data and what to collect in it.
REAL_STORES = {
    "agnias47": ("mlflow-history-agnias47", "mlruns"),
    "peco602": ("mlflow-history-peco602", "mlflow.db"),
    "stockquant": ("mlflow-history-stockquant", "mlruns"),
    "backtesting": ("mlflow-history-backtesting", "mlruns"),
}


def real_chains(workdir: Path) -> dict[str, list[Chain]]:
    """The real MLflow histories, each collected into a trace store and read back."""
    from mileage.collectors.mlflow import MlflowCollector

    out: dict[str, list[Chain]] = {}
    for name, (folder, entry) in REAL_STORES.items():
        path = shared_data_dir() / folder / entry
        if not path.exists():
            raise SystemExit(
                f"reference data {str(path)!r} is missing; set MILEAGE_SHARED_DATA or place "
                "the shared data at ../shared/data"
            )
        uri = str(path)
        if entry.endswith(".db"):  # a private copy: the reader must never touch the original
            copy = workdir / f"{name}-mlflow.db"
            shutil.copyfile(path, copy)
            uri = f"sqlite:///{copy}"
        store = TraceStore.open(f"sqlite:///{workdir / f'{name}.db'}")
        try:
            MlflowCollector(uri).collect(store)
            out[name] = load_chains(store)
        finally:
            store.close()
    return out


def executor_chains(workdir: Path, n_users: int, length: int, seed: int) -> list[Chain]:
    """Chains recorded by the executor: simulated users iterate on the real ``fair`` example."""
    example = EXAMPLES["fair"]
    data = example.load()
    store = TraceStore.open(f"sqlite:///{workdir / 'executor.db'}")
    cache = DirectoryCache(workdir / "cache", budget_bytes=200_000_000)
    try:
        for u in range(n_users):
            user = SimulatedUser(example.roles(), mix=MIXES["hyperparameter-heavy"], seed=seed + u)
            rng = np.random.default_rng(seed + u)
            config = example.default_config()
            previous: float | None = None
            for _ in range(length):
                result = run(
                    example.workflow(config),
                    data,
                    user=f"user{u}",
                    cache=cache,
                    store=store,
                    policy="everything",
                )
                score = result.metrics["score"]
                change = user.next_change(None if previous is None else score > previous)
                previous = score
                config = example.apply(config, change.operators, change.kind, rng)
        return load_chains(store, source_kinds=[SOURCE_KIND])
    finally:
        cache.close()
        store.close()


def compare(chains: list[Chain], *, folds: int = 5) -> dict[str, TopKResult]:
    return {name: evaluate(make, chains, folds=folds) for name, make in PREDICTORS.items()}


def rows_for(
    label: str, synthetic: bool, n_chains: int, results: dict[str, TopKResult]
) -> list[list[Any]]:
    best_baseline = max(results[n].top1 for n in PREDICTORS if n != "ours")
    rows = []
    for name, r in results.items():
        rows.append(
            [
                label,
                "yes" if synthetic else "no",
                n_chains,
                r.steps,
                name,
                r.top1,
                r.top3,
                r.kept_top1,
                r.brier if name != "repeat last" else float("nan"),
                r.top1 / best_baseline if name == "ours" and best_baseline > 0 else float("nan"),
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter chains")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    logging.getLogger("mileage").setLevel(logging.ERROR)
    info = machine()
    print(machine_line(info), flush=True)
    started = time.perf_counter()
    n_syn, len_syn = (20, 15) if args.quick else (60, 30)
    n_exec, len_exec = (3, 6) if args.quick else (6, 15)
    headers = [
        "chains",
        "synthetic",
        "n",
        "steps",
        "predictor",
        "top-1",
        "top-3",
        "kept",
        "brier",
        "ours / best baseline",
    ]
    rows: list[list[Any]] = []
    detail: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mileage-nextstep-") as tmp:
        work = Path(tmp)
        by_store = real_chains(work)
        real = [c for chains in by_store.values() for c in chains]
        bookkeeping = bookkeeping_units(real)
        modelling = modelling_only(real, bookkeeping)
        results = compare(modelling)
        label = "real: 4 MLflow stores, modelling choices"
        rows += rows_for(label, False, len(modelling), results)
        detail["real"] = {k: vars(v) for k, v in results.items()}
        results = compare(real)
        rows += rows_for("real: same chains, every param", False, len(real), results)
        detail["real_every_param"] = {k: vars(v) for k, v in results.items()}
        detail["real_stores"] = {
            name: {"chains": len(chains), "runs": sum(len(c) for c in chains)}
            for name, chains in by_store.items()
        }
        detail["bookkeeping"] = bookkeeping
        print(f"real chains: {len(real)}; bookkeeping params: {bookkeeping}", flush=True)
        recorded = executor_chains(work, n_exec, len_exec, args.seed)
        results = compare(recorded)
        rows += rows_for("executor: fair, simulated users", True, len(recorded), results)
        detail["executor"] = {k: vars(v) for k, v in results.items()}
        print(f"executor chains: {len(recorded)}", flush=True)
    for label, mix in MIXES.items():
        chains = generate_chains(n_syn, len_syn, mix=mix, seed=args.seed)
        results = compare(chains)
        rows += rows_for(f"generator: {label} (d/p/m/h {mix.label()})", True, len(chains), results)
        detail[f"synthetic/{label}"] = {k: vars(v) for k, v in results.items()}
        print(f"synthetic {label}: done", flush=True)
    text = table(headers, rows)
    print()
    print(
        "Next change: top-1/top-3 accuracy, folds split by chain. 'synthetic' marks chains "
        "whose changes were generated."
    )
    print(text)
    adapt_headers = ["chains", "predictor", "top-1 at steps 1-5", "6-10", "11+"]
    adapt_rows = []
    for key in ("synthetic/hyperparameter-heavy", "executor"):
        for name, r in detail[key].items():
            pos = r["by_position"]
            adapt_rows.append(
                [
                    key,
                    name,
                    pos.get("1-5", float("nan")),
                    pos.get("6-10", float("nan")),
                    pos.get("11+", float("nan")),
                ]
            )
    print()
    print("New users: top-1 by position in the chain (all synthetic changes).")
    print(table(adapt_headers, adapt_rows))
    print(machine_line(info))
    payload = {
        "benchmark": "nextstep",
        "machine": info,
        "seconds": time.perf_counter() - started,
        "table": {"headers": headers, "rows": rows},
        "new_users": {"headers": adapt_headers, "rows": adapt_rows},
        "detail": detail,
        "mixes": {k: vars(v) for k, v in MIXES.items()},
    }
    path = write_results("nextstep", payload, quick=args.quick)
    print(f"results: {path}  ({time.perf_counter() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
