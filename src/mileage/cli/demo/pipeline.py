"""Demo step: iterate on a real pipeline through the executor and its intermediate cache."""

from __future__ import annotations

import logging
import time
import warnings
from typing import TYPE_CHECKING

from rich.table import Table

from mileage.platform.progress import RichProgress

if TYPE_CHECKING:
    from mileage.cli.demo._run import DemoContext

#: Iterations the demo's simulated person runs.
ITERATIONS = 8


def step_reuse(ctx: DemoContext) -> None:
    """Iterate on a real pipeline through the cache; show reuse and the predicted next change."""
    import numpy as np

    from mileage.metalearner.examples import EXAMPLES
    from mileage.metalearner.executor import MODEL_DIR, run
    from mileage.metalearner.materialize import DirectoryCache, PredictivePolicy
    from mileage.metalearner.nextstep import (
        NextChangePredictor,
        SimulatedUser,
        generate_chains,
        load_chains,
    )

    logging.getLogger("mileage").setLevel(logging.ERROR)
    example = EXAMPLES["fair"]
    data = example.load()
    with RichProgress() as progress, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        progress.start("training the next-change model (store chains + synthetic chains)")
        collected = load_chains(ctx.store)
        model = NextChangePredictor().fit(collected + generate_chains(40, 25, seed=0))
        model.save(ctx.settings.home.joinpath(*MODEL_DIR))
        progress.finish()
        person = SimulatedUser(example.roles(), seed=4)
        rng = np.random.default_rng(4)
        config = example.default_config()
        cache = DirectoryCache(ctx.workdir / "cache", budget_bytes=20_000_000)
        policy = PredictivePolicy(model)
        table = Table(
            "run",
            "what changed",
            "seconds",
            "from cache",
            "computed",
            "saved s",
            "score",
            title=f"iterations on '{example.name}' through the cache (changes by a simulated person)",
        )
        full_seconds = 0.0
        total = saved = 0.0
        previous: float | None = None
        change_label = "(first run)"
        progress.start("running iterations through the executor", total=ITERATIONS)
        started = time.perf_counter()
        result = None
        for i in range(ITERATIONS):
            result = run(
                example.workflow(config),
                data,
                user="carol",
                cache=cache,
                policy=policy,
                store=ctx.store,
                tracking_uri=ctx.tracking_uri or None,
                experiment="demo-fair-executor",
            )
            if i == 0:
                full_seconds = result.seconds
            total += result.seconds
            saved += result.saved_seconds
            score = result.metrics["score"]
            table.add_row(
                str(i),
                change_label,
                f"{result.seconds:.2f}",
                str(result.cache_hits),
                str(result.computed),
                f"{result.saved_seconds:.2f}",
                f"{score:.4f}",
            )
            change = person.next_change(None if previous is None else score > previous)
            previous = score
            config = example.apply(config, change.operators, change.kind, rng)
            change_label = f"{change.kind}: {', '.join(change.operators)}"
            progress.advance()
        progress.finish()
        cache.close()
    ctx.console.print(table)
    ctx.console.print(
        f"{ITERATIONS} runs took {total:.1f}s; the first (nothing cached) took {full_seconds:.2f}s, "
        f"so recomputing every run would take about {full_seconds * ITERATIONS:.1f}s; the cache "
        f"avoided about {saved:.1f}s of compute ({time.perf_counter() - started:.1f}s wall)."
    )
    chain = next(c for c in load_chains(ctx.store, source_kinds=["executor"]) if c.user == "carol")
    ranking = model.rank(chain)
    ctx.console.print(
        "predicted next change: "
        + ", ".join(f"{unit} {p:.0%}" for unit, p in ranking[:4])
        + f" (the simulated person's next change: {change_label})"
    )
    ctx.notes.append(("run an iteration yourself", "mileage pipeline run fair --set model.C=0.3"))
    ctx.notes.append(("predicted next change", f"mileage nextstep show --chain {chain.key}"))
    ctx.notes.append(("intermediate cache", str(ctx.workdir / "cache")))


__all__ = ["ITERATIONS", "step_reuse"]
