"""Light patches that let the plugin see training data, pipelines and failures.

Installed on the first ``mlflow.start_run()`` of a process, for the libraries already
imported then: LightGBM's ``train`` (behind both of its APIs), scikit-learn's ``Pipeline.fit``
and MLflow's ``ActiveRun.__exit__``. Every hook fails open: an error inside a hook becomes one
warning and the user's code runs as if the plugin were absent.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

from mileage.plugin._fingerprints import data_tags

_lock = threading.Lock()
_installed: set[str] = set()
_data_source: dict[str, str] = {}  # run id -> "pipeline" | "lightgbm": the pipeline's raw data wins
_pending: dict[str, dict[str, str]] = {}  # run id -> tags to write when the fit ends
_warned: set[str] = set()


class MileagePluginWarning(UserWarning):
    """A Mileage plugin hook failed; the run continues without what that hook adds."""


def safe(what: str, func: Callable[[], Any]) -> Any:
    """Run ``func``; on any error warn once per ``what`` and return None."""
    try:
        return func()
    except Exception as exc:
        if what not in _warned:
            _warned.add(what)
            warnings.warn(
                f"Mileage plugin: {what} failed ({type(exc).__name__}: {exc}); the run continues without it. "
                "Set MILEAGE_PLUGIN_ENABLED=0 to turn the plugin off.",
                MileagePluginWarning,
                stacklevel=3,
            )
        return None


def plugin_enabled() -> bool:
    """``MILEAGE_PLUGIN_ENABLED`` (default on), read at each call so it can be flipped live."""
    return os.environ.get("MILEAGE_PLUGIN_ENABLED", "1").strip().lower() not in (
        "0",
        "false",
        "no",
        "off",
    )


def _active_run_id() -> str | None:
    """The active run's id, or None when there is none or the plugin is off."""
    if not plugin_enabled():
        return None
    import mlflow

    run = mlflow.active_run()
    return run.info.run_id if run is not None else None


def _set_tags(run_id: str, tags: dict[str, str]) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import RunTag

    MlflowClient().log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])


def on_fit(data: Any, origin: str, pipeline: Any = None) -> None:
    """Queue the training data's fingerprint (and the pipeline's steps) for the active run.

    Queued tags are written by :func:`flush` when the fit ends, together with whatever the
    fit logs, so a fit costs one write to the tracking store.
    """
    run_id = _active_run_id()
    if run_id is None:
        return
    with _lock:
        if _data_source.get(run_id) == "pipeline" and origin != "pipeline":
            return
        _data_source[run_id] = origin
    tags = data_tags(data)
    if pipeline is not None:
        tags["mileage.pipeline"] = pipeline_tag(pipeline)
    with _lock:
        _pending.setdefault(run_id, {}).update(tags)


def flush(
    run_id: str | None, metrics: list[Any] | None = None, params: list[Any] | None = None
) -> None:
    """Write the queued tags of ``run_id`` and the given metrics and params in one batch."""
    from mlflow import MlflowClient
    from mlflow.entities import RunTag
    from mlflow.exceptions import MlflowException

    if run_id is None:
        return
    with _lock:
        tags = [RunTag(k, v) for k, v in _pending.pop(run_id, {}).items()]
    metrics, params = metrics or [], params or []
    if not (tags or metrics or params):
        return
    client = MlflowClient()
    for i in range(0, max(len(metrics), len(tags), len(params)), 900):
        batch_params = params[i : i + 90] if i == 0 else []
        try:
            client.log_batch(
                run_id, metrics=metrics[i : i + 900], params=batch_params, tags=tags[i : i + 90]
            )
        except MlflowException:
            if not batch_params:
                raise
            # A param the user logged with another value: keep everything else.
            client.log_batch(run_id, metrics=metrics[i : i + 900], tags=tags[i : i + 90])


def pipeline_tag(pipeline: Any) -> str:
    """A scikit-learn Pipeline as the JSON operator list the collectors read."""
    operators = []
    previous: list[str] = []
    for name, step in pipeline.steps:
        if step in (None, "passthrough"):
            continue
        params = {
            k: v if isinstance(v, bool | int | float | str) or v is None else repr(v)[:200]
            for k, v in step.get_params(deep=False).items()
        }
        operators.append(
            {"name": name, "kind": type(step).__name__, "params": params, "inputs": previous}
        )
        previous = [name]
    return json.dumps(operators, sort_keys=True, default=str)[:5000]


def _patch_lightgbm() -> None:
    import lightgbm
    import lightgbm.engine
    import lightgbm.sklearn

    original = lightgbm.engine.train
    if getattr(original, "_mileage", False):
        return

    @functools.wraps(original)
    def train(params: Any, train_set: Any, *args: Any, **kwargs: Any) -> Any:
        safe(
            "fingerprinting LightGBM training data",
            lambda: on_fit(getattr(train_set, "data", None), "lightgbm"),
        )
        history: dict[str, Any] = {}
        if len(args) < 7 and _active_run_id() is not None:  # callbacks not given positionally
            kwargs["callbacks"] = [
                *(kwargs.get("callbacks") or []),
                lightgbm.record_evaluation(history),
            ]
        booster = original(params, train_set, *args, **kwargs)
        safe(
            "logging LightGBM parameters and metrics",
            lambda: log_lightgbm(params, history, booster),
        )
        return booster

    train._mileage = True  # type: ignore[attr-defined]
    lightgbm.engine.train = train
    lightgbm.sklearn.train = train  # type: ignore[attr-defined]  # imported there by name
    lightgbm.train = train


