"""``mileage.run``: execute a workflow through the cache and log the iteration."""

from __future__ import annotations

import getpass
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mileage.metalearner._errors import NotCacheableError, WorkflowError
from mileage.metalearner.materialize import (
    POLICIES,
    DirectoryCache,
    IntermediateCache,
    MaterializationPlan,
    MaterializationPolicy,
    NothingPolicy,
    NullCache,
    OutputStats,
    PlanContext,
    PredictivePolicy,
    decode,
    encode,
    estimate_nbytes,
    plan_execution,
)
from mileage.metalearner.workflow import Workflow, from_sklearn, hash_value
from mileage.platform.errors import ConfigError

if TYPE_CHECKING:
    from mileage.metalearner.materialize import CacheEntry, ExecutionPlan, Measurement
    from mileage.metalearner.nextstep import Chain, ChangePredictor
    from mileage.platform.settings import Settings
    from mileage.platform.store import TraceStore

log = logging.getLogger(__name__)

#: Where ``mileage nextstep train`` saves the model that ``run`` uses by default.
MODEL_DIR = ("models", "nextstep")


@dataclass(frozen=True)
class OperatorRecord:
    """What happened to one operator in a run.

    Attributes:
        operator: Operator name.
        role: Its role.
        output_fingerprint: Fingerprint of its output.
        action: ``computed``, ``loaded`` (from the cache) or ``skipped`` (not needed).
        compute_seconds: Measured compute time (computed), or the time it took when it was
            cached (loaded).
        load_seconds: Time to load it (loaded).
        write_seconds: Time to write it to the cache (materialized).
        output_bytes: Size of the output (stored size if written, else an estimate).
        materialized: Whether this run wrote it to the cache.
    """

    operator: str
    role: str
    output_fingerprint: str
    action: str
    compute_seconds: float | None
    load_seconds: float | None
    write_seconds: float | None
    output_bytes: int | None
    materialized: bool


