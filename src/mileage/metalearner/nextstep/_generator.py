"""Synthetic iteration chains: simulated people changing a workflow one step at a time.

Everything this module produces is **synthetic** (``Chain.synthetic`` is True) and must be
labelled so wherever it is shown. The behaviour model, with its parameters:

* **Change-type mix** (:class:`ChangeMix`, the swept parameter): the shares of data changes
  (the ``data`` operator, e.g. a new sample or split), preprocessing changes (one of the
  preprocessing operators), model changes (another model class) and hyperparameter changes
  (the model's parameters). Model and hyperparameter changes both change the ``model``
  operator; they differ in what the executor does with them.
* **Personal variation.** Each simulated user draws a personal mix from a Dirichlet centred
  on the mix (concentration 20) and a preference over preprocessing operators from a
  Dirichlet(0.7), so users favour a few operators.
* **Stickiness.** With probability ``stickiness`` (per user, uniform in 0.35-0.75) the next
  change repeats the previous one's operator, 0.15 more after an improvement of the metric
  and 0.15 less after a drop: people keep tuning what just worked.
* **Extra changes.** With probability 0.15 a second preprocessing operator changes too.
* **Metric.** Synthetic chains use a random walk: each (user, operator) pair has a hidden
  promise that shrinks as it is tuned; executor chains use the real metric instead.
* **Time between runs.** Log-normal around two minutes, three times longer before data and
  preprocessing changes (they take more thought than a new hyperparameter value).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mileage.metalearner.nextstep._chains import Chain, Step

CHANGE_TYPES = ("data", "preprocessing", "model", "hyperparameter")

#: The workflow synthetic chains iterate on: operator -> role, in DAG order (a line).
TEMPLATE: dict[str, str] = {
    "split": "data",
    "impute": "preprocessing",
    "encode": "preprocessing",
    "scale": "preprocessing",
    "select": "preprocessing",
    "pca": "preprocessing",
    "model": "model",
}


@dataclass(frozen=True)
class ChangeMix:
    """Shares of each change type among generated iterations (normalised when used)."""

    data: float = 0.05
    preprocessing: float = 0.30
    model: float = 0.10
    hyperparameter: float = 0.55

    def shares(self) -> np.ndarray:
        """The four shares, normalised, in :data:`CHANGE_TYPES` order."""
        raw = np.array([self.data, self.preprocessing, self.model, self.hyperparameter], float)
        if (raw < 0).any() or raw.sum() <= 0:
            raise ValueError(f"change mix {self} must have non-negative shares, not all zero")
        out: np.ndarray = raw / raw.sum()
        return out

    def label(self) -> str:
        """``d/p/m/h`` percentages, for tables."""
        s = self.shares() * 100
        return "/".join(f"{v:.0f}" for v in s)


@dataclass(frozen=True)
class Change:
    """One iteration's edit: its type and the operators it changes."""

    kind: str
    operators: tuple[str, ...]


