"""Materialization policies: which outputs of a finished run to keep, in which eviction order.

After each run the executor asks the policy for a :class:`MaterializationPlan`: the outputs
to write (with their priorities) and new priorities for entries already stored. The cache
then admits writes by priority under its byte budget (see ``IntermediateCache``).

* :class:`NothingPolicy` keeps nothing.
* :class:`EverythingPolicy` keeps every output, evicting the least recently used.
* :class:`HelixPolicy` keeps an output when recomputing it from scratch (its own and its
  ancestors' compute time) costs more than twice loading it, evicting the least recently
  used: the online rule of Helix (Xin et al., VLDB 2018), given LRU eviction under a budget.
* :class:`PredictivePolicy` (Mileage's) keeps outputs by expected saving per byte, from the
  next-change model's probabilities and the measured costs, respecting the DAG.
* :class:`OraclePolicy` knows the chain's future workflows: the reference the others are
  measured against in ``benchmarks/materialize.py``.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from mileage.metalearner.materialize._base import IntermediateCache

if TYPE_CHECKING:
    from mileage.metalearner.nextstep import Chain, ChangePredictor
    from mileage.metalearner.workflow import Workflow

#: Change probability assumed per role when nothing better is known.
ROLE_CHANGE_RATES = {
    "data": 0.05,
    "preprocessing": 0.15,
    "model": 0.5,
    "evaluation": 0.1,
}


@dataclass(frozen=True)
class OutputStats:
    """Costs of one operator output in the run being planned.

    Attributes:
        operator: Operator name.
        key: Output fingerprint.
        compute_seconds: Measured in this run, else the last measurement or the entry's.
        nbytes: Size of the encoded output; None when it cannot be cached or is unknown.
        load_seconds: Expected time to load it from the cache.
        write_seconds: Expected time to write it.
        cached: Whether the cache holds it.
        fresh: Computed in this run and not cached: a candidate to write.
    """

    operator: str
    key: str
    compute_seconds: float
    nbytes: int | None
    load_seconds: float
    write_seconds: float
    cached: bool
    fresh: bool


@dataclass
class PlanContext:
    """What a policy may look at when planning.

    Attributes:
        workflow: The workflow just run.
        keys: Output fingerprint of each operator.
        outputs: Costs of each operator's output.
        cache: The cache (read only for the policy).
        chain: The iteration chain including this run, when the trace store has it.
        context: Other chains of the same user (for the next-change model).
    """

    workflow: Workflow
    keys: dict[str, str]
    outputs: dict[str, OutputStats]
    cache: IntermediateCache
    chain: Chain | None = None
    context: Sequence[Chain] = ()


@dataclass(frozen=True)
class MaterializationPlan:
    """A policy's decision for one finished run.

    Attributes:
        writes: ``(operator, priority)`` to write, most valuable first.
        priorities: New priorities of entries already in the cache, by key.
        change_probability: The probabilities the decision used, per operator.
        values: Expected saving (seconds) of each candidate, for reports.
    """

    writes: list[tuple[str, float]] = field(default_factory=list)
    priorities: dict[str, float] = field(default_factory=dict)
    change_probability: dict[str, float] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)


class MaterializationPolicy(abc.ABC):
    """Decides what a finished run leaves in the cache.

    Contract: :meth:`plan` only decides; it never writes to the cache. Priorities order
    eviction (lower goes first); a cache should be used with one policy, since policies
    express priorities in different units (seconds saved per byte, or recency).
    """

    name: ClassVar[str] = "policy"
    #: Whether a read refreshes the entry's priority to "now" (least-recently-used eviction).
    refresh_on_read: ClassVar[bool] = False

    @abc.abstractmethod
    def plan(self, ctx: PlanContext) -> MaterializationPlan:
        """The writes and priority updates for the run described by ``ctx``."""

    def read_priority(self) -> float:
        """Priority given to an entry when it is read (if :attr:`refresh_on_read`)."""
        return time.time()


class NothingPolicy(MaterializationPolicy):
    """Materialize nothing: every run recomputes everything."""

    name = "nothing"

    def plan(self, ctx: PlanContext) -> MaterializationPlan:
        return MaterializationPlan()


class EverythingPolicy(MaterializationPolicy):
    """Materialize every output; evict the least recently used."""

    name = "everything"
    refresh_on_read = True

    def plan(self, ctx: PlanContext) -> MaterializationPlan:
        now = time.time()
        writes = [
            (op, now)
            for op in ctx.workflow.order
            if ctx.outputs[op].fresh and ctx.outputs[op].nbytes
        ]
        return MaterializationPlan(writes=writes)


class HelixPolicy(MaterializationPolicy):
    """Helix's rule: keep an output if recomputing it from scratch costs > 2x loading it."""

    name = "helix"
    refresh_on_read = True

    def plan(self, ctx: PlanContext) -> MaterializationPlan:
        now = time.time()
        writes = []
        for op in ctx.workflow.order:
            out = ctx.outputs[op]
            if not (out.fresh and out.nbytes):
                continue
            cumulative = out.compute_seconds + sum(
                ctx.outputs[a].compute_seconds for a in ctx.workflow.ancestors(op)
            )
            if cumulative > 2.0 * out.load_seconds:
                writes.append((op, now))
        return MaterializationPlan(writes=writes)