def log_lightgbm(
    params: dict[str, Any], history: dict[str, dict[str, list[float]]], booster: Any
) -> None:
    """Log a LightGBM training's parameters and per-iteration validation metrics to the active run.

    Names carry a ``lightgbm.`` prefix so they never collide with what the user logs.
    """
    import time as _time

    from mlflow.entities import Metric, Param

    run_id = _active_run_id()
    if run_id is None:
        return
    now = int(_time.time() * 1000)
    metrics = [
        Metric(f"lightgbm.{data_name}.{metric}", float(value), now, step)
        for data_name, by_metric in history.items()
        for metric, values in by_metric.items()
        for step, value in enumerate(values, start=1)
    ]
    metrics.append(Metric("lightgbm.num_trees", float(booster.num_trees()), now, 0))
    flush(
        run_id, metrics, [Param(f"lightgbm.{k}", str(v)[:500]) for k, v in sorted(params.items())]
    )


def _patch_pipeline() -> None:
    from sklearn.pipeline import Pipeline

    original = Pipeline.fit
    if getattr(original, "_mileage", False):
        return

    @functools.wraps(original)
    def fit(self: Any, X: Any, y: Any = None, **params: Any) -> Any:
        safe("fingerprinting pipeline training data", lambda: on_fit(X, "pipeline", pipeline=self))
        try:
            return original(self, X, y, **params)
        finally:
            safe("writing pipeline tags", lambda: flush(_active_run_id()))

    fit._mileage = True  # type: ignore[attr-defined]
    Pipeline.fit = fit


def _patch_failures() -> None:
    from mlflow.tracking.fluent import ActiveRun

    original = ActiveRun.__exit__
    if getattr(original, "_mileage", False):
        return

    @functools.wraps(original)
    def __exit__(self: Any, exc_type: Any, exc_val: Any, exc_tb: Any) -> Any:  # noqa: N807
        if exc_type is not None and plugin_enabled():
            safe(
                "summarising the failed run",
                lambda: summarize_failure(self.info.run_id, exc_type, exc_val),
            )
        return original(self, exc_type, exc_val, exc_tb)

    __exit__._mileage = True  # type: ignore[attr-defined]
    ActiveRun.__exit__ = __exit__  # type: ignore[method-assign]


def summarize_failure(
    run_id: str, exc_type: type[BaseException], exc: BaseException | None
) -> dict[str, str]:
    """Tag a failed run with what happened: exception, last metrics, params changed since the
    previous run of the same user in the same experiment."""
    from mlflow import MlflowClient

    client = MlflowClient()
    run = client.get_run(run_id)
    user = run.data.tags.get("mlflow.user") or run.info.user_id
    candidates = client.search_runs(
        [run.info.experiment_id],
        filter_string=f"attributes.start_time < {run.info.start_time}",
        order_by=["attributes.start_time DESC"],
        max_results=20,
    )
    previous = [r for r in candidates if (r.data.tags.get("mlflow.user") or r.info.user_id) == user]
    previous = previous[:1]
    changed: dict[str, list[str | None]] = {}
    if previous:
        before, after = previous[0].data.params, run.data.params
        changed = {
            k: [before.get(k), after.get(k)]
            for k in sorted(before.keys() | after.keys())
            if before.get(k) != after.get(k)
        }
    message = f"{exc_type.__name__}: {exc}"[:500]
    metrics = {k: round(v, 6) for k, v in sorted(run.data.metrics.items())}
    lines = [f"failed with {message}"]
    lines.append(
        "last metrics: " + (", ".join(f"{k}={v}" for k, v in metrics.items()) or "none logged")
    )
    if previous:
        lines.append(
            f"changed since run {previous[0].info.run_id[:8]}: "
            + (
                ", ".join(f"{k}: {a} -> {b}" for k, (a, b) in changed.items())
                or "no params changed"
            )
        )
    else:
        lines.append("first run of this user in this experiment")
    tags = {
        "mileage.failure.exception": message,
        "mileage.failure.summary": "\n".join(lines)[:5000],
        "mileage.failure.changed_params": json.dumps(changed, sort_keys=True)[:5000],
        "mileage.failure.last_metrics": json.dumps(metrics, sort_keys=True)[:5000],
    }
    _set_tags(run_id, tags)
    return tags


def install() -> None:
    """Install the hooks for the libraries imported so far (idempotent, cheap when done)."""
    for name, module, patch in (
        ("failures", "mlflow", _patch_failures),
        ("lightgbm", "lightgbm", _patch_lightgbm),
        ("pipeline", "sklearn", _patch_pipeline),
    ):
        if name not in _installed and module in sys.modules:
            with _lock:
                if name not in _installed:
                    safe(f"installing the {name} hook", patch)
                    _installed.add(name)