@dataclass
class RunResult:
    """Outcome of :func:`run`.

    Attributes:
        workflow: Workflow name.
        outputs: Output of each requested operator (the sinks by default).
        metrics: ``score`` (when the final operator reports one) and run statistics.
        operators: One record per operator, in execution order.
        seconds: Wall time of the whole call.
        planner_seconds: Time spent deciding (load-or-recompute, materialization, model).
        saved_seconds: Estimated compute time avoided by loading from the cache.
        change_probability: P(each operator changes next), as the planner estimated it.
        run_id: Id of the run in the trace store (None when not logged).
        mlflow_run_id: Id of the MLflow run (None when not logged).
    """

    workflow: str
    outputs: dict[str, Any]
    metrics: dict[str, float]
    operators: list[OperatorRecord]
    seconds: float
    planner_seconds: float
    saved_seconds: float
    change_probability: dict[str, float] = field(default_factory=dict)
    run_id: int | None = None
    mlflow_run_id: str | None = None

    @property
    def cache_hits(self) -> int:
        """Operators loaded from the cache."""
        return sum(r.action == "loaded" for r in self.operators)

    @property
    def computed(self) -> int:
        """Operators that ran."""
        return sum(r.action == "computed" for r in self.operators)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (outputs left out)."""
        return {
            "workflow": self.workflow,
            "metrics": self.metrics,
            "seconds": self.seconds,
            "planner_seconds": self.planner_seconds,
            "saved_seconds": self.saved_seconds,
            "cache_hits": self.cache_hits,
            "computed": self.computed,
            "operators": [asdict(r) for r in self.operators],
            "change_probability": self.change_probability,
            "run_id": self.run_id,
            "mlflow_run_id": self.mlflow_run_id,
        }


def _as_workflow(pipeline: Any, name: str | None) -> Workflow:
    if isinstance(pipeline, Workflow):
        if name and name != pipeline.name:
            return Workflow(list(pipeline), sources=pipeline.sources, name=name)
        return pipeline
    if hasattr(pipeline, "fit") or hasattr(pipeline, "steps"):
        return from_sklearn(pipeline, name=name or "default")
    raise WorkflowError(
        f"cannot run a {type(pipeline).__name__}; pass a mileage Workflow or a scikit-learn "
        "estimator (Pipeline, ColumnTransformer, ...)."
    )


def _as_sources(wf: Workflow, data: Any) -> dict[str, Any]:
    if isinstance(data, Mapping) and set(wf.sources) <= set(data):
        return {s: data[s] for s in wf.sources}
    if isinstance(data, tuple) and len(data) == len(wf.sources):
        return dict(zip(wf.sources, data))
    if len(wf.sources) == 1:
        return {wf.sources[0]: data}
    raise WorkflowError(
        f"workflow {wf.name!r} reads sources {list(wf.sources)}; pass data as a dict with those "
        f"keys or a tuple of {len(wf.sources)} values (got {type(data).__name__})."
    )


def _open_cache(
    cache: IntermediateCache | str | Path | bool | None,
    budget_bytes: int | Literal["keep"] | None,
    settings: Settings | None,
) -> IntermediateCache:
    if isinstance(cache, IntermediateCache):
        return cache
    if cache is False:
        return NullCache()
    if cache is None or cache is True:
        from mileage.platform.settings import Settings

        settings = settings or Settings.load()
        return DirectoryCache(settings.home / "cache", budget_bytes=budget_bytes)
    return DirectoryCache(Path(cache), budget_bytes=budget_bytes)


def _open_store(
    store: TraceStore | str | bool | None, settings: Settings | None
) -> TraceStore | None:
    from mileage.platform.store import TraceStore

    if store is False:
        return None
    if isinstance(store, TraceStore):
        return store
    if isinstance(store, str):
        return TraceStore.open(store)
    from mileage.platform.settings import Settings

    settings = settings or Settings.load()
    return TraceStore.open(settings.resolved_db_url)


def default_predictor(settings: Settings | None = None) -> ChangePredictor | None:
    """The model saved by ``mileage nextstep train`` (None when there is none)."""
    from mileage.metalearner.nextstep import NextChangePredictor
    from mileage.platform.settings import Settings

    settings = settings or Settings.load()
    folder = settings.home.joinpath(*MODEL_DIR)
    if not (folder / "model.txt").is_file():
        return None
    return NextChangePredictor.load(folder)


def _policy(
    policy: MaterializationPolicy | str,
    predictor: ChangePredictor | str | None,
    settings: Settings | None,
) -> MaterializationPolicy:
    if isinstance(policy, MaterializationPolicy):
        return policy
    if policy not in POLICIES:
        raise ConfigError(
            f"materialization policy {policy!r} is unknown; use one of {sorted(POLICIES)}."
        )
    if policy == "ours":
        model = default_predictor(settings) if predictor == "auto" else predictor
        return PredictivePolicy(None if isinstance(model, str) else model)
    return POLICIES[policy]()


def run(
    pipeline: Any,
    data: Any,
    *,
    name: str | None = None,
    user: str | None = None,
    cache: IntermediateCache | str | Path | bool | None = None,
    budget_bytes: int | Literal["keep"] | None = "keep",
    policy: MaterializationPolicy | str = "ours",
    predictor: ChangePredictor | str | None = "auto",
    store: TraceStore | str | bool | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    outputs: Sequence[str] | None = None,
    settings: Settings | None = None,
) -> RunResult:
    """Run one iteration of a workflow through the intermediate cache and log it.

    Outputs whose fingerprint is cached are loaded when that is cheaper than recomputing
    them (an exact minimum-cut plan); everything else runs. The materialization policy
    then decides which new outputs to keep under the cache's byte budget. The iteration is
    recorded in the trace store (operators, fingerprints, timings, cache hits) and, with
    ``tracking_uri``, in MLflow with the ``mileage.pipeline`` tag, so it becomes training
    data for the next-change model. The outputs are identical to a run without cache.

    Args:
        pipeline: A :class:`~mileage.metalearner.workflow.Workflow` or a scikit-learn
            estimator (mapped with ``from_sklearn``; its sources are ``X`` and ``y``).
        data: The sources: ``(X, y)``, a dict by source name, or the single source's value.
        name: Workflow name (iterations of one name by one user form a chain).
        user: Who iterates; default: the login name.
        cache: A cache, a folder, ``None`` for ``<home>/cache``, or ``False`` for none.
        budget_bytes: Byte budget when ``cache`` is a folder or None (None: unlimited;
            ``"keep"``, the default: the cache's current budget, unlimited for a new one).
        policy: ``ours`` (default), ``helix``, ``everything``, ``nothing``, or a policy.
        predictor: Next-change model for ``ours``: ``"auto"`` loads the one saved by
            ``mileage nextstep train`` (falling back to the chain's change rates).
        store: A trace store, its URL, ``None`` for the configured one, ``False`` to skip.
        tracking_uri: Also log the run to this MLflow tracking URI.
        experiment: MLflow experiment name (default: the workflow name).
        outputs: Operators whose outputs to return (default: the sinks).
        settings: Settings (default: loaded from the environment and ``mileage.toml``).

    Returns:
        The outputs, metrics and per-operator records.

    Raises:
        WorkflowError: The pipeline or data does not fit the workflow model.
        ConfigError: Unknown policy or bad settings.

    Example:
        >>> import mileage
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.pipeline import make_pipeline
        >>> from sklearn.preprocessing import StandardScaler
        >>> from sklearn.linear_model import LogisticRegression
        >>> X, y = load_iris(return_X_y=True)
        >>> result = mileage.run(make_pipeline(StandardScaler(), LogisticRegression()), (X, y),
        ...                      name="iris", cache=False, store=False)
        >>> round(result.metrics["score"], 2)
        0.97
    """
    started = time.perf_counter()
    start_ms = int(time.time() * 1000)
    wf = _as_workflow(pipeline, name)
    sources = _as_sources(wf, data)
    targets = list(outputs) if outputs else list(wf.sinks)
    for target in targets:
        wf[target]  # raises a clear KeyError naming the operators
    user = user if user is not None else getpass.getuser()
    the_cache = _open_cache(cache, budget_bytes, settings)
    the_policy = _policy(policy, predictor, settings)
    the_store = _open_store(store, settings)
    owns_store = the_store is not None and not _is_store(store)
    try:
        return _execute(
            wf,
            sources,
            targets,
            user,
            the_cache,
            the_policy,
            the_store,
            tracking_uri,
            experiment,
            started,
            start_ms,
        )
    finally:
        if owns_store and the_store is not None:
            the_store.close()
        if not isinstance(cache, IntermediateCache):
            the_cache.close()


def _is_store(value: Any) -> bool:
    from mileage.platform.store import TraceStore

    return isinstance(value, TraceStore)


def _execute(
    wf: Workflow,
    sources: dict[str, Any],
    targets: list[str],
    user: str,
    cache: IntermediateCache,
    policy: MaterializationPolicy,
    store: TraceStore | None,
    tracking_uri: str | None,
    experiment: str | None,
    started: float,
    start_ms: int,
) -> RunResult:
    execution = _Execution(wf, sources, targets, cache)
    execution.plan()
    execution.compute()
    kept = execution.keep(policy, store, user)
    return execution.record(kept, policy, user, tracking_uri, experiment, started, start_ms)


@dataclass
class _Kept:
    """What :meth:`_Execution.keep` decided and wrote, and the history the run extends."""

    decision: MaterializationPlan
    written: dict[str, float]
    sizes: dict[str, int | None]
    metrics: dict[str, float]
    trace: Any
    link_key: str | None
    previous: Any


@dataclass
class _Execution:
    """One execution of a workflow: plan, compute, keep, record."""

    wf: Workflow
    sources: dict[str, Any]
    targets: list[str]
    cache: IntermediateCache
    keys: dict[str, str] = field(default_factory=dict)
    cached: dict[str, CacheEntry] = field(default_factory=dict)
    measured: dict[str, Measurement] = field(default_factory=dict)
    compute_est: dict[str, float] = field(default_factory=dict)
    load_est: dict[str, float] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    action: dict[str, str] = field(default_factory=dict)
    compute_s: dict[str, float] = field(default_factory=dict)
    load_s: dict[str, float] = field(default_factory=dict)
    planner_seconds: float = 0.0
    _plan: ExecutionPlan | None = None

    def plan(self) -> None:
        """Estimate each operator's compute and load time and choose what to load."""
        wf, cache = self.wf, self.cache
        self.keys = wf.fingerprints({s: hash_value(v) for s, v in self.sources.items()})
        planning = time.perf_counter()
        self.cached = cache.lookup(self.keys.values())
        self.measured = cache.measurements(wf.name)
        for op in wf.order:
            entry = self.cached.get(self.keys[op])
            m = self.measured.get(op)
            self.compute_est[op] = (
                entry.compute_seconds if entry else (m.compute_seconds if m else 0.0)
            )
            if entry:
                self.load_est[op] = (
                    entry.load_seconds
                    if entry.load_seconds is not None
                    else cache.estimate_load_seconds(entry.bytes)
                )
        self._plan = plan_execution(
            wf.order,
            {op: wf.operator_inputs(op) for op in wf.order},
            self.targets,
            self.compute_est,
            self.load_est,
        )
        self.planner_seconds += time.perf_counter() - planning

    def compute(self) -> None:
        """Obtain every target, loading or computing what it needs as planned."""
        for target in self.targets:
            self._obtain(target)

    def _load(self, op: str) -> bool:
        key = self.keys[op]
        t0 = time.perf_counter()
        blob = self.cache.get_blob(key)
        if blob is None:
            self.cached.pop(key, None)  # gone or damaged: write it again if worth it
            return False
        try:
            self.values[op] = decode(blob)
        except ValueError as exc:  # pragma: no cover - the hash check catches damage first
            log.warning("cache entry of %s could not be decoded (%s); recomputing", op, exc)
            self.cache.discard(key)
            return False
        self.load_s[op] = time.perf_counter() - t0
        self.action[op] = "loaded"
        return True

    def _obtain(self, op: str) -> Any:
        if op in self.values:
            return self.values[op]
        plan = self._plan
        assert plan is not None, "plan() runs before compute()"
        wants_load = op in plan.load or (op not in plan.compute and op in self.load_est)
        if wants_load and self._load(op):
            return self.values[op]
        wf = self.wf
        args = [self._obtain(i) if i in wf else self.sources[i] for i in wf[op].inputs]
        t0 = time.perf_counter()
        self.values[op] = wf[op].func(*args)
        self.compute_s[op] = time.perf_counter() - t0
        self.action[op] = "computed"
        return self.values[op]

    def _output_stats(self, policy: MaterializationPolicy) -> dict[str, OutputStats]:
        wf, keys, cache = self.wf, self.keys, self.cache
        fresh_nbytes: dict[str, int | None] = {}
        if not isinstance(policy, NothingPolicy):
            for op in wf.order:
                if self.action.get(op) == "computed" and keys[op] not in self.cached:
                    fresh_nbytes[op] = estimate_nbytes(self.values[op])
        outputs_stats: dict[str, OutputStats] = {}
        for op in wf.order:
            entry = self.cached.get(keys[op])
            m = self.measured.get(op)
            nbytes = (
                fresh_nbytes.get(op) if op in fresh_nbytes else (entry.bytes if entry else None)
            )
            if nbytes is None and m is not None and op not in fresh_nbytes:
                nbytes = m.output_bytes
            outputs_stats[op] = OutputStats(
                operator=op,
                key=keys[op],
                compute_seconds=self.compute_s.get(op, self.compute_est[op]),
                nbytes=nbytes,
                load_seconds=self.load_s.get(op)
                or self.load_est.get(op)
                or cache.estimate_load_seconds(nbytes or 0),
                write_seconds=cache.estimate_write_seconds(nbytes or 0),
                cached=entry is not None,
                fresh=op in fresh_nbytes and fresh_nbytes[op] is not None,
            )
        return outputs_stats

    def keep(self, policy: MaterializationPolicy, store: TraceStore | None, user: str) -> _Kept:
        """Ask ``policy`` what to keep, update priorities, write the chosen outputs."""
        wf, keys, cache = self.wf, self.keys, self.cache
        planning = time.perf_counter()
        outputs_stats = self._output_stats(policy)
        sizes: dict[str, int | None] = {op: s.nbytes for op, s in outputs_stats.items()}
        metrics: dict[str, float] = {}
        for t in self.targets:
            out = self.values[t]
            if isinstance(out, Mapping) and isinstance(out.get("score"), int | float):
                metrics["score"] = float(out["score"])
        chain, context, trace, link_key, previous = _history(store, wf, user, metrics.get("score"))
        ctx = PlanContext(wf, keys, outputs_stats, cache, chain, context)
        decision: MaterializationPlan = policy.plan(ctx)
        self.planner_seconds += time.perf_counter() - planning

        # New priorities first, so that admitting the writes compares against current values.
        refresh = dict(decision.priorities)
        if policy.refresh_on_read:
            now = policy.read_priority()
            refresh.update({keys[op]: now for op, a in self.action.items() if a == "loaded"})
        cache.set_priorities(refresh)
        written: dict[str, float] = {}
        for op, priority in decision.writes:
            try:
                blob = encode(self.values[op])
            except NotCacheableError as exc:
                log.info("output of %s is not cached: %s", op, exc)
                continue
            put = cache.put_blob(
                keys[op],
                blob,
                priority=priority,
                workflow=wf.name,
                operator=op,
                compute_seconds=self.compute_s.get(op, 0.0),
            )
            if put.admitted:
                written[op] = put.write_seconds
                sizes[op] = put.bytes
        for op, seconds in self.compute_s.items():
            cache.record_measurement(wf.name, op, seconds, sizes.get(op) or 0)
        return _Kept(decision, written, sizes, metrics, trace, link_key, previous)

    def _records(self, kept: _Kept) -> list[OperatorRecord]:
        records = []
        for op in self.wf.order:
            act = self.action.get(op, "skipped")
            entry = self.cached.get(self.keys[op])
            records.append(
                OperatorRecord(
                    operator=op,
                    role=self.wf[op].role,
                    output_fingerprint=self.keys[op],
                    action=act,
                    compute_seconds=self.compute_s.get(op)
                    if act == "computed"
                    else (entry.compute_seconds if act == "loaded" and entry else None),
                    load_seconds=self.load_s.get(op),
                    write_seconds=kept.written.get(op),
                    output_bytes=kept.sizes.get(op),
                    materialized=op in kept.written,
                )
            )
        return records

    def record(
        self,
        kept: _Kept,
        policy: MaterializationPolicy,
        user: str,
        tracking_uri: str | None,
        experiment: str | None,
        started: float,
        start_ms: int,
    ) -> RunResult:
        """The run's result, logged to the trace store and MLflow when they are given."""
        wf, metrics, previous = self.wf, kept.metrics, kept.previous
        records = self._records(kept)
        saved = sum(
            max(0.0, (r.compute_seconds or 0.0) - (r.load_seconds or 0.0))
            for r in records
            if r.action == "loaded"
        )
        end_ms = int(time.time() * 1000)
        result = RunResult(
            workflow=wf.name,
            outputs={t: self.values[t] for t in self.targets},
            metrics=metrics,
            operators=records,
            seconds=0.0,
            planner_seconds=self.planner_seconds,
            saved_seconds=saved,
            change_probability=kept.decision.change_probability,
        )
        run_metrics = {
            **metrics,
            "mileage.cache_hits": float(result.cache_hits),
            "mileage.computed_operators": float(result.computed),
            "mileage.saved_seconds": saved,
            "mileage.planner_seconds": self.planner_seconds,
        }
        tags = {
            "mileage.cache_hits": str(result.cache_hits),
            "mileage.policy": policy.name,
            "mileage.executions": executions_tag(records),
        }
        if kept.trace is not None and kept.link_key is not None:
            result.run_id = kept.trace.record(
                workflow=wf.name,
                user=user,
                specs=wf.specs(),
                executions=[asdict(r) for r in records],
                metrics=run_metrics,
                tags=tags,
                start_ms=start_ms,
                end_ms=end_ms,
                run_uuid=uuid.uuid4().hex,
                previous=previous,
                key=kept.link_key,
            )
        if tracking_uri:
            from mileage.metalearner.executor._mlflow import log_run

            result.mlflow_run_id = log_run(
                tracking_uri,
                experiment=experiment or wf.name,
                run_name=f"{wf.name}-{0 if previous is None else previous.position + 1}",
                user=user,
                specs=wf.specs(),
                metrics=run_metrics,
                tags=tags,
                start_ms=start_ms,
                end_ms=end_ms,
            )
        result.seconds = time.perf_counter() - started
        return result


def executions_tag(records: Sequence[OperatorRecord]) -> str:
    """JSON of what happened to each operator (action, output fingerprint, seconds, bytes),
    kept within MLflow's tag length limit by shortening fingerprints when needed."""
    import json

    for width in (64, 16, 8):
        text = json.dumps(
            [
                {
                    "operator": r.operator,
                    "action": r.action,
                    "output": r.output_fingerprint[:width],
                    "seconds": round(
                        (r.compute_seconds if r.action == "computed" else r.load_seconds) or 0.0,
                        6,
                    ),
                    "bytes": r.output_bytes,
                    "kept": r.materialized,
                }
                for r in records
            ],
            separators=(",", ":"),
        )
        if len(text) <= 8000:
            return text
    return text[:8000]


def _history(
    store: TraceStore | None, wf: Workflow, user: str, metric: float | None
) -> tuple[Chain | None, list[Chain], Any, str | None, Any]:
    """The chain this run extends (with this run appended) and the user's other chains."""
    if store is None:
        return None, [], None, None, None
    from mileage.metalearner.executor._trace import SOURCE_KIND, TraceLog
    from mileage.metalearner.nextstep import Chain, Step, dag_layout, load_chains

    trace = TraceLog(store)
    key, previous = trace.previous(wf.name, user)
    mine = load_chains(store, source_kinds=[SOURCE_KIND], users=[user], min_steps=1)
    chain = next((c for c in mine if c.key == key), None) or Chain(
        key=key, user=user, steps=[], origin=SOURCE_KIND
    )
    context = [c for c in mine if c.key != key]
    specs = {s.name: s.fingerprint for s in wf.specs()}
    changed: frozenset[str] = frozenset()
    if previous is not None:
        changed = frozenset(
            k
            for k in previous.operators.keys() | specs.keys()
            if previous.operators.get(k) != specs.get(k)
        )
    roles, depth, desc = dag_layout([(op.name, wf.operator_inputs(op.name)) for op in wf])
    roles.update({op.name: op.role for op in wf})
    chain.steps.append(
        Step(
            units=tuple(wf.order),
            changed=changed if chain.steps else frozenset(),
            start_ms=int(time.time() * 1000),
            metric=metric,
            roles=roles,
            depth=depth,
            descendants=desc,
            versions=specs,
        )
    )
    return chain, context, trace, key, previous


__all__ = [
    "MODEL_DIR",
    "OperatorRecord",
    "RunResult",
    "default_predictor",
    "executions_tag",
    "run",
]