# -- expected savings ------------------------------------------------------------------------


def _saving_terms(
    wf: Workflow,
    outputs: Mapping[str, OutputStats],
    stored: set[str],
    valid: Callable[[str], float],
) -> tuple[dict[str, float], dict[str, float]]:
    """Per operator: P(needed next | valid) and recompute cost R, given the stored outputs.

    ``valid(op)`` is the probability that the operator's output keeps its fingerprint in
    the next iteration.
    """
    obtain: dict[str, float] = {}
    recompute: dict[str, float] = {}
    for op in wf.order:
        out = outputs[op]
        r = out.compute_seconds + sum(obtain[p] for p in wf.operator_inputs(op))
        recompute[op] = r
        obtain[op] = min(out.load_seconds, r) if op in stored else r
    need: dict[str, float] = {}
    for op in reversed(wf.order):
        consumers = wf.consumers[op]
        if not consumers:
            need[op] = 1.0
            continue
        miss = 1.0
        v_op = max(valid(op), 1e-12)
        for k in consumers:
            loadable = min(1.0, valid(k) / v_op) if k in stored else 0.0
            miss *= 1.0 - need[k] * (1.0 - loadable)
        need[op] = 1.0 - miss
    return need, recompute


def _greedy(
    ctx: PlanContext,
    value: Callable[[str, set[str]], float],
    initially_stored: set[str],
) -> tuple[list[tuple[str, float]], dict[str, float], dict[str, float]]:
    """Pick writes by (value - write cost) per byte, re-valuing after each pick."""
    stored = set(initially_stored)
    candidates = [
        op for op in ctx.workflow.order if ctx.outputs[op].fresh and ctx.outputs[op].nbytes
    ]
    budget = ctx.cache.budget_bytes
    planned = 0
    writes: list[tuple[str, float]] = []
    values: dict[str, float] = {}
    while candidates:
        best, best_density, best_value = None, 0.0, 0.0
        for op in candidates:
            out = ctx.outputs[op]
            v = value(op, stored)
            values.setdefault(op, v)
            net = v - out.write_seconds
            density = net / max(1, out.nbytes or 1)
            if net > 0 and density > best_density:
                best, best_density, best_value = op, density, v
        if best is None:
            break
        size = ctx.outputs[best].nbytes or 0
        candidates.remove(best)
        if budget is not None and planned + size > budget:
            continue
        planned += size
        stored.add(best)
        values[best] = best_value
        writes.append((best, best_density))
    refreshed: dict[str, float] = {}
    for op in initially_stored:
        out = ctx.outputs[op]
        v = value(op, stored - {op})
        values[op] = v
        refreshed[ctx.keys[op]] = v / max(1, out.nbytes or 1)
    return writes, refreshed, values


