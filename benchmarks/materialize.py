"""Materialization under byte budgets: replayed iteration chains of real scikit-learn pipelines.

For each example workflow (real data bundled with statsmodels), a simulated user iterates
``--length`` times: the sequence of changes is **synthetic** (the documented chain
generator, ``mileage.metalearner.nextstep.SimulatedUser``, reacting to the real scores),
while every pipeline run is real. The chain is generated once and then replayed, from an
empty cache and trace store each time, by every policy under budgets of 0, 1, 5, 10 and
20 percent of the total intermediate bytes (what materializing everything writes) and
unlimited:

* ``nothing``: keep nothing; ``everything``: keep every output, evict least recently used;
* ``helix``: Helix's rule (keep if recomputing from scratch > 2x loading), LRU eviction;
* ``ours``: expected saving per byte from the next-change model (trained on synthetic
  chains of *other* simulated users) and measured costs;
* ``oracle``: knows the chain's future workflows (its planning time is not counted).

Reported per (example, budget, policy): cumulative wall time of the runs, CPU time, the
speedup over ``nothing``, the share of the oracle's saving achieved, bytes written, cache
hits and the planner's own overhead. Every replay's outputs are checked to be identical to
the ``nothing`` replay's.

Run: ``python benchmarks/materialize.py`` (a few minutes; ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import gc
import logging
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# The repository root, so that `python benchmarks/<name>.py` finds the `benchmarks` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, machine_line, table, write_results
from mileage.metalearner.examples import EXAMPLES, Config, Example
from mileage.metalearner.executor import run
from mileage.metalearner.materialize import (
    DirectoryCache,
    EverythingPolicy,
    HelixPolicy,
    MaterializationPolicy,
    NothingPolicy,
    OraclePolicy,
    PredictivePolicy,
)
from mileage.metalearner.nextstep import (
    ChangeMix,
    NextChangePredictor,
    SimulatedUser,
    generate_chains,
)
from mileage.metalearner.workflow import Workflow, hash_value
from mileage.platform.store import TraceStore

BUDGETS: list[float | None] = [0.0, 0.01, 0.05, 0.10, 0.20, None]
POLICY_ORDER = ["nothing", "everything", "helix", "ours", "oracle"]


@dataclass
class Replay:
    """Totals of one replay of a chain."""

    policy: str
    budget_share: float | None
    budget_bytes: int | None
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    planner_seconds: float = 0.0
    bytes_written: int = 0
    cache_hits: int = 0
    recomputed: int = 0
    scores: list[float] = field(default_factory=list)
    predictions: list[str] = field(default_factory=list)


def _quiet() -> None:
    warnings.simplefilter("ignore")
    logging.getLogger("mileage").setLevel(logging.ERROR)


def generate(
    example: Example, length: int, seed: int, mix: ChangeMix, data: tuple[Any, Any], workdir: Path
) -> tuple[list[Config], int]:
    """A chain of configurations, the simulated user reacting to the real scores.

    Runs with the ``everything`` policy and no budget, which also gives the total bytes of
    the chain's intermediates (the base of the budgets). Not timed.
    """
    user = SimulatedUser(example.roles(), mix=mix, seed=seed)
    rng = np.random.default_rng(seed)
    config = example.default_config()
    configs = [config]
    previous: float | None = None
    total = 0
    workdir.mkdir(parents=True)
    cache = DirectoryCache(workdir / "cache")
    for i in range(length):
        result = run(example.workflow(config), data, cache=cache, store=False, policy="everything")
        total += sum(r.output_bytes or 0 for r in result.operators if r.materialized)
        if i == length - 1:
            break
        score = result.metrics["score"]
        change = user.next_change(None if previous is None else score > previous)
        previous = score
        config = example.apply(config, change.operators, change.kind, rng)
        configs.append(config)
    cache.close()
    return configs, total


class Replayer:
    """One policy at one budget, replaying the chain one iteration at a time."""

    def __init__(
        self,
        policy: MaterializationPolicy,
        budget: int | None,
        share: float | None,
        workdir: Path,
        template: Path,
    ) -> None:
        workdir.mkdir(parents=True)
        shutil.copy2(template, workdir / "trace.db")
        self.store = TraceStore.open(f"sqlite:///{workdir / 'trace.db'}")
        self.cache = DirectoryCache(workdir / "cache", budget_bytes=budget)
        self.policy = policy
        self.totals = Replay(policy.name, share, budget)

    def step(self, wf: Workflow, data: tuple[Any, Any]) -> None:
        gc.collect()
        cpu = time.process_time()
        result = run(
            wf, data, user="simulated", cache=self.cache, policy=self.policy, store=self.store
        )
        out = self.totals
        out.cpu_seconds += time.process_time() - cpu
        out.wall_seconds += result.seconds
        out.planner_seconds += result.planner_seconds
        out.cache_hits += result.cache_hits
        out.recomputed += result.computed
        out.bytes_written += sum(r.output_bytes or 0 for r in result.operators if r.materialized)
        model_out = result.outputs[wf.sinks[0]]
        out.scores.append(float(model_out["score"]))
        out.predictions.append(hash_value(model_out["y_pred"]))

    def finish(self) -> Replay:
        problems = self.cache.verify()
        budget = self.totals.budget_bytes
        if budget is not None and self.cache.used_bytes() > budget:
            problems.append("budget exceeded")
        self.cache.close()
        self.store.close()
        if problems:
            raise AssertionError(f"cache inconsistent after {self.policy.name}: {problems}")
        if self.policy.name == "oracle":
            # The oracle is a reference: its (expensive) look-ahead is not counted.
            self.totals.wall_seconds -= self.totals.planner_seconds
            self.totals.cpu_seconds -= self.totals.planner_seconds
        return self.totals


def _fingerprints(
    example: Example, configs: list[Config], data: tuple[Any, Any]
) -> list[tuple[Workflow, dict[str, str]]]:
    sources = {"X": hash_value(data[0]), "y": hash_value(data[1])}
    out = []
    for config in configs:
        wf = example.workflow(config)
        out.append((wf, wf.fingerprints(sources)))
    return out


def bench_example(
    name: str,
    length: int,
    seed: int,
    mix: ChangeMix,
    workroot: Path,
    log: Any,
    budgets: list[float | None] = BUDGETS,
) -> dict[str, Any]:
    """Generate one chain, then replay it under every (policy, budget) in lockstep."""
    example = EXAMPLES[name]
    data = example.load()
    started = time.perf_counter()
    configs, total = generate(example, length, seed, mix, data, workroot / f"{name}-gen")
    log(f"[{name}] chain of {len(configs)} iterations, {total / 1e6:.1f} MB of intermediates")
    training = generate_chains(60, 30, mix=mix, seed=10_000 + seed, operators=example.roles())
    predictor = NextChangePredictor().fit(training)
    future = _fingerprints(example, configs, data)
    template = workroot / "template.db"
    if not template.exists():
        TraceStore.open(f"sqlite:///{template}").close()

    def make(policy: str) -> MaterializationPolicy:
        if policy == "nothing":
            return NothingPolicy()
        if policy == "everything":
            return EverythingPolicy()
        if policy == "helix":
            return HelixPolicy()
        if policy == "ours":
            return PredictivePolicy(predictor)
        return OraclePolicy(future)

    # With a zero budget no policy can store anything, so they all behave like "nothing";
    # only ours is replayed there, to show its planning overhead.
    grid: list[tuple[str, float | None]] = [("nothing", 0.0)]
    if 0.0 in budgets:
        grid.append(("ours", 0.0))
    for share in budgets:
        if share == 0.0:
            continue
        for policy in ("everything", "helix", "ours", "oracle"):
            grid.append((policy, share))
    replayers = [
        Replayer(
            make(policy),
            None if share is None else int(share * total),
            share,
            workroot / f"{name}-{i}",
            template,
        )
        for i, (policy, share) in enumerate(grid)
    ]
    # Lockstep: iteration t of every replay before iteration t + 1 of any, in a rotating
    # order, so that load from other jobs on the machine falls on all policies alike.
    for t, (wf, _) in enumerate(future):
        order = replayers[t % len(replayers) :] + replayers[: t % len(replayers)]
        for replayer in order:
            replayer.step(wf, data)
        log(f"[{name}] iteration {t + 1}/{len(future)} replayed by {len(replayers)} policies")
    replays = [r.finish() for r in replayers]
    nothing = replays[0]
    for rep in replays:
        if rep.scores != nothing.scores or rep.predictions != nothing.predictions:
            raise AssertionError(
                f"{rep.policy} @ {rep.budget_share}: outputs differ from a full recompute"
            )
    changes = [
        sorted(k for k in future[i][1] if future[i][1][k] != future[i - 1][1].get(k))
        for i in range(1, len(future))
    ]
    return {
        "example": name,
        "description": example.description,
        "iterations": len(configs),
        "seed": seed,
        "mix": asdict(mix),
        "changed_outputs_per_iteration": changes,
        "total_intermediate_bytes": total,
        "budgets": [_budget_label(b) for b in budgets],
        "predictor": {
            "trained_on": "60 synthetic chains x 30 iterations of other simulated users",
            "complexity": predictor.complexity_,
        },
        "seconds": time.perf_counter() - started,
        "outputs_identical_to_full_recompute": True,
        "replays": [
            {k: v for k, v in asdict(r).items() if k not in ("scores", "predictions")}
            for r in replays
        ],
    }


def _budget_label(share: float | None) -> str:
    return "unlimited" if share is None else f"{share:.0%}"


def summarise(results: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """The table: one row per (example, budget, policy)."""
    headers = [
        "example",
        "budget",
        "policy",
        "wall s",
        "cpu s",
        "speedup",
        "share of oracle saving",
        "cpu speedup",
        "cpu share of oracle",
        "MB written",
        "hits",
        "planner s",
    ]
    rows = []
    for res in results:
        reps = res["replays"]
        nothing = reps[0]
        ex = res["example"]

        def find(
            policy: str, share: float | None, reps: list[dict[str, Any]] = reps
        ) -> dict[str, Any] | None:
            return next(
                (x for x in reps if x["policy"] == policy and x["budget_share"] == share), None
            )

        rows.append(_row(ex, 0.0, "nothing", nothing, nothing, None))
        ours0 = find("ours", 0.0)
        if ours0 is not None:
            rows.append(_row(ex, 0.0, "ours", ours0, nothing, None))
            rows.append([ex, "0%", "everything/helix/oracle", "= nothing", *[""] * 8])
        for share in BUDGETS[1:]:
            oracle = find("oracle", share)
            if oracle is None:
                continue
            for policy in ("everything", "helix", "ours", "oracle"):
                r = find(policy, share)
                if r is not None:
                    rows.append(_row(ex, share, policy, r, nothing, oracle))
    return headers, rows


def _row(
    example: str,
    share: float | None,
    policy: str,
    r: dict[str, Any],
    nothing: dict[str, Any],
    oracle: dict[str, Any] | None,
) -> list[Any]:
    def ratio(key: str) -> tuple[float, float]:
        saving = nothing[key] - r[key]
        best = nothing[key] - oracle[key] if oracle else 0.0
        return nothing[key] / r[key], (saving / best if best > 0 else float("nan"))

    speedup, share_of_oracle = ratio("wall_seconds")
    cpu_speedup, cpu_share = ratio("cpu_seconds")
    return [
        example,
        _budget_label(share),
        policy,
        r["wall_seconds"],
        r["cpu_seconds"],
        speedup,
        share_of_oracle,
        cpu_speedup,
        cpu_share,
        r["bytes_written"] / 1e6,
        r["cache_hits"],
        r["planner_seconds"] if policy != "oracle" else float("nan"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", nargs="+", default=["fair", "randhie"])
    parser.add_argument("--length", type=int, default=20, help="iterations per chain (20-50)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--full",
        action="store_true",
        help="every budget on every example (default: every budget on the first example, "
        "the 10%% budget on the others)",
    )
    parser.add_argument("--quick", action="store_true", help="short chains, one example")
    args = parser.parse_args(argv)
    _quiet()
    if args.quick:
        args.examples, args.length = args.examples[:1], 6
    info = machine()
    print(machine_line(info), flush=True)
    started = time.perf_counter()
    mix = ChangeMix()
    results = []
    with tempfile.TemporaryDirectory(prefix="mileage-bench-") as tmp:
        for i, name in enumerate(args.examples):
            budgets: list[float | None] = BUDGETS if args.full or i == 0 else [0.10]
            if args.quick:
                budgets = [0.0, 0.10]  # no cache, and the headline budget
            res = bench_example(
                name,
                args.length,
                args.seed,
                mix,
                Path(tmp),
                lambda m: print(m, flush=True),
                budgets,
            )
            results.append(res)
            print(table(*summarise([res])), flush=True)
    headers, rows = summarise(results)
    text = table(headers, rows)
    print()
    print(
        "Materialization: cumulative time of replayed chains (synthetic changes, generated by "
        f"the documented simulated user with change mix d/p/m/h = {mix.label()}; real "
        "pipelines and data). Oracle time excludes its look-ahead planning."
    )
    print(text)
    print(machine_line(info))
    ten = [r for r in rows if r[1] == "10%"]
    payload = {
        "benchmark": "materialize",
        "machine": info,
        "synthetic_changes": True,
        "budgets": [_budget_label(b) for b in BUDGETS],
        "seconds": time.perf_counter() - started,
        "table": {"headers": headers, "rows": rows},
        "at_10_percent": {
            f"{r[0]}/{r[2]}": {
                "speedup": r[5],
                "share_of_oracle_saving": r[6],
                "cpu_speedup": r[7],
                "cpu_share_of_oracle_saving": r[8],
            }
            for r in ten
        },
        "results": results,
    }
    path = write_results("materialize", payload, quick=args.quick)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