class SimulatedUser:
    """A synthetic person iterating on a workflow (see the module docstring).

    Args:
        operators: Editable operators and their roles (``data``, ``preprocessing``, ``model``).
        mix: The population's change-type mix.
        seed: Seed of this user's behaviour.
        stickiness: Override the drawn stickiness.
    """

    def __init__(
        self,
        operators: Mapping[str, str],
        *,
        mix: ChangeMix = ChangeMix(),
        seed: int = 0,
        stickiness: float | None = None,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.operators = dict(operators)
        self.by_role: dict[str, list[str]] = {}
        for name, role in self.operators.items():
            self.by_role.setdefault(role, []).append(name)
        self.mix = self.rng.dirichlet(20 * mix.shares() + 1e-3)
        pre = self.by_role.get("preprocessing", [])
        self.preference = self.rng.dirichlet([0.7] * len(pre)) if pre else np.array([])
        self.stickiness = (
            float(stickiness) if stickiness is not None else float(self.rng.uniform(0.35, 0.75))
        )
        self.last: Change | None = None

    def _pick(self, kind: str) -> str:
        if kind == "data" and self.by_role.get("data"):
            return str(self.rng.choice(self.by_role["data"]))
        if kind == "preprocessing" and self.by_role.get("preprocessing"):
            pre = self.by_role["preprocessing"]
            return pre[int(self.rng.choice(len(pre), p=self.preference))]
        models = self.by_role.get("model") or list(self.operators)
        return str(self.rng.choice(models))

    def next_change(self, improved: bool | None = None) -> Change:
        """The next edit, given whether the previous one improved the metric."""
        repeat = self.stickiness + (0.15 if improved else -0.15 if improved is False else 0.0)
        if self.last is not None and self.rng.random() < repeat:
            kind, primary = self.last.kind, self.last.operators[0]
        else:
            kind = CHANGE_TYPES[int(self.rng.choice(4, p=self.mix))]
            primary = self._pick(kind)
        ops = [primary]
        pre = self.by_role.get("preprocessing", [])
        if len(pre) > 1 and self.rng.random() < 0.15:
            extra = self._pick("preprocessing")
            if extra != primary:
                ops.append(extra)
        self.last = Change(kind, tuple(ops))
        return self.last

    def gap_seconds(self, change: Change) -> float:
        """Time the user takes before running ``change``."""
        base = float(self.rng.lognormal(math.log(120.0), 0.8))
        return base * (3.0 if change.kind in ("data", "preprocessing") else 1.0)


def _layout(operators: Sequence[str]) -> tuple[dict[str, int], dict[str, int]]:
    n = len(operators)
    return {u: i for i, u in enumerate(operators)}, {u: n - 1 - i for i, u in enumerate(operators)}


def generate_chains(
    n_chains: int,
    length: int,
    *,
    mix: ChangeMix = ChangeMix(),
    seed: int = 0,
    n_users: int | None = None,
    operators: Mapping[str, str] = TEMPLATE,
) -> list[Chain]:
    """Generate synthetic chains (``synthetic=True``) on a linear workflow.

    Args:
        n_chains: Number of chains.
        length: Runs per chain.
        mix: Change-type mix of the population.
        seed: Seed of the whole set.
        n_users: Number of distinct users (chains are dealt round-robin); default
            ``max(1, n_chains // 3)``, so most users have earlier chains.
        operators: Operators and roles, in DAG order.

    Returns:
        The chains, keyed ``synthetic/<seed>/<i>``.
    """
    rng = np.random.default_rng(seed)
    n_users = n_users or max(1, n_chains // 3)
    names = list(operators)
    depth, desc = _layout(names)
    users = [
        SimulatedUser(operators, mix=mix, seed=int(rng.integers(2**31))) for _ in range(n_users)
    ]
    clock = 1_700_000_000_000
    chains = []
    for i in range(n_chains):
        user = users[i % n_users]
        user.last = None
        promise = {u: float(rng.normal(0.0, 0.01)) for u in names}
        metric = float(rng.uniform(0.6, 0.8))
        steps = [
            Step(
                units=tuple(names),
                start_ms=clock,
                metric=metric,
                roles=dict(operators),
                depth=depth,
                descendants=desc,
            )
        ]
        improved: bool | None = None
        for _ in range(length - 1):
            change = user.next_change(improved)
            clock += int(user.gap_seconds(change) * 1000)
            delta = sum(promise[u] for u in change.operators) + float(rng.normal(0.0, 0.01))
            for u in change.operators:
                promise[u] *= 0.8
            improved = delta > 0
            metric += delta
            steps.append(
                Step(
                    units=tuple(names),
                    changed=frozenset(change.operators),
                    start_ms=clock,
                    metric=metric,
                    roles=dict(operators),
                    depth=depth,
                    descendants=desc,
                )
            )
        clock += 86_400_000
        chains.append(
            Chain(
                key=f"synthetic/{seed}/{i}",
                user=f"user{i % n_users}",
                steps=steps,
                unit="operators",
                origin="synthetic",
                synthetic=True,
            )
        )
    return chains


__all__ = ["CHANGE_TYPES", "TEMPLATE", "Change", "ChangeMix", "SimulatedUser", "generate_chains"]