class PredictivePolicy(MaterializationPolicy):
    """Keep outputs by expected saving per byte (Mileage's policy).

    For an operator ``i`` with change probabilities ``q`` from the next-change model:

    * ``P(valid)``: ``i`` and all its ancestors unchanged, ``prod(1 - q_j)``;
    * ``P(needed | valid)``: some consumer must be recomputed and cannot be loaded itself
      (an output whose consumers are all kept and unlikely to change is worth less);
    * saving per reuse: recomputing ``i`` from the nearest stored ancestors minus loading it;
    * expected saving: ``P(needed) * saving * sum_{h=1..horizon} P(valid)^h`` (reuse over the
      next ``horizon`` iterations).

    Outputs are written greedily by (expected saving - write cost) per byte, re-valued after
    each pick; stored outputs of this workflow get their value per byte as new priority.
    An output of an earlier version is valued like the current version's output of the same
    operator, times the probability that the next iteration goes back to that version
    (estimated from how often the chain's changes returned to an earlier version).

    Args:
        predictor: A fitted next-change predictor; without one, each operator's change rate
            in the chain so far is used (with :data:`ROLE_CHANGE_RATES` as prior).
        horizon: Iterations over which reuse is counted.
    """

    name = "ours"

    def __init__(self, predictor: ChangePredictor | None = None, *, horizon: int = 10) -> None:
        self.predictor = predictor
        self.horizon = horizon

    def change_probabilities(self, ctx: PlanContext) -> dict[str, float]:
        """P(each operator changes in the next iteration)."""
        wf = ctx.workflow
        probs: dict[str, float] = {}
        if ctx.chain is not None and self.predictor is not None:
            probs = self.predictor.predict_proba_next(ctx.chain, context=ctx.context)
        out = {}
        for op in wf:
            if op.name in probs:
                out[op.name] = min(1.0, max(0.0, probs[op.name]))
                continue
            prior = ROLE_CHANGE_RATES.get(op.role, 0.2)
            if ctx.chain is not None and ctx.chain.n_links:
                changes = sum(op.name in s.changed for s in ctx.chain.steps[1:])
                out[op.name] = (changes + 2 * prior) / (ctx.chain.n_links + 2)
            else:
                out[op.name] = prior
        return out

    def plan(self, ctx: PlanContext) -> MaterializationPlan:
        wf = ctx.workflow
        q = self.change_probabilities(ctx)
        valid: dict[str, float] = {}
        for op in wf.order:
            v = 1.0 - q[op]
            for a in wf.ancestors(op):
                v *= 1.0 - q[a]
            valid[op] = v

        def value(op: str, stored: set[str]) -> float:
            need, recompute = _saving_terms(wf, ctx.outputs, stored, valid.__getitem__)
            saving = max(0.0, recompute[op] - ctx.outputs[op].load_seconds)
            v = valid[op]
            reuses = sum(v**h for h in range(1, self.horizon + 1))
            return need[op] * saving * reuses

        stored = {op for op in wf.order if ctx.outputs[op].cached}
        writes, refreshed, values = _greedy(ctx, value, stored)
        # Outputs of earlier versions: worth something if the user goes back to that version
        # next, then valued like the current version's output of the same operator.
        final = stored | {op for op, _ in writes}
        need, _ = _saving_terms(wf, ctx.outputs, final, valid.__getitem__)
        current = set(ctx.keys.values())
        revisit = self.revisit_probabilities(ctx, q)
        for entry in ctx.cache.entries():
            if entry.workflow != wf.name or entry.key in current:
                continue
            op = entry.operator
            v = valid.get(op, 0.5)
            reuses = sum(v**h for h in range(self.horizon))
            load = entry.load_seconds or ctx.cache.estimate_load_seconds(entry.bytes)
            saving = max(0.0, entry.compute_seconds - load)
            worth = revisit.get(op, 0.0) * need.get(op, 1.0) * saving * reuses
            refreshed[entry.key] = worth / max(1, entry.bytes)
        return MaterializationPlan(writes, refreshed, q, values)

    @staticmethod
    def revisit_probabilities(ctx: PlanContext, q: Mapping[str, float]) -> dict[str, float]:
        """P(the next iteration brings back one given earlier version of each operator).

        From the chain: the share of an operator's changes that returned to a version seen
        before (Beta(1, 1) prior), times its change probability, spread over its earlier
        versions. Outputs of earlier versions are worth keeping in proportion.
        """
        if ctx.chain is None or not ctx.chain.steps:
            return {}
        seen: dict[str, set[str]] = {}
        changes: dict[str, int] = {}
        returns: dict[str, int] = {}
        previous: Mapping[str, str] = {}
        for step in ctx.chain.steps:
            for op, version in step.versions.items():
                before = previous.get(op)
                if before is not None and version != before:
                    changes[op] = changes.get(op, 0) + 1
                    if version in seen.get(op, set()):
                        returns[op] = returns.get(op, 0) + 1
                seen.setdefault(op, set()).add(version)
            previous = step.versions
        current = ctx.chain.steps[-1].versions
        out = {}
        for op, versions in seen.items():
            earlier = len(versions - {current.get(op, "")})
            if earlier:
                rate = (returns.get(op, 0) + 1) / (changes.get(op, 0) + 2)
                out[op] = q.get(op, ROLE_CHANGE_RATES["preprocessing"]) * rate / earlier
        return out


