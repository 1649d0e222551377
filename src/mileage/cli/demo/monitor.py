"""Demo step: register the best demo model under an alias and monitor it.

The best run of the breast cancer chain is retrained, logged with ``mlflow.sklearn`` and
registered as ``models:/demo-cancer@champion``; a monitor is added with held-out rows as its
reference, and a clean and a faulty batch (a unit change and a dropped column) are checked.
The alerts step turns the faulty batch's findings into one alert with a suggestion routed to
the owner: the inbox and tags on the MLflow model version.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mileage.cli.demo._run import DemoContext


def step_monitor(ctx: DemoContext) -> None:
    """Register the best model under an alias, monitor it, and check a clean and a faulty batch."""
    import mlflow
    import numpy as np
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    from mileage.cli.demo._run import CHAINS, _estimator
    from mileage.cli.monitor import print_reports
    from mileage.monitors import MonitorConfig, MonitorRunner, create_monitor

    dataset, specs = CHAINS["alice"]
    runs = mlflow.search_runs(experiment_names=[f"demo-{dataset}"], output_format="pandas")
    best = runs.sort_values("metrics.accuracy", ascending=False).iloc[0]
    spec = specs[int(str(best["tags.mlflow.runName"]).rsplit("-", 1)[1])]
    frame = getattr(datasets, f"load_{dataset}")(as_frame=True).frame
    frame.insert(0, "id", np.arange(len(frame)))
    X, y = frame.drop(columns="target"), frame["target"]
    X_tr, X_te, y_tr, _ = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    features = [c for c in X.columns if c != "id"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = _estimator(spec).fit(X_tr[features], y_tr)
        client = mlflow.MlflowClient()
        exp = client.create_experiment(
            "demo-deployed", artifact_location=(ctx.workdir / "artifacts").as_uri()
        )
        with mlflow.start_run(
            experiment_id=exp, run_name=f"{best['tags.mlflow.runName']}-deployed"
        ):
            info = mlflow.sklearn.log_model(
                pipe,
                name="model",
                input_example=X_tr[features].head(2),
                registered_model_name="demo-cancer",
            )
        client.set_registered_model_alias("demo-cancer", "champion", info.registered_model_version)
    ctx.console.print(
        f"registered {best['tags.mlflow.runName']} (accuracy {best['metrics.accuracy']:.3f}) as "
        f"models:/demo-cancer@champion (version {info.registered_model_version})"
    )
    # held-out rows: half are the reference (validation data with labels), half are served
    ref_idx, served = train_test_split(X_te.index, test_size=0.5, random_state=0)
    folder = ctx.workdir / "monitor"
    (folder / "batches").mkdir(parents=True, exist_ok=True)
    X.loc[ref_idx].assign(label=y.loc[ref_idx]).to_parquet(folder / "reference.parquet")
    half = len(served) // 2
    X.loc[served[:half]].to_parquet(folder / "batches" / "day-1.parquet")
    faulty = X.loc[served[half:]].copy()
    faulty["mean radius"] = faulty["mean radius"] * 1000  # a unit change upstream
    faulty.drop(columns=["worst texture"]).to_parquet(folder / "batches" / "day-2.parquet")
    labels = X.loc[served, ["id"]].assign(label=y.loc[served])
    labels.to_csv(folder / "labels.csv", index=False)  # as if they arrived the next day
    config = MonitorConfig(
        name="demo-cancer",
        reference_uri=str(folder / "reference.parquet"),
        model_uri="models:/demo-cancer@champion",
        tracking_uri=ctx.tracking_uri,
        batches_uri=str(folder / "batches"),
        labels_uri=str(folder / "labels.csv"),
        id_column="id",
        owner="alice",
        cadence="1d",
        performance={"slo": 0.9},
    )
    record, suite = create_monitor(ctx.store, config)
    ctx.console.print(
        f"monitor 'demo-cancer': suite v{record.suite_version} inferred from "
        f"{len(ref_idx)} reference rows ({len(suite['columns'])} columns)"
    )
    reports = MonitorRunner(ctx.store, "demo-cancer", home=ctx.settings.home).run()
    print_reports(reports, False, {})
    ctx.notes.append(("monitored pipeline", "mileage monitor show demo-cancer"))
    ctx.notes.append(("stored findings", "mileage monitor findings demo-cancer"))
    ctx.notes.append(
        (
            "one-shot check",
            f"mileage monitor check --reference {folder / 'reference.parquet'} "
            f"--batch {folder / 'batches' / 'day-2.parquet'}",
        )
    )


def step_alerts(ctx: DemoContext) -> None:
    """Turn the faulty batch's findings into one alert with a suggestion for its owner."""
    from mlflow import MlflowClient

    from mileage.cli.suggestions import response_lines
    from mileage.monitors import respond
    from mileage.monitors.alerts import (
        get_suggestion,
        list_alerts,
        list_suggestions,
        load_routers,
        no_warm_starts,
    )

    response = respond(
        ctx.store,
        "demo-cancer",
        settings=ctx.settings,
        routers=load_routers(ctx.settings, ["mlflow"]),
        warm_start=no_warm_starts,
    )
    for line in response_lines(response)[:1]:
        ctx.console.print(line, highlight=False)
    for alert in list_alerts(ctx.store, pipeline="demo-cancer"):
        checks = alert.evidence["failed_checks"]
        ctx.console.print(
            f"alert {alert.id} [{alert.level}] for {alert.owner}: {alert.title} "
            f"({len(checks)} failed checks, batch {alert.last_batch})",
            highlight=False,
            markup=False,
        )
    for s in list_suggestions(ctx.store, pipeline="demo-cancer"):
        if s.rank != 1:
            continue
        detail = get_suggestion(ctx.store, s.id)
        ctx.console.print(
            f"  suggestion {s.id} ({s.kind}): {s.title}", highlight=False, markup=False
        )
        for column, change in (s.evidence.get("columns") or {}).items():
            ctx.console.print(
                f"    {column!r}: reference {_values(change['reference'])} -> batch "
                f"{_values(change['batch'])}",
                highlight=False,
                markup=False,
            )
        routed = ", ".join(f"{d.router} {d.status}" for d in detail.deliveries)
        ctx.console.print(f"  routed to {s.owner}: {routed}", highlight=False)
        if s.model_version:
            name, _, version = s.model_version.rpartition("/")
            tags = MlflowClient().get_model_version(name, version).tags
            keys = sorted(k for k in tags if k.startswith("mileage.suggestion."))
            ctx.console.print(
                f"  MLflow tags on {name} version {version}: {', '.join(keys)}", highlight=False
            )
    ctx.notes.append(("suggestion inbox", "mileage suggestions list  (show / accept / dismiss ID)"))
    ctx.notes.append(("alerts and their history", "mileage alerts list --all"))


def _values(side: dict[str, Any]) -> str:
    """A column's values in a few words: typical range, else range, else what is known."""
    if side.get("present") is False:
        return "missing"
    summary = side.get("summary") or {}
    if "p05" in summary:
        return f"{summary['p05']:.4g}..{summary['p95']:.4g} (5th-95th percentile)"
    for key in ("observed_range", "allowed_range"):
        if side.get(key):
            low, high = side[key]
            return f"{low:.4g}..{high:.4g}"
    return ", ".join(f"{k} {v}" for k, v in side.items())[:80]
