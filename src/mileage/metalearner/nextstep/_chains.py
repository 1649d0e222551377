"""Iteration chains as the next-change model sees them, read from the trace store.

A chain is a user's consecutive runs of one workflow (an MLflow experiment, an OpenML task,
a workflow run by Mileage's executor). Each step lists the units present (operators when
the run has a pipeline, parameters otherwise), the units changed since the previous step,
the run's primary metric and its start time. Chains come from the store's ``iterations``
table, whatever collector or executor wrote them.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t

#: Metric names where lower is better (matched as words in the metric key).
_LOWER_IS_BETTER = re.compile(r"(loss|error|err|rmse|mse|mae|mape|regret|time|seconds)", re.I)
_CHUNK = 500


@dataclass(frozen=True)
class Step:
    """One run of a chain.

    Attributes:
        units: Units present in the run (operator names, or parameter names).
        changed: Units changed since the previous step (empty for the first step).
        start_ms: Start time (epoch milliseconds), when known.
        metric: The chain's primary metric, oriented so that higher is better.
        roles: Role of each unit (``data``, ``preprocessing``, ``model``, ``param`` ...).
        depth: Depth of each unit in the workflow DAG (position when only the order is known).
        descendants: Number of units downstream of each unit.
        versions: Version of each unit (operator fingerprint, or parameter value), when known.
        run_id: The run's id in the trace store, when it came from there.
        metric_values: Every metric value the run logged (its last values), to tell results
            logged as parameters from choices.
    """

    units: tuple[str, ...]
    changed: frozenset[str] = frozenset()
    start_ms: int | None = None
    metric: float | None = None
    roles: Mapping[str, str] = field(default_factory=dict)
    depth: Mapping[str, int] = field(default_factory=dict)
    descendants: Mapping[str, int] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    run_id: int | None = None
    metric_values: tuple[float, ...] = ()


@dataclass
class Chain:
    """A user's consecutive iterations of one workflow.

    Attributes:
        key: Identifier (the store's ``chain_key`` for stored chains).
        user: Who iterated (None when unknown).
        steps: The runs in order.
        unit: ``operators`` or ``params``.
        origin: Where the chain came from (source kind, or ``synthetic``).
        synthetic: Whether the changes were generated rather than made by a person.
    """

    key: str
    user: str | None
    steps: list[Step]
    unit: str = "operators"
    origin: str = ""
    synthetic: bool = False

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def n_links(self) -> int:
        """Number of transitions between consecutive runs."""
        return max(0, len(self.steps) - 1)

    def prefix(self, n: int) -> Chain:
        """The chain's first ``n`` steps."""
        return Chain(self.key, self.user, self.steps[:n], self.unit, self.origin, self.synthetic)


def orient(key: str, value: float | None) -> float | None:
    """Flip metrics where lower is better so that higher is always better."""
    if value is None:
        return None
    return -value if _LOWER_IS_BETTER.search(key) else value


def linear_layout(
    units: Sequence[str], kind: str
) -> tuple[dict[str, str], dict[str, int], dict[str, int]]:
    """Roles, depths and descendants when only the order of the units is known."""
    n = len(units)
    if kind == "params":
        roles = {u: "param" for u in units}
        return roles, {u: -1 for u in units}, {u: 0 for u in units}
    roles = {u: ("model" if i == n - 1 and n > 1 else "preprocessing") for i, u in enumerate(units)}
    return roles, {u: i for i, u in enumerate(units)}, {u: n - 1 - i for i, u in enumerate(units)}


def dag_layout(
    operators: Sequence[tuple[str, Sequence[str]]],
) -> tuple[dict[str, str], dict[str, int], dict[str, int]]:
    """Roles (by position in the DAG), depths and descendant counts from operator inputs."""
    names = [n for n, _ in operators]
    known = set(names)
    inputs = {n: [i for i in ins if i in known] for n, ins in operators}
    if not any(inputs.values()):
        return linear_layout(names, "operators")
    depth: dict[str, int] = {}

    def d(n: str, seen: frozenset[str] = frozenset()) -> int:
        if n not in depth:
            parents = [p for p in inputs[n] if p not in seen]
            depth[n] = 1 + max((d(p, seen | {n}) for p in parents), default=-1)
        return depth[n]

    consumers: dict[str, set[str]] = defaultdict(set)
    for n, ins in inputs.items():
        for i in ins:
            consumers[i].add(n)
    desc: dict[str, int] = {}
    for n in names:
        seen: set[str] = set()
        stack = list(consumers[n])
        while stack:
            m = stack.pop()
            if m not in seen:
                seen.add(m)
                stack.extend(consumers[m])
        desc[n] = len(seen)
    roles = {}
    for n in names:
        if not consumers[n] and inputs[n]:
            roles[n] = "model"
        elif not inputs[n]:
            roles[n] = "data"
        else:
            roles[n] = "preprocessing"
    return roles, {n: d(n) for n in names}, desc


def _primary_metric(metrics: Iterable[dict[str, float | None]]) -> str | None:
    counts: Counter[str] = Counter()
    for m in metrics:
        # Mileage's own run statistics (mileage.cache_hits, ...) are not the user's metric.
        counts.update(k for k, v in m.items() if v is not None and not k.startswith("mileage."))
    if not counts:
        return None
    # Prefer a metric every run has; among those, a score over a loss over anything else.
    top = max(counts.values())
    candidates = sorted(k for k, c in counts.items() if c == top)
    for pattern in ("score", "accuracy", "auc", "f1", "r2", "loss", "error"):
        for k in candidates:
            if pattern in k.lower():
                return k
    return candidates[0]


def load_chains(
    store: TraceStore,
    *,
    source_ids: Sequence[int] | None = None,
    source_kinds: Sequence[str] | None = None,
    chain_keys: Sequence[str] | None = None,
    users: Sequence[str] | None = None,
    min_steps: int = 2,
) -> list[Chain]:
    """Read iteration chains from the trace store.

    Args:
        store: The trace store.
        source_ids: Only chains of these sources.
        source_kinds: Only chains of these source kinds (``mlflow``, ``openml``, ``executor``).
        chain_keys: Only these chains.
        users: Only chains of these users.
        min_steps: Leave out chains with fewer runs.

    Returns:
        Chains in ``chain_key`` order; steps in position order.
    """
    with store.connect() as conn:
        return _load(conn, source_ids, source_kinds, chain_keys, users, min_steps)


def _load(
    conn: Connection,
    source_ids: Sequence[int] | None,
    source_kinds: Sequence[str] | None,
    chain_keys: Sequence[str] | None,
    users: Sequence[str] | None,
    min_steps: int,
) -> list[Chain]:
    it, runs, sources = t.iterations, t.runs, t.sources
    query = (
        select(
            it.c.chain_key,
            it.c.position,
            it.c.unit,
            it.c.changed_params,
            it.c.changed_operators,
            runs.c.id,
            runs.c.start_ms,
            runs.c.user,
            runs.c.pipeline_id,
            sources.c.kind,
        )
        .select_from(
            it.join(runs, runs.c.id == it.c.run_id).join(sources, sources.c.id == runs.c.source_id)
        )
        .order_by(it.c.chain_key, it.c.position)
    )
    if source_ids:
        query = query.where(runs.c.source_id.in_(list(source_ids)))
    if source_kinds:
        query = query.where(sources.c.kind.in_(list(source_kinds)))
    if chain_keys:
        query = query.where(it.c.chain_key.in_(list(chain_keys)))
    if users:
        query = query.where(runs.c.user.in_(list(users)))
    rows = conn.execute(query).all()
    if not rows:
        return []
    run_ids = [r.id for r in rows]
    pipelines = _pipelines(conn, {r.pipeline_id for r in rows if r.pipeline_id is not None})
    params = _param_values(conn, [r.id for r in rows if r.pipeline_id is None])
    metrics = _metrics(conn, run_ids)
    roles = _executor_roles(conn, run_ids)
    grouped: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        grouped[r.chain_key].append(r)
    chains = []
    for key, members in grouped.items():
        if len(members) < min_steps:
            continue
        metric_key = _primary_metric(metrics.get(m.id, {}) for m in members)
        units_kind = Counter(m.unit for m in members[1:]).most_common(1)
        unit = (
            units_kind[0][0]
            if units_kind
            else ("operators" if members[0].pipeline_id else "params")
        )
        steps = []
        for m in members:
            if m.pipeline_id is not None and m.pipeline_id in pipelines:
                ops = pipelines[m.pipeline_id]
                names = tuple(n for n, _, _ in ops)
                role, depth, desc = dag_layout([(n, ins) for n, ins, _ in ops])
                role.update({n: r for n, r in roles.get(m.id, {}).items() if n in role})
                versions = {n: fp for n, _, fp in ops}
            else:
                versions = params.get(m.id, {})
                names = tuple(versions)
                role, depth, desc = linear_layout(names, "params")
            changed = m.changed_operators if m.unit == "operators" else m.changed_params
            value = metrics.get(m.id, {}).get(metric_key) if metric_key else None
            steps.append(
                Step(
                    units=names,
                    changed=frozenset(changed or ()),
                    start_ms=m.start_ms,
                    metric=orient(metric_key, value) if metric_key else None,
                    roles=role,
                    depth=depth,
                    descendants=desc,
                    versions=versions,
                    run_id=m.id,
                    metric_values=tuple(
                        v
                        for v in metrics.get(m.id, {}).values()
                        if v is not None and math.isfinite(v)
                    ),
                )
            )
        chains.append(
            Chain(key=key, user=members[0].user, steps=steps, unit=unit, origin=members[0].kind)
        )
    return chains


def _pipelines(conn: Connection, ids: set[int]) -> dict[int, list[tuple[str, list[str], str]]]:
    out: dict[int, list[tuple[str, list[str], str]]] = defaultdict(list)
    ordered = sorted(ids)
    po = t.pipeline_operators
    for i in range(0, len(ordered), _CHUNK):
        for pid, name, inputs, fp in conn.execute(
            select(po.c.pipeline_id, po.c.name, po.c.inputs, po.c.fingerprint)
            .where(po.c.pipeline_id.in_(ordered[i : i + _CHUNK]))
            .order_by(po.c.pipeline_id, po.c.position)
        ):
            out[pid].append((name, list(inputs or []), fp))
    return out


def _param_values(conn: Connection, run_ids: list[int]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = defaultdict(dict)
    for i in range(0, len(run_ids), _CHUNK):
        for rid, key, value in conn.execute(
            select(t.params.c.run_id, t.params.c.key, t.params.c.value)
            .where(t.params.c.run_id.in_(run_ids[i : i + _CHUNK]))
            .order_by(t.params.c.run_id, t.params.c.key)
        ):
            out[rid][key] = value
    return out


def _metrics(conn: Connection, run_ids: list[int]) -> dict[int, dict[str, float | None]]:
    out: dict[int, dict[str, float | None]] = defaultdict(dict)
    mh = t.metric_histories
    for i in range(0, len(run_ids), _CHUNK):
        for rid, key, value in conn.execute(
            select(mh.c.run_id, mh.c.key, mh.c.last_value).where(
                mh.c.run_id.in_(run_ids[i : i + _CHUNK])
            )
        ):
            out[rid][key] = value
    return out


def _executor_roles(conn: Connection, run_ids: list[int]) -> dict[int, dict[str, str]]:
    """Operator roles recorded by Mileage's executor (absent for other sources)."""
    table = t.operator_executions
    out: dict[int, dict[str, str]] = defaultdict(dict)
    for i in range(0, len(run_ids), _CHUNK):
        for rid, name, role in conn.execute(
            select(table.c.run_id, table.c.operator, table.c.role).where(
                table.c.run_id.in_(run_ids[i : i + _CHUNK])
            )
        ):
            out[rid][name] = role
    return out


def diff_units(previous: Mapping[str, str], current: Mapping[str, str]) -> frozenset[str]:
    """Units whose fingerprint differs between two runs (added and removed ones included)."""
    return frozenset(
        k for k in previous.keys() | current.keys() if previous.get(k) != current.get(k)
    )


__all__ = [
    "Chain",
    "Step",
    "dag_layout",
    "diff_units",
    "linear_layout",
    "load_chains",
    "orient",
]