class OraclePolicy(MaterializationPolicy):
    """Knows every future iteration of the chain (a reference, not a usable policy).

    Values each output by the time it will actually save in the coming iterations, given
    what is stored: for each future workflow holding the same fingerprint, whether a
    consumer will need it and cannot be loaded itself, and how much recomputing it would
    cost. Costs are those measured so far (the oracle knows the future changes, not the
    future timings). Each call to :meth:`plan` advances one iteration.

    Args:
        future: ``(workflow, output fingerprints)`` of every iteration of the chain, from
            the first; the policy's n-th plan is for the n-th iteration.
        horizon: Future iterations counted (None: all).
    """

    name = "oracle"

    def __init__(
        self, future: Sequence[tuple[Workflow, Mapping[str, str]]], *, horizon: int | None = None
    ) -> None:
        self.future = list(future)
        self.horizon = horizon
        self._t = 0

    def plan(self, ctx: PlanContext) -> MaterializationPlan:
        t = self._t
        self._t += 1
        upcoming = self.future[t + 1 :]
        if self.horizon is not None:
            upcoming = upcoming[: self.horizon]
        measured = ctx.cache.measurements(ctx.workflow.name)
        by_key = {s.key: s for s in ctx.outputs.values()}

        def cost(op: str, key: str) -> tuple[float, float]:
            if key in by_key:
                return by_key[key].compute_seconds, by_key[key].load_seconds
            m = measured.get(op)
            c = m.compute_seconds if m else 0.0
            load = ctx.cache.estimate_load_seconds(m.output_bytes) if m else 0.0
            return c, load

        prepared = []
        for wf, keys in upcoming:
            stats = {}
            for o in wf.order:
                c, load = cost(o, keys[o])
                stats[o] = OutputStats(o, keys[o], c, None, load, 0.0, False, False)
            prepared.append((wf, keys, {k: o for o, k in keys.items()}, stats))

        def value_of_key(key: str, stored_keys: set[str]) -> float:
            total = 0.0
            for wf, keys, owners, stats in prepared:
                owner = owners.get(key)
                if owner is None:
                    continue
                stored = {o for o in wf.order if keys[o] in stored_keys}
                need, recompute = _saving_terms(wf, stats, stored, lambda _o: 1.0)
                if need[owner] > 0.5:
                    total += max(0.0, recompute[owner] - stats[owner].load_seconds)
            return total

        cached_keys = {e.key for e in ctx.cache.entries()}

        def value(op: str, stored_ops: set[str]) -> float:
            stored_keys = cached_keys | {ctx.keys[o] for o in stored_ops}
            stored_keys.discard(ctx.keys[op])
            return value_of_key(ctx.keys[op], stored_keys)

        stored = {op for op in ctx.workflow.order if ctx.outputs[op].cached}
        writes, refreshed, values = _greedy(ctx, value, stored)
        current = set(ctx.keys.values())
        chosen = {ctx.keys[o] for o, _ in writes} | {ctx.keys[o] for o in stored}
        for entry in ctx.cache.entries():
            if entry.key not in current:
                v = value_of_key(entry.key, (cached_keys | chosen) - {entry.key})
                refreshed[entry.key] = v / max(1, entry.bytes)
        return MaterializationPlan(writes, refreshed, {}, values)


POLICIES: dict[str, type[MaterializationPolicy]] = {
    "nothing": NothingPolicy,
    "everything": EverythingPolicy,
    "helix": HelixPolicy,
    "ours": PredictivePolicy,
}


__all__ = [
    "POLICIES",
    "ROLE_CHANGE_RATES",
    "EverythingPolicy",
    "HelixPolicy",
    "MaterializationPlan",
    "MaterializationPolicy",
    "NothingPolicy",
    "OraclePolicy",
    "OutputStats",
    "PlanContext",
    "PredictivePolicy",
]
