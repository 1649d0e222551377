"""Load or recompute: the cheapest way to obtain a workflow's outputs from its cache.

Every operator is either loaded (only if its output is cached), computed (its inputs must
then be available) or skipped, and every sink must be available. Minimising the total cost
is a minimum-weight closure problem, solved exactly with one minimum cut (as in Helix):
variable ``A_i`` (output available) costs the load time ``l_i``, variable ``C_i`` (computed)
costs ``c_i - l_i``, with the implications ``C_i => A_i``, ``C_i => A_p`` for each input
``p``, ``A_i => C_i`` when nothing is cached, and ``A_sink`` forced. Sharing is handled
exactly: an input used by two operators is obtained once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ExecutionPlan:
    """Which outputs to load and which to compute (the rest is not needed).

    Attributes:
        load: Operators whose cached output is read.
        compute: Operators that run.
        cost: Estimated total seconds.
    """

    load: frozenset[str]
    compute: frozenset[str]
    cost: float


class _Flow:
    """Edmonds-Karp maximum flow on a small graph (a few hundred nodes at most)."""

    def __init__(self, n: int) -> None:
        self.cap: list[dict[int, float]] = [dict() for _ in range(n)]

    def add(self, u: int, v: int, c: float) -> None:
        self.cap[u][v] = self.cap[u].get(v, 0.0) + c
        self.cap[v].setdefault(u, 0.0)

    def max_flow(self, s: int, t: int) -> None:
        while True:
            parent = {s: s}
            queue = deque([s])
            while queue and t not in parent:
                u = queue.popleft()
                for v, c in self.cap[u].items():
                    if c > 1e-12 and v not in parent:
                        parent[v] = u
                        queue.append(v)
            if t not in parent:
                return
            bottleneck, v = float("inf"), t
            while v != s:
                u = parent[v]
                bottleneck = min(bottleneck, self.cap[u][v])
                v = u
            v = t
            while v != s:
                u = parent[v]
                self.cap[u][v] -= bottleneck
                self.cap[v][u] += bottleneck
                v = u

    def reachable(self, s: int) -> set[int]:
        seen, stack = {s}, [s]
        while stack:
            u = stack.pop()
            for v, c in self.cap[u].items():
                if c > 1e-12 and v not in seen:
                    seen.add(v)
                    stack.append(v)
        return seen


def plan_execution(
    order: Sequence[str],
    inputs: Mapping[str, Sequence[str]],
    sinks: Sequence[str],
    compute_cost: Mapping[str, float],
    load_cost: Mapping[str, float],
) -> ExecutionPlan:
    """The cheapest set of loads and computations that makes every sink available.

    Args:
        order: Operators in topological order.
        inputs: Operator inputs of each operator (data sources left out: they are free).
        sinks: Outputs the caller needs.
        compute_cost: Estimated seconds to run each operator once its inputs are available.
        load_cost: Estimated seconds to read each *cached* output; operators absent from it
            are not cached and cannot be loaded.

    Returns:
        The optimal plan (exact, by minimum cut).
    """
    index = {n: i for i, n in enumerate(order)}
    n = len(order)
    source, sink = 2 * n, 2 * n + 1
    flow = _Flow(2 * n + 2)
    big = 1.0 + sum(abs(compute_cost.get(o, 0.0)) + abs(load_cost.get(o, 0.0)) for o in order)
    big *= 4

    def avail(i: int) -> int:
        return i

    def comp(i: int) -> int:
        return n + i

    def weight(node: int, w: float) -> None:
        # Minimum-weight closure: a node of negative weight is a profit (source edge), one of
        # positive weight a cost (sink edge).
        if w < 0:
            flow.add(source, node, -w)
        elif w > 0:
            flow.add(node, sink, w)

    for name in order:
        i = index[name]
        c = max(0.0, float(compute_cost.get(name, 0.0)))
        cached = name in load_cost
        l_cost = max(0.0, float(load_cost[name])) if cached else 0.0
        weight(avail(i), l_cost)
        weight(comp(i), c - l_cost)
        flow.add(comp(i), avail(i), big)
        for p in inputs.get(name, ()):
            flow.add(comp(i), avail(index[p]), big)
        if not cached:
            flow.add(avail(i), comp(i), big)
    for name in sinks:
        flow.add(source, avail(index[name]), big)
    flow.max_flow(source, sink)
    closure = flow.reachable(source)
    compute = frozenset(name for name in order if comp(index[name]) in closure)
    load = frozenset(
        name for name in order if avail(index[name]) in closure and name not in compute
    )
    cost = sum(compute_cost.get(c, 0.0) for c in compute) + sum(load_cost[x] for x in load)
    return ExecutionPlan(load=load, compute=compute, cost=cost)


__all__ = ["ExecutionPlan", "plan_execution"]
