"""Demo steps on public data: TabRepo's LightGBM table and OpenML's recorded answers.

Both read the shared reference data (``../shared/data`` or ``MILEAGE_SHARED_DATA``) and are
skipped with a message when it is absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from mileage.platform.progress import RichProgress
from mileage.platform.store import TraceStore

if TYPE_CHECKING:
    from mileage.cli.demo._run import DemoContext


def _shared(ctx: DemoContext, folder: str) -> Path | None:
    """A folder of the shared reference data, or None (with a message) when it is absent."""
    path = ctx.settings.shared_data_dir() / folder
    if path.is_dir():
        return path
    ctx.console.print(
        f"[yellow]skipped:[/yellow] {path} is missing (set MILEAGE_SHARED_DATA to the folder "
        "holding the reference data to include this step)"
    )
    return None


def step_metadata(ctx: DemoContext) -> None:
    """Import TabRepo's LightGBM table (93 OpenML tasks x 104 configurations) and rank them."""
    from mileage.collectors.metadata import import_metadata

    folder = _shared(ctx, "tabrepo-lightgbm")
    if folder is None:
        return
    with RichProgress() as progress:
        report = import_metadata(
            ctx.store, "tabrepo-lightgbm", folder, settings=ctx.settings, progress=progress
        )
    ctx.console.print(
        f"{report.tasks} tasks, {report.datasets} datasets with meta-features, "
        f"{report.configurations} configurations, {report.scored_runs} scored runs "
        f"({report.seconds:.1f}s)"
    )
    table = Table(
        "rank",
        "configuration",
        "mean rank over tasks",
        "hyperparameters",
        title="best LightGBM configurations across tasks (lower rank is better)",
    )
    for i, (name, rank, params) in enumerate(_mean_ranks(ctx.store, report.source)[:5], 1):
        shown = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
        )
        table.add_row(str(i), name, f"{rank:.1f}", shown or "(AutoGluon defaults)")
    ctx.console.print(table)
    ctx.notes.append(
        (
            "import other public meta-data",
            "mileage collect metadata --source autosklearn (downloads auto-sklearn's sdist with pip)",
        )
    )


def _mean_ranks(store: TraceStore, source: str) -> list[tuple[str, float, dict[str, Any]]]:
    """Configurations ranked within each task by its metric, averaged over tasks."""
    from collections import defaultdict

    from sqlalchemy import select

    from mileage.platform.store import schema as t

    mh, runs, tasks, sc, cfg = (
        t.metric_histories,
        t.runs,
        t.tasks,
        t.source_configurations,
        t.configurations,
    )
    query = (
        select(
            tasks.c.external_id,
            tasks.c.metric_direction,
            sc.c.external_id,
            mh.c.last_value,
            cfg.c.params,
        )
        .select_from(
            runs.join(tasks, tasks.c.id == runs.c.task_id)
            .join(mh, (mh.c.run_id == runs.c.id) & (mh.c.key == tasks.c.metric))
            .join(cfg, cfg.c.id == runs.c.configuration_id)
            .join(sc, (sc.c.configuration_id == cfg.c.id) & (sc.c.source_id == runs.c.source_id))
            .join(t.sources, t.sources.c.id == runs.c.source_id)
        )
        .where(t.sources.c.uri == source)
    )
    by_task: dict[str, list[tuple[float, str]]] = defaultdict(list)
    params: dict[str, dict[str, Any]] = {}
    with store.connect() as conn:
        for task, direction, name, value, cparams in conn.execute(query):
            if value is not None:
                by_task[task].append((-value if direction == "score" else value, name))
                params[name] = cparams
    ranks: dict[str, list[int]] = defaultdict(list)
    for scored in by_task.values():
        for rank, (_, name) in enumerate(sorted(scored), 1):
            ranks[name].append(rank)
    mean = sorted((sum(r) / len(r), name) for name, r in ranks.items())
    return [(name, value, params[name]) for value, name in mean]


def step_openml(ctx: DemoContext) -> None:
    """Collect OpenML runs, flows, setups, tasks and qualities from recorded server answers."""
    from mileage.collectors import iteration_stats as stats
    from mileage.collectors.openml import OpenmlCollector
    from mileage.testing.openml import RecordedOpenmlServer, recorded_selection

    folder = _shared(ctx, "openml-responses")
    if folder is None:
        return
    selection = recorded_selection()
    with RecordedOpenmlServer(folder) as server:
        # the answers were recorded from test.openml.org: store them as that server's
        first, second = (
            OpenmlCollector(
                selection,
                server=server.url,
                source_uri="test.openml.org",
                settings=ctx.settings,
                backoff=0,
            ).collect(ctx.store)
            for _ in range(2)
        )
    ctx.console.print(
        f"from {first.source} (its recorded answers, served on 127.0.0.1): {first.runs_written} runs, "
        f"{first.tasks} tasks, {first.datasets} datasets, {first.flows} flows, {first.setups} setups; "
        f"{len(first.warnings)} kinds of warnings (ids that do not match, objects the recording lacks); "
        f"second pass: {second.runs_written} written, {second.runs_unchanged} unchanged"
    )
    with ctx.store.connect() as conn:
        summary = stats(conn)
    (openml,) = [s for s in summary.sources if s.kind == "openml"]
    ctx.console.print(
        f"OpenML chains (per uploader and task): {openml.chains} chains, {openml.links} links: the "
        "recording is too small to measure reuse; with internet, collect a task's history instead"
    )
    ctx.notes.append(
        ("collect OpenML itself (needs internet)", "mileage collect openml --task 31 --limit 500")
    )
