"""``mileage demo``: the whole loop on real data, on this machine, in a few minutes.

Each capability joins the demo when it lands. Today: two people iterate on real
scikit-learn and LightGBM models (bundled datasets), changing one thing at a time and
logging to a local MLflow store; Mileage collects that store and shows the iteration chains.
Then it imports TabRepo's public LightGBM table, trains the warm-start ranker on it (without
the shared reference data: the embedded default model), asks it about a bundled dataset and
races cold TPE against ``WarmStartSampler``, and collects OpenML from recorded server answers
(from the shared reference data, and skipped with a message when that folder is absent). A simulated person iterates on a real pipeline through
Mileage's executor and its intermediate cache, which shows the reuse and the predicted next
change. The best model is registered under an alias and monitored on a clean and a faulty
batch; the faulty batch's findings become one alert with a suggestion routed to the model's
owner (inbox and MLflow tags), and the scheduled daemon runs one cycle.
Everything is written under ``<home>/demo`` (``.mileage/demo`` by default).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mileage.cli.demo.monitor import step_alerts, step_monitor
from mileage.cli.demo.pipeline import step_reuse
from mileage.cli.demo.public import step_metadata, step_openml
from mileage.cli.demo.warmstart import step_warmstart
from mileage.platform.progress import RichProgress
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore


@dataclass
class DemoContext:
    """State shared by the demo's steps."""

    settings: Settings
    workdir: Path
    console: Console
    store: TraceStore
    tracking_uri: str = ""
    notes: list[tuple[str, str]] = field(default_factory=list)  # (what, where to look)


# One iteration chain per person: (dataset, list of pipeline specs, one change at a time).
CHAINS: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "alice": (
        "breast_cancer",
        [
            {"scaler": {}, "clf": ("logreg", {"C": 1.0})},
            {"scaler": {}, "clf": ("logreg", {"C": 0.1})},
            {"scaler": {}, "pca": {"n_components": 10}, "clf": ("logreg", {"C": 0.1})},
            {"scaler": {}, "pca": {"n_components": 5}, "clf": ("logreg", {"C": 0.1})},
            {"scaler": {}, "clf": ("lgbm", {"num_leaves": 15, "learning_rate": 0.1})},
            {"scaler": {}, "clf": ("lgbm", {"num_leaves": 31, "learning_rate": 0.1})},
            {"scaler": {}, "clf": ("lgbm", {"num_leaves": 31, "learning_rate": 0.05})},
        ],
    ),
    "bob": (
        "wine",
        [
            {"scaler": {}, "clf": ("forest", {"n_estimators": 50, "max_depth": None})},
            {"scaler": {}, "clf": ("forest", {"n_estimators": 200, "max_depth": None})},
            {"scaler": {}, "clf": ("forest", {"n_estimators": 200, "max_depth": 5})},
            {
                "scaler": {},
                "pca": {"n_components": 8},
                "clf": ("forest", {"n_estimators": 200, "max_depth": 5}),
            },
            {"scaler": {}, "clf": ("lgbm", {"num_leaves": 7, "learning_rate": 0.1})},
            {"scaler": {}, "clf": ("lgbm", {"num_leaves": 7, "learning_rate": 0.2})},
        ],
    ),
}


def _estimator(spec: dict[str, Any]) -> Any:
    from lightgbm import LGBMClassifier
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps: list[tuple[str, Any]] = [("scaler", StandardScaler(**spec["scaler"]))]
    if "pca" in spec:
        steps.append(("pca", PCA(**spec["pca"], random_state=0)))
    kind, params = spec["clf"]
    if kind == "logreg":
        clf: Any = LogisticRegression(max_iter=2000, **params)
    elif kind == "forest":
        clf = RandomForestClassifier(random_state=0, n_jobs=1, **params)
    else:
        clf = LGBMClassifier(n_estimators=100, random_state=0, n_jobs=1, verbose=-1, **params)
    steps.append(("clf", clf))
    return Pipeline(steps)


def _loggable_params(pipe: Any) -> dict[str, str]:
    """``step__param`` values plus each step's class, the way autologging names them."""
    out = {"steps": repr([(name, type(step).__name__) for name, step in pipe.steps])}
    for name, step in pipe.steps:
        out[name] = type(step).__name__
        for key, value in step.get_params(deep=False).items():
            out[f"{name}__{key}"] = str(value)[:500]
    return out


