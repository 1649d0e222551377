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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from mileage.plugin._fingerprints import data_tags

_lock = threading.Lock()
_installed: set[str] = set()
_data_source: dict[str, str] = {}  # run id -> "pipeline" | "lightgbm": the pipeline's raw data wins
_writes: dict[str, list[Future[None]]] = {}  # run id -> writes not yet known to be done
_executor: ThreadPoolExecutor | None = None
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


@functools.lru_cache(maxsize=1)
def _configured() -> bool:
    """``plugin_enabled`` from Mileage's settings file, read once per process."""
    from mileage.platform.settings import Settings

    try:
        return Settings.load().plugin_enabled
    except Exception:  # a broken settings file must not break the user's run
        return True


def plugin_enabled() -> bool:
    """``MILEAGE_PLUGIN_ENABLED`` if set (read at each call, so it can be flipped live), else
    ``plugin_enabled`` in ``mileage.toml``; on by default."""
    env = os.environ.get("MILEAGE_PLUGIN_ENABLED")
    if env is not None:
        return env.strip().lower() not in ("0", "false", "no", "off")
    return _configured()


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
    """Tag the active run with the training data's fingerprint (and the pipeline's steps).

    The write is queued (MLflow's asynchronous logging) and overlaps with the training it
    describes; ``end_run`` waits for it.
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
    write(run_id, tags=tags)


def write(
    run_id: str,
    *,
    metrics: Sequence[Any] = (),
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> None:
    """Write metrics, params and tags for ``run_id`` on the plugin's writer thread.

    The write overlaps with the user's training; ending the run waits for it. Params go in
    their own batch: if the user already logged one with another value, only that batch
    fails (one warning) and everything else is kept.
    """
    from mlflow import MlflowClient
    from mlflow.entities import Param, RunTag

    tag_list = [RunTag(k, v) for k, v in (tags or {}).items()]
    metric_list = list(metrics)
    param_list = [Param(k, v) for k, v in (params or {}).items()]

    def run() -> None:
        client = MlflowClient()
        for i in range(0, max(len(metric_list), len(tag_list)), 900):
            client.log_batch(run_id, metrics=metric_list[i : i + 900], tags=tag_list[i : i + 90])
        for i in range(0, len(param_list), 90):
            client.log_batch(run_id, params=param_list[i : i + 90])

    future = _writer().submit(run)
    with _lock:
        _writes.setdefault(run_id, []).append(future)


def wait_for_writes(run_id: str | None) -> None:
    """Block until the plugin's writes for ``run_id`` are done (called before a run ends)."""
    if run_id is None:
        return
    with _lock:
        futures = _writes.pop(run_id, [])
        _data_source.pop(run_id, None)
    for future in futures:
        safe("writing to the tracking store", future.result)


def _writer() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            # One worker: writes for a run land in order.
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mileage-plugin")
        return _executor


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
        safe("logging LightGBM parameters", lambda: log_lightgbm_params(params))
        booster = original(params, train_set, *args, **kwargs)
        safe("logging LightGBM metrics", lambda: log_lightgbm(history, booster))
        return booster

    train._mileage = True  # type: ignore[attr-defined]
    lightgbm.engine.train = train
    lightgbm.sklearn.train = train  # type: ignore[attr-defined]  # imported there by name
    lightgbm.train = train


def log_lightgbm_params(params: dict[str, Any]) -> None:
    """Queue a LightGBM training's parameters (prefixed ``lightgbm.``) for the active run."""
    run_id = _active_run_id()
    if run_id is not None:
        write(run_id, params={f"lightgbm.{k}": str(v)[:500] for k, v in sorted(params.items())})


def log_lightgbm(history: dict[str, dict[str, list[float]]], booster: Any) -> None:
    """Queue a LightGBM training's per-iteration validation metrics for the active run.

    Names carry a ``lightgbm.`` prefix so they never collide with what the user logs.
    """
    import time as _time

    from mlflow.entities import Metric

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
    write(run_id, metrics=metrics)


def _patch_pipeline() -> None:
    from sklearn.pipeline import Pipeline

    original = Pipeline.fit
    if getattr(original, "_mileage", False):
        return

    @functools.wraps(original)
    def fit(self: Any, X: Any, y: Any = None, **params: Any) -> Any:
        safe("fingerprinting pipeline training data", lambda: on_fit(X, "pipeline", pipeline=self))
        return original(self, X, y, **params)

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


def _patch_end_run() -> None:
    import mlflow
    import mlflow.tracking.fluent as fluent

    original = fluent.end_run
    if getattr(original, "_mileage", False):
        return

    @functools.wraps(original)
    def end_run(*args: Any, **kwargs: Any) -> Any:
        run = fluent.active_run()
        if run is not None:
            wait_for_writes(run.info.run_id)
        return original(*args, **kwargs)

    end_run._mileage = True  # type: ignore[attr-defined]
    fluent.end_run = end_run
    mlflow.end_run = end_run


def install() -> None:
    """Install the hooks for the libraries imported so far (idempotent, cheap when done)."""
    for name, module, patch in (
        ("failures", "mlflow", _patch_failures),
        ("end_run", "mlflow", _patch_end_run),
        ("lightgbm", "lightgbm", _patch_lightgbm),
        ("pipeline", "sklearn", _patch_pipeline),
    ):
        if name not in _installed and module in sys.modules:
            with _lock:
                if name not in _installed:
                    safe(f"installing the {name} hook", patch)
                    _installed.add(name)
