"""Features of "will this unit change in the next iteration?", one row per (step, unit).

For step ``t`` of a chain and every unit seen so far, the row describes the chain up to
``t`` only (no look-ahead): how often and how recently the unit changed, what tended to
follow the last change (in this chain and in the training chains), where the unit sits in
the DAG, how the metric moved after its past changes, the time between runs, and how this
user changed units of the same name in earlier chains. The label is whether the unit
changes at step ``t + 1``.

Priors learned from training chains (per unit name, per role, global transitions) are
computed leaving the row's own chain out during fitting, so no chain sees its own future.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mileage.metalearner.nextstep._chains import Chain

ROLE_CODES = {
    "data": 0,
    "preprocessing": 1,
    "model": 2,
    "evaluation": 3,
    "param": 4,
    "unknown": 5,
}

FEATURES = (
    "links_seen",
    "log_links_seen",
    "present",
    "n_units",
    "change_count",
    "change_freq",
    "change_freq_smoothed",
    "since_last_change",
    "changed_last",
    "changed_before_last",
    "streak",
    "recent3_share",
    "chain_markov",
    "chain_markov_support",
    "last_change_size",
    "role",
    "depth",
    "relative_depth",
    "descendants",
    "is_sink",
    "prior_name",
    "prior_name_support",
    "prior_role",
    "global_markov",
    "metric_last_delta",
    "metric_improved_best",
    "metric_delta_after_unit",
    "metric_delta_after_unit_last",
    "log_gap_seconds",
    "gap_ratio",
    "user_rate",
    "user_links",
)
#: Columns LightGBM treats as categorical.
CATEGORICAL = ("role",)
_NEVER = 50.0


@dataclass
class _Counts:
    changes: float = 0.0
    chances: float = 0.0

    def rate(self, default: float) -> float:
        return self.changes / self.chances if self.chances > 0 else default


@dataclass
class Priors:
    """Change rates learned from training chains, with each chain's own share kept apart.

    Attributes:
        by_name: ``unit name -> [changes, chances]`` over all training links.
        by_role: Same per role.
        transitions: ``(from name, to name) -> count`` of consecutive-link pairs.
        occurrences: ``name -> count`` of links (with a successor) where it changed.
        base_rate: Share of (link, unit) pairs that changed.
        own: Each chain's own contributions, subtracted when featurising that chain.
    """

    by_name: dict[str, list[float]] = field(default_factory=dict)
    by_role: dict[str, list[float]] = field(default_factory=dict)
    transitions: dict[str, float] = field(default_factory=dict)
    occurrences: dict[str, float] = field(default_factory=dict)
    base_rate: float = 0.0
    own: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @classmethod
    def fit(cls, chains: Sequence[Chain]) -> Priors:
        """Count changes, chances and transitions over ``chains``."""
        priors = cls()
        total = [0.0, 0.0]
        for chain in chains:
            own = _chain_counts(chain)
            priors.own[chain.key] = own
            for table, key in ((priors.by_name, "by_name"), (priors.by_role, "by_role")):
                for name, (c, n) in own[key].items():
                    cur = table.setdefault(name, [0.0, 0.0])
                    cur[0] += c
                    cur[1] += n
            for pair, c in own["transitions"].items():
                priors.transitions[pair] = priors.transitions.get(pair, 0.0) + c
            for name, c in own["occurrences"].items():
                priors.occurrences[name] = priors.occurrences.get(name, 0.0) + c
            total[0] += own["total"][0]
            total[1] += own["total"][1]
        priors.base_rate = total[0] / total[1] if total[1] else 0.3
        return priors

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (without per-chain contributions)."""
        return {
            "by_name": self.by_name,
            "by_role": self.by_role,
            "transitions": self.transitions,
            "occurrences": self.occurrences,
            "base_rate": self.base_rate,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Priors:
        """Inverse of :meth:`to_json`."""
        return cls(
            by_name={k: list(v) for k, v in data["by_name"].items()},
            by_role={k: list(v) for k, v in data["by_role"].items()},
            transitions=dict(data["transitions"]),
            occurrences=dict(data["occurrences"]),
            base_rate=float(data["base_rate"]),
        )

    def _without(
        self, table: dict[str, list[float]], own: dict[str, list[float]], key: str
    ) -> _Counts:
        c, n = table.get(key, (0.0, 0.0))
        oc, on = own.get(key, (0.0, 0.0))
        return _Counts(c - oc, n - on)

    def view(self, chain_key: str | None) -> _PriorView:
        """Priors as seen by one chain (its own counts removed when it was a training chain)."""
        own = self.own.get(chain_key or "", None)
        return _PriorView(self, own)


class _PriorView:
    def __init__(self, priors: Priors, own: dict[str, Any] | None) -> None:
        self.p = priors
        self.own = own or {"by_name": {}, "by_role": {}, "transitions": {}, "occurrences": {}}

    def name(self, unit: str) -> _Counts:
        return self.p._without(self.p.by_name, self.own["by_name"], unit)

    def role(self, role: str) -> _Counts:
        return self.p._without(self.p.by_role, self.own["by_role"], role)

    def transition(self, a: str, b: str) -> float:
        key = f"{a}\x1f{b}"
        return self.p.transitions.get(key, 0.0) - self.own["transitions"].get(key, 0.0)

    def occurrence(self, a: str) -> float:
        return self.p.occurrences.get(a, 0.0) - self.own["occurrences"].get(a, 0.0)


def _role(chain: Chain, t: int, unit: str) -> str:
    for k in range(t, -1, -1):
        r = chain.steps[k].roles.get(unit)
        if r:
            return r
    return "param" if chain.unit == "params" else "unknown"


def _chain_counts(chain: Chain) -> dict[str, Any]:
    by_name: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    by_role: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    transitions: Counter[str] = Counter()
    occurrences: Counter[str] = Counter()
    total = [0.0, 0.0]
    steps = chain.steps
    for k in range(1, len(steps)):
        candidates = set(steps[k - 1].units) | steps[k].changed
        for u in candidates:
            hit = 1.0 if u in steps[k].changed else 0.0
            role = _role(chain, k - 1, u)
            for table, key in ((by_name, u), (by_role, role)):
                table[key][0] += hit
                table[key][1] += 1.0
            total[0] += hit
            total[1] += 1.0
        if k + 1 < len(steps):
            for a in steps[k].changed:
                occurrences[a] += 1
                for b in steps[k + 1].changed:
                    transitions[f"{a}\x1f{b}"] += 1
    return {
        "by_name": dict(by_name),
        "by_role": dict(by_role),
        "transitions": dict(transitions),
        "occurrences": dict(occurrences),
        "total": total,
    }


def user_histories(chains: Sequence[Chain]) -> dict[str, dict[str, list[float]]]:
    """For each chain, its user's change counts per unit name in the user's earlier chains."""
    by_user: dict[str, list[Chain]] = defaultdict(list)
    for c in chains:
        if c.user:
            by_user[c.user].append(c)
    out: dict[str, dict[str, list[float]]] = {}
    for members in by_user.values():

        def first(c: Chain) -> float:
            return float(c.steps[0].start_ms or 0) if c.steps else 0.0

        def last(c: Chain) -> float:
            return float(c.steps[-1].start_ms or 0) if c.steps else 0.0

        for c in members:
            earlier = [o for o in members if o is not c and last(o) < first(c)]
            agg: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
            for o in earlier:
                for name, (ch, n) in _chain_counts(o)["by_name"].items():
                    agg[name][0] += ch
                    agg[name][1] += n
            out[c.key] = dict(agg)
    return out


def iter_rows(  # noqa: C901, PLR0915 - one pass keeping running sums per step
    chain: Chain,
    priors: Priors,
    user_history: dict[str, list[float]] | None = None,
    *,
    last_only: bool = False,
    leave_own_out: bool = True,
) -> Iterator[tuple[int, str, list[float], int | None]]:
    """Yield ``(t, unit, features, label)`` for every step (or only the last one).

    The label is None for the last step (its next iteration is unknown).
    """
    view = priors.view(chain.key if leave_own_out else None)
    steps = chain.steps
    user_history = user_history or {}
    user_links = sum(n for _, n in user_history.values())
    seen: dict[str, None] = {}
    count: Counter[str] = Counter()
    last_change: dict[str, int] = {}
    trans: Counter[tuple[str, str]] = Counter()
    occ: Counter[str] = Counter()
    deltas_after: dict[str, list[float]] = defaultdict(list)
    metrics: list[float] = []
    gaps: list[float] = []
    for t, step in enumerate(steps):
        for u in step.units:
            seen.setdefault(u, None)
        for u in step.changed:
            seen.setdefault(u, None)
        if t >= 1:
            for u in step.changed:
                count[u] += 1
                last_change[u] = t
            if t >= 2:
                for a in steps[t - 1].changed:
                    occ[a] += 1
                    for b in step.changed:
                        trans[(a, b)] += 1
            before = steps[t - 1].start_ms
            if step.start_ms is not None and before is not None:
                gaps.append(max(0.0, (step.start_ms - before) / 1000.0))
        if step.metric is not None and math.isfinite(step.metric):
            metrics.append(step.metric)
        scale = _spread(metrics)
        last_delta = 0.0
        improved = 0.0
        prev, cur = (steps[t - 1].metric if t >= 1 else None), step.metric
        if prev is not None and cur is not None and math.isfinite(prev) and math.isfinite(cur):
            last_delta = (cur - prev) / scale
            earlier = [
                s.metric for s in steps[:t] if s.metric is not None and math.isfinite(s.metric)
            ]
            improved = 1.0 if earlier and cur > max(earlier) else 0.0
            for u in step.changed:
                deltas_after[u].append(last_delta)
        if last_only and t != len(steps) - 1:
            continue
        label_set = steps[t + 1].changed if t + 1 < len(steps) else None
        n_units = len(step.units)
        depth_max = max([d for d in step.depth.values() if d >= 0], default=0)
        gap = gaps[-1] if gaps else -1.0
        median_gap = sorted(gaps)[len(gaps) // 2] if gaps else 0.0
        for u in seen:
            role = _role(chain, t, u)
            name_prior = view.name(u)
            role_prior = view.role(role)
            prior_role = role_prior.rate(priors.base_rate)
            prior_name = name_prior.rate(prior_role)
            c = count[u]
            support = sum(occ[a] for a in step.changed) if t >= 1 else 0
            markov = sum(trans[(a, u)] for a in step.changed) / support if support else -1.0
            g_support = sum(view.occurrence(a) for a in step.changed) if t >= 1 else 0.0
            g_markov = (
                sum(view.transition(a, u) for a in step.changed) / g_support
                if g_support > 0
                else -1.0
            )
            streak = 0
            k = t
            while k >= 1 and u in steps[k].changed:
                streak += 1
                k -= 1
            recent = [steps[k].changed for k in range(max(1, t - 2), t + 1)] if t >= 1 else []
            depth = float(step.depth.get(u, -1))
            desc = float(step.descendants.get(u, -1))
            uh = user_history.get(u)
            after = deltas_after.get(u, [])
            features = [
                float(t),
                math.log1p(t),
                1.0 if u in step.units else 0.0,
                float(n_units),
                float(c),
                c / t if t else 0.0,
                (c + 2.0 * prior_name) / (t + 2.0),
                float(t - last_change[u]) if u in last_change else _NEVER,
                1.0 if t >= 1 and u in step.changed else 0.0,
                1.0 if t >= 2 and u in steps[t - 1].changed else 0.0,
                float(streak),
                sum(1 for r in recent if u in r) / len(recent) if recent else 0.0,
                markov,
                float(support),
                len(step.changed) / n_units if t >= 1 and n_units else 0.0,
                float(ROLE_CODES.get(role, ROLE_CODES["unknown"])),
                depth,
                depth / depth_max if depth >= 0 and depth_max > 0 else -1.0,
                desc,
                1.0 if desc == 0 else 0.0,
                prior_name,
                math.log1p(max(0.0, name_prior.chances)),
                prior_role,
                g_markov,
                last_delta,
                improved,
                sum(after) / len(after) if after else 0.0,
                after[-1] if after else 0.0,
                math.log1p(gap) if gap >= 0 else -1.0,
                gap / median_gap if gap >= 0 and median_gap > 0 else -1.0,
                uh[0] / uh[1] if uh and uh[1] else -1.0,
                math.log1p(user_links),
            ]
            label = None if label_set is None else (1 if u in label_set else 0)
            yield t, u, features, label


def _spread(values: list[float]) -> float:
    if len(values) < 2:
        return 1.0
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return math.sqrt(var) if var > 1e-18 else 1.0


def training_table(
    chains: Sequence[Chain], priors: Priors
) -> tuple[list[list[float]], list[int], list[str]]:
    """Rows, labels and chain keys (the groups) for every step that has a successor."""
    histories = user_histories(chains)
    rows: list[list[float]] = []
    labels: list[int] = []
    groups: list[str] = []
    for chain in chains:
        for _, _, features, label in iter_rows(chain, priors, histories.get(chain.key)):
            if label is None:
                continue
            rows.append(features)
            labels.append(label)
            groups.append(chain.key)
    return rows, labels, groups


__all__ = [
    "CATEGORICAL",
    "FEATURES",
    "ROLE_CODES",
    "Priors",
    "iter_rows",
    "training_table",
    "user_histories",
]