def step_train(ctx: DemoContext) -> None:
    """Two people iterate on real models and log every run to a local MLflow store."""
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import mlflow
    import numpy as np
    from sklearn import datasets
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.model_selection import train_test_split

    db = ctx.workdir / "mlflow.db"
    ctx.tracking_uri = f"sqlite:///{db}"
    mlflow.set_tracking_uri(ctx.tracking_uri)
    total = sum(len(specs) for _, specs in CHAINS.values())
    clock = int(time.time() * 1000) - total * 3_600_000
    with RichProgress() as progress, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        progress.start("training models (one change at a time)", total=total)
        for user, (dataset, specs) in CHAINS.items():
            frame = getattr(datasets, f"load_{dataset}")(as_frame=True).frame
            X, y = frame.drop(columns="target"), frame["target"]
            X_tr, X_te, y_tr, y_te = train_test_split(
                X, y, test_size=0.3, random_state=0, stratify=y
            )
            experiment = mlflow.set_experiment(f"demo-{dataset}")
            train_ds = mlflow.data.from_pandas(  # type: ignore[attr-defined]
                X_tr.assign(target=y_tr), name=f"{dataset}-train", targets="target"
            )
            for i, spec in enumerate(specs):
                clock += 3_600_000
                pipe = _estimator(spec)
                with mlflow.start_run(
                    experiment_id=experiment.experiment_id,
                    run_name=f"{user}-{i}",
                    tags={"mlflow.user": user},
                ) as run:
                    client = mlflow.MlflowClient()
                    client.update_run(run.info.run_id, status="RUNNING")
                    mlflow.log_input(train_ds, context="training")
                    mlflow.log_params(_loggable_params(pipe))
                    pipe.fit(X_tr, y_tr)
                    proba = pipe.predict_proba(X_te)
                    mlflow.log_metrics(
                        {
                            "accuracy": float(accuracy_score(y_te, proba.argmax(axis=1))),
                            "log_loss": float(log_loss(y_te, np.clip(proba, 1e-9, 1))),
                        }
                    )
                    booster = getattr(pipe[-1], "booster_", None)
                    if booster is not None:  # the boosting curve as a metric history
                        for step in range(10, booster.current_iteration() + 1, 10):
                            p = pipe[:-1].transform(X_te)
                            pr = pipe[-1].predict_proba(p, num_iteration=step)
                            mlflow.log_metric(
                                "val_log_loss",
                                float(log_loss(y_te, np.clip(pr, 1e-9, 1))),
                                step=step,
                            )
                progress.advance()
        progress.finish()
    ctx.notes.append(("MLflow store with the demo runs", ctx.tracking_uri))


def step_collect(ctx: DemoContext) -> None:
    """Collect the MLflow store into the trace store, twice (the second pass adds nothing)."""
    from mileage.collectors.mlflow import MlflowCollector

    with RichProgress() as progress:
        first = MlflowCollector(ctx.tracking_uri, settings=ctx.settings).collect(
            ctx.store, progress=progress
        )
    second = MlflowCollector(ctx.tracking_uri, settings=ctx.settings).collect(ctx.store)
    ctx.console.print(
        f"collected {first.runs_written} runs from {first.experiments} experiments in {first.seconds:.2f}s; "
        f"second pass: {second.runs_written} written, {second.runs_unchanged} unchanged ({second.seconds:.2f}s)"
    )
    ctx.notes.append(
        ("collect again (incremental)", f"mileage collect mlflow --tracking-uri {ctx.tracking_uri}")
    )


