"""Light patches that let the plugin see training data, pipelines and failures.

Installed by ``mlflow.start_run()`` for the libraries imported by then: LightGBM's ``train``
(behind both of its APIs), scikit-learn's ``Pipeline.fit`` and MLflow's ``ActiveRun.__exit__``.

The fit hooks never replace what another patcher put in place (MLflow autologging patches the
same functions): each hook wraps whatever it finds and calls it, and the work it does happens
inside LightGBM's training loop (a callback), so it also sees the run that autologging starts
for a fit outside any run. Each ``start_run`` checks the hooks are still in place and wraps
again what autologging re-patched or restored. Every hook fails open: an error inside a hook
becomes one warning and the user's code runs as if the plugin were absent.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from mileage.plugin._fingerprints import DataFingerprint, data_fingerprint

_lock = threading.Lock()
_installed: set[str] = set()
_data_source: dict[str, str] = {}  # run id -> "pipeline" | "lightgbm": the pipeline's raw data wins
_writes: dict[str, list[Future[None]]] = {}  # run id -> writes not yet known to be done
_executor: ThreadPoolExecutor | None = None
_warned: set[str] = set()
_local = threading.local()  # .in_train: a LightGBM training of this thread is already hooked
#: The training data of the last few runs of this process (run id -> data), so the evaluator
#: can default its reference to it; bounded, since it keeps the data alive.
_recent_training: OrderedDict[str, Any] = OrderedDict()
RECENT_TRAINING_RUNS = 4

#: Where LightGBM's ``train`` is looked up: the package, the engine, and the scikit-learn API
#: (which imports it by name). MLflow's LightGBM autologging patches the first and the last.
LIGHTGBM_TRAIN = (
    ("lightgbm", "train"),
    ("lightgbm.engine", "train"),
    ("lightgbm.sklearn", "train"),
)
#: The name under which the plugin logs the training data as an MLflow dataset input.
DATASET_NAME = "training_data"
#: The dataset input's context tag, as MLflow autologging writes it for training data.
TRAINING_CONTEXT = "train"
#: Rows the dataset input's schema is inferred from.
SCHEMA_ROWS = 100


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


def on_fit(data: Any, origin: str, pipeline: Any = None, run_id: str | None = None) -> None:
    """Log the training data of the active run (or ``run_id``) as an MLflow dataset input.

    The input's digest is the data's fingerprint (schema and sampled content); the pipeline's
    steps go in the ``mileage.pipeline`` tag. When MLflow autologging of ``origin``'s library
    logs datasets itself, the input is left to it (MLflow's digest then identifies the data).
    The write is queued and overlaps with the training it describes; ``end_run`` waits for it.
    """
    run_id = run_id or _active_run_id()
    if run_id is None:
        return
    with _lock:
        if _data_source.get(run_id) == "pipeline" and origin != "pipeline":
            return
        _data_source[run_id] = origin
        _recent_training[run_id] = data
        _recent_training.move_to_end(run_id)
        while len(_recent_training) > RECENT_TRAINING_RUNS:
            _recent_training.popitem(last=False)
    tags: dict[str, str] = {}
    if pipeline is not None:
        tags["mileage.pipeline"] = pipeline_tag(pipeline)
    flavor = "sklearn" if origin == "pipeline" else origin
    fingerprint = None if _autolog_logs_datasets(flavor) else data_fingerprint(data)
    source = _source_tags()
    if tags:
        write(run_id, tags=tags)
    if fingerprint is not None:
        _submit(run_id, lambda: log_training_input(run_id, data, fingerprint, source))


def training_data(run_id: str) -> Any:
    """The data a run of this process was trained on, if it is among the last few; else None."""
    with _lock:
        return _recent_training.get(run_id)


def _autolog_logs_datasets(flavor: str) -> bool:
    """Whether MLflow autologging of ``flavor`` is on and logs the training data itself."""
    from mlflow.utils.autologging_utils import autologging_is_disabled, get_autologging_config

    return not autologging_is_disabled(flavor) and bool(
        get_autologging_config(flavor, "log_datasets", True)
    )


def _source_tags() -> dict[str, str]:
    """The active run's source tags (script, commit), for the dataset's source."""
    import mlflow

    run = mlflow.active_run()
    if run is None:
        return {}
    return {k: v for k, v in run.data.tags.items() if k.startswith("mlflow.source.")}


def log_training_input(
    run_id: str, data: Any, fingerprint: DataFingerprint, source: Mapping[str, str]
) -> None:
    """Log ``data`` as the run's training dataset input, digested by ``fingerprint``.

    The source is the code that produced the run (MLflow's ``CodeDatasetSource``, as autologging
    uses); the schema and profile are MLflow's own.
    """
    from mlflow import MlflowClient
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    code = CodeDatasetSource(tags=dict(source))
    # MLflow infers the schema value by value: seconds on a large frame, with the GIL held while
    # the user's training runs. The column types of the first rows are the frame's types, so
    # the schema comes from a sample and the profile (the sizes) from the whole data.
    if type(data).__module__.startswith("pandas"):
        import pandas as pd
        from mlflow.data.pandas_dataset import from_pandas

        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
        sampled: Any = from_pandas(
            frame.iloc[:SCHEMA_ROWS], source=code, name=DATASET_NAME, digest=fingerprint.digest
        )
        profile: dict[str, Any] = {"num_rows": len(frame), "num_elements": int(frame.size)}
    else:
        import numpy as np
        from mlflow.data.numpy_dataset import from_numpy

        array = np.asarray(data)
        sampled = from_numpy(
            array[:SCHEMA_ROWS], source=code, name=DATASET_NAME, digest=fingerprint.digest
        )
        profile = {
            "features_shape": list(array.shape),
            "features_size": int(array.size),
            "features_nbytes": int(array.nbytes),
        }
    described = sampled._to_mlflow_entity()
    entity = DatasetInput(
        dataset=Dataset(
            name=described.name,
            digest=described.digest,
            source_type=described.source_type,
            source=described.source,
            schema=described.schema,
            profile=json.dumps(profile),
        ),
        tags=[InputTag(key=MLFLOW_DATASET_CONTEXT, value=TRAINING_CONTEXT)],
    )
    MlflowClient().log_inputs(run_id, datasets=[entity])


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

    _submit(run_id, run)


def _submit(run_id: str, job: Callable[[], None]) -> None:
    """Queue ``job`` on the writer thread; ``wait_for_writes(run_id)`` waits for it."""
    future = _writer().submit(job)
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


class _LightgbmSession:
    """One hooked LightGBM training: a callback that meets the run once training has started.

    Running inside the training loop (rather than before calling ``train``) means the plugin
    sees the run that MLflow autologging starts for a fit outside any run.
    """

    before_iteration = False

    def __init__(self, params: Any, data: Any) -> None:
        # After record_evaluation (20), before early stopping (30) ends the loop. An instance
        # attribute: LightGBM sets a default ``order`` in the instance's __dict__ otherwise.
        self.order = 25
        self.params = dict(params or {})
        self.data = data  # read now: LightGBM frees a Dataset's raw data when it constructs it
        self.run_id: str | None = None
        self.started = False
        self.history: dict[str, dict[str, list[float]]] = {}

    def __call__(self, env: Any) -> None:
        if not self.started:
            self.started = True
            self.run_id = _active_run_id()
            if self.run_id is not None:
                run_id = self.run_id
                safe(
                    "logging the LightGBM training data",
                    lambda: on_fit(self.data, "lightgbm", run_id=run_id),
                )
                safe(
                    "logging LightGBM parameters", lambda: log_lightgbm_params(self.params, run_id)
                )
        if self.run_id is None:
            return
        for item in env.evaluation_result_list or ():
            data_name, metric, value = item[0], item[1], item[2]
            self.history.setdefault(data_name, {}).setdefault(metric, []).append(value)

    def finish(self, booster: Any) -> None:
        """Log the per-iteration metrics; if the run already ended (autologging's own run),
        wait for the writes so they land before ``train`` returns."""
        if self.run_id is None:
            return
        log_lightgbm(self.history, booster, self.run_id)
        if _active_run_id() != self.run_id:
            wait_for_writes(self.run_id)


def _wrap_lightgbm_train(inner: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(inner, updated=())
    def train(params: Any, train_set: Any, *args: Any, **kwargs: Any) -> Any:
        # One session per training, however many hooked layers (ours or MLflow's) it crosses.
        if getattr(_local, "in_train", False) or not plugin_enabled() or len(args) >= 7:
            return inner(params, train_set, *args, **kwargs)  # args[6]: callbacks, positional
        session = _LightgbmSession(params, getattr(train_set, "data", None))
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), session]
        _local.in_train = True
        try:
            booster = inner(params, train_set, *args, **kwargs)
        finally:
            _local.in_train = False
        safe("logging LightGBM metrics", lambda: session.finish(booster))
        return booster

    train._mileage = True  # type: ignore[attr-defined]
    return train


def _patch_lightgbm() -> None:
    """Wrap LightGBM's ``train`` wherever it is looked up, unless already wrapped there."""
    for module_name, attribute in LIGHTGBM_TRAIN:
        module = sys.modules.get(module_name)
        current = getattr(module, attribute, None)
        if current is not None and not getattr(current, "_mileage", False):
            setattr(module, attribute, _wrap_lightgbm_train(current))


def log_lightgbm_params(params: dict[str, Any], run_id: str) -> None:
    """Queue a LightGBM training's parameters (prefixed ``lightgbm.``) for ``run_id``."""
    write(run_id, params={f"lightgbm.{k}": str(v)[:500] for k, v in sorted(params.items())})


def log_lightgbm(history: dict[str, dict[str, list[float]]], booster: Any, run_id: str) -> None:
    """Queue a LightGBM training's per-iteration validation metrics for ``run_id``.

    Names carry a ``lightgbm.`` prefix so they never collide with what the user (or MLflow
    autologging, which writes ``<data>-<metric>``) logs.
    """
    import time as _time

    from mlflow.entities import Metric

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
    """Wrap ``Pipeline.fit`` as found (MLflow's scikit-learn autologging may have patched it)."""
    from sklearn.pipeline import Pipeline

    original = Pipeline.fit
    if getattr(original, "_mileage", False):
        return

    @functools.wraps(original, updated=())
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


#: Hooks on functions other patchers also patch: checked (and re-wrapped) at every start_run.
_REWRAPPED = frozenset({"lightgbm", "pipeline"})


def install() -> None:
    """Install the hooks for the libraries imported so far (idempotent and cheap when done).

    The fit hooks are checked every time, because enabling, re-enabling or disabling MLflow
    autologging replaces the functions they wrap.
    """
    for name, module, patch in (
        ("failures", "mlflow", _patch_failures),
        ("end_run", "mlflow", _patch_end_run),
        ("lightgbm", "lightgbm", _patch_lightgbm),
        ("pipeline", "sklearn.pipeline", _patch_pipeline),
    ):
        if module not in sys.modules or (name in _installed and name not in _REWRAPPED):
            continue
        with _lock:
            safe(f"installing the {name} hook", patch)
            _installed.add(name)
