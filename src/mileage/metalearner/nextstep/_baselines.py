"""Baselines for "which unit changes next", and the top-k evaluation split by chain.

Every predictor here (and :class:`NextChangePredictor`) offers ``fit(chains)`` and
``predict_proba_next(chain)``: a score per unit, higher meaning more likely to change next.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mileage.metalearner.nextstep._chains import Chain


class ChangePredictor(Protocol):
    """Anything that scores the units of a chain by how likely the next iteration changes them."""

    def fit(self, X: Sequence[Chain], y: None = None) -> Any:
        """Learn from training chains."""
        ...

    def predict_proba_next(
        self, chain: Chain, *, context: Sequence[Chain] = ()
    ) -> dict[str, float]:
        """Score per unit seen in ``chain`` (higher: more likely to change next)."""
        ...


def _seen(chain: Chain) -> list[str]:
    seen: dict[str, None] = {}
    for step in chain.steps:
        for u in (*step.units, *sorted(step.changed)):
            seen.setdefault(u, None)
    return list(seen)


class MajorityBaseline:
    """Ranks units by how often they changed in the training chains (the majority operator).

    The score is the unit's change rate: the share of training links, among those where the
    unit was present, that changed it.
    """

    def fit(self, X: Sequence[Chain], y: None = None) -> MajorityBaseline:
        changes: Counter[str] = Counter()
        chances: Counter[str] = Counter()
        for chain in X:
            for k in range(1, len(chain.steps)):
                changes.update(chain.steps[k].changed)
                chances.update(set(chain.steps[k - 1].units) | chain.steps[k].changed)
        self.rate_ = {u: changes[u] / n for u, n in chances.items() if n}
        return self

    def predict_proba_next(
        self, chain: Chain, *, context: Sequence[Chain] = ()
    ) -> dict[str, float]:
        return {u: self.rate_.get(u, 0.0) for u in _seen(chain)}


class RepeatLastBaseline:
    """Predicts that the units changed last change again (others by training frequency)."""

    def fit(self, X: Sequence[Chain], y: None = None) -> RepeatLastBaseline:
        self.majority_ = MajorityBaseline().fit(X)
        return self

    def predict_proba_next(
        self, chain: Chain, *, context: Sequence[Chain] = ()
    ) -> dict[str, float]:
        base = self.majority_.predict_proba_next(chain)
        last = chain.steps[-1].changed if len(chain.steps) > 1 else frozenset()
        return {u: (1.0 + s if u in last else s) for u, s in base.items()}


class MarkovBaseline:
    """First-order Markov chain over changed units: P(u changes next | v changed last)."""

    def fit(self, X: Sequence[Chain], y: None = None) -> MarkovBaseline:
        self.majority_ = MajorityBaseline().fit(X)
        trans: dict[str, Counter[str]] = defaultdict(Counter)
        occ: Counter[str] = Counter()
        for chain in X:
            for k in range(1, len(chain.steps) - 1):
                for a in chain.steps[k].changed:
                    occ[a] += 1
                    trans[a].update(chain.steps[k + 1].changed)
        self.transitions_ = {a: dict(c) for a, c in trans.items()}
        self.occurrences_ = dict(occ)
        return self

    def predict_proba_next(
        self, chain: Chain, *, context: Sequence[Chain] = ()
    ) -> dict[str, float]:
        base = self.majority_.predict_proba_next(chain)
        last = chain.steps[-1].changed if len(chain.steps) > 1 else frozenset()
        support = sum(self.occurrences_.get(a, 0) for a in last)
        if not support:
            return base
        return {
            u: sum(self.transitions_.get(a, {}).get(u, 0) for a in last) / support + 1e-3 * s
            for u, s in base.items()
        }


@dataclass
class TopKResult:
    """Accuracy of one predictor on held-out chains.

    Attributes:
        top1: Share of predicted steps whose best-ranked unit changed next.
        top3: Share whose three best-ranked units include one that changed.
        kept_top1: Share whose lowest-ranked present unit was indeed kept (reuse prediction).
        brier: Mean squared error of the scores as probabilities (scores clipped to [0, 1]).
        steps: Number of predicted steps (those followed by at least one change).
        by_position: top-1 accuracy by the step's index in its chain (buckets).
    """

    top1: float
    top3: float
    kept_top1: float
    brier: float
    steps: int
    by_position: dict[str, float] = field(default_factory=dict)


def _bucket(t: int) -> str:
    if t < 5:
        return "1-5"
    if t < 10:
        return "6-10"
    return "11+"


def evaluate(
    make: Callable[[], ChangePredictor],
    chains: Sequence[Chain],
    *,
    folds: int = 5,
    context: Sequence[Chain] = (),
) -> TopKResult:
    """Top-1/top-3 accuracy with chains split into folds (never rows of one chain apart).

    Each fold's chains are predicted by a predictor fitted on the other folds' chains plus
    ``context`` (extra training chains never evaluated). With fewer chains than folds, each
    chain is its own fold (leave one chain out).

    Args:
        make: Builds a fresh, unfitted predictor.
        chains: Chains to evaluate.
        folds: Number of folds.
        context: Additional training chains.
    """
    ordered = sorted(chains, key=lambda c: c.key)
    n_folds = min(folds, len(ordered))
    hits1 = hits3 = kept_hits = kept_n = n = 0
    sq, sq_n = 0.0, 0
    pos_hits: Counter[str] = Counter()
    pos_n: Counter[str] = Counter()
    for f in range(n_folds):
        test = [c for i, c in enumerate(ordered) if i % n_folds == f]
        train = [c for i, c in enumerate(ordered) if i % n_folds != f] + list(context)
        model = make().fit(train)
        for chain in test:
            same_user = [c for c in chains if c.user == chain.user and c is not chain]
            for t in range(len(chain.steps) - 1):
                target = chain.steps[t + 1].changed
                prefix = chain.prefix(t + 1)
                scores = model.predict_proba_next(prefix, context=same_user)
                for u, s in scores.items():
                    p = min(1.0, max(0.0, s))
                    sq += (p - (1.0 if u in target else 0.0)) ** 2
                    sq_n += 1
                if not target:
                    continue
                ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
                names = [u for u, _ in ranked]
                n += 1
                hit = bool(names[:1]) and names[0] in target
                hits1 += hit
                hits3 += any(u in target for u in names[:3])
                bucket = _bucket(t)
                pos_n[bucket] += 1
                pos_hits[bucket] += hit
                present = [u for u in reversed(names) if u in chain.steps[t].units]
                if present and any(u not in target for u in chain.steps[t].units):
                    kept_n += 1
                    kept_hits += present[0] not in target
    return TopKResult(
        top1=hits1 / n if n else math.nan,
        top3=hits3 / n if n else math.nan,
        kept_top1=kept_hits / kept_n if kept_n else math.nan,
        brier=sq / sq_n if sq_n else math.nan,
        steps=n,
        by_position={b: pos_hits[b] / pos_n[b] for b in ("1-5", "6-10", "11+") if pos_n[b]},
    )


__all__ = [
    "ChangePredictor",
    "MajorityBaseline",
    "MarkovBaseline",
    "RepeatLastBaseline",
    "TopKResult",
    "evaluate",
]