def step_chains(ctx: DemoContext) -> None:
    """Show each iteration chain: what changed between consecutive runs and what it gave."""
    from sqlalchemy import select

    from mileage.collectors import iteration_stats as stats
    from mileage.platform.store import schema as t

    with ctx.store.connect() as conn:
        rows = conn.execute(
            select(t.iterations, t.runs.c.name, t.runs.c.user, t.metric_histories.c.last_value)
            .join(t.runs, t.runs.c.id == t.iterations.c.run_id)
            .outerjoin(
                t.metric_histories,
                (t.metric_histories.c.run_id == t.runs.c.id)
                & (t.metric_histories.c.key == "accuracy"),
            )
            .order_by(t.iterations.c.chain_key, t.iterations.c.position)
        ).all()
        summary = stats(conn)
    table = Table(
        "user",
        "run",
        "changed operators",
        "changed params",
        "reused",
        "accuracy",
        title="iteration chains",
    )
    for r in rows:
        reuse = "-" if r.reuse_ratio is None else f"{r.reuse_ratio:.0%} of {r.unit}"
        table.add_row(
            r.user or "",
            r.name or "",
            ", ".join(r.changed_operators) or "-",
            _describe_params([p for p in r.changed_params if p != "steps"]) or "-",
            reuse,
            "" if r.last_value is None else f"{r.last_value:.3f}",
        )
    ctx.console.print(table)
    share = summary.share_reusing_over_half
    ctx.console.print(
        f"{summary.chains} chains, {summary.links} links; "
        f"{share:.0%} of links reuse over half of the previous run's operators (seed papers: ~80% on OpenML)"
    )
    ctx.notes.append(("iteration statistics", "mileage iterations stats"))


def _describe_params(changed: list[str]) -> str:
    """``pca: 7 params`` for an added or removed step, the names otherwise.

    Parameters the MLflow plugin logs for LightGBM (``lightgbm.*``) repeat ``clf__*``; hidden.
    """
    by_step: dict[str, list[str]] = {}
    for name in changed:
        if not name.startswith("lightgbm."):
            by_step.setdefault(name.split("__", 1)[0], []).append(name)
    parts = []
    for step, names in by_step.items():
        parts.extend(names if len(names) <= 2 else [f"{step}: {len(names)} params"])
    return ", ".join(parts)


def step_daemon(ctx: DemoContext) -> None:
    """One cycle of the scheduled daemon, then a scrape of its /metrics."""
    import urllib.request

    from mileage.daemon import Daemon

    daemon = Daemon(ctx.settings, ctx.store)
    try:
        results = daemon.run_once()
        for r in results:
            ctx.console.print(f"job {r['job']}: {r['status']} in {r.get('seconds', 0):.2f}s")
        host, port = daemon.serve_http("127.0.0.1", 0)
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as resp:
            lines = [
                line
                for line in resp.read().decode().splitlines()
                if line.startswith(
                    (
                        "mileage_job_runs_total",
                        "mileage_collector_runs{",
                        "mileage_job_last_success",
                        "mileage_open_alerts{",
                    )
                )
            ]
        ctx.console.print("\n".join(lines[:12]), highlight=False, overflow="fold")
    finally:
        daemon.close()
    root = Path(__file__).resolve().parents[4]  # src/mileage/cli/demo/_run.py -> the checkout
    ctx.notes.append(
        (
            "scheduled daemon with /metrics and /healthz",
            "mileage daemon  (then http://127.0.0.1:9464/metrics)",
        )
    )
    ctx.notes.append(
        (
            "Grafana dashboards, Prometheus rules",
            f"{root / 'dashboards'}  (whole stack: docker/compose.yaml)",
        )
    )


STEPS: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("train", step_train),
    ("collect", step_collect),
    ("chains", step_chains),
    ("metadata", step_metadata),
    ("warmstart", step_warmstart),
    ("openml", step_openml),
    ("reuse", step_reuse),
    ("monitor", step_monitor),
    ("alerts", step_alerts),
    ("daemon", step_daemon),
]


def run_demo(settings: Settings, *, fresh: bool = True) -> DemoContext:
    """Run every demo step and print where to look next."""
    console = Console()
    workdir = settings.home / "demo"
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    store = TraceStore.open(settings.resolved_db_url)
    ctx = DemoContext(settings=settings, workdir=workdir, console=console, store=store)
    started = time.perf_counter()
    with store:
        for name, step in STEPS:
            console.rule(f"[bold]{name}[/bold]: {(step.__doc__ or '').strip().splitlines()[0]}")
            step(ctx)
    ctx.notes.insert(0, ("trace store", store.url))
    console.rule("[bold]where to look next")
    for what, where in ctx.notes:
        console.print(f"[bold]{what}[/bold]: {where}", overflow="fold")
    console.print(f"demo finished in {time.perf_counter() - started:.0f}s")
    return ctx
