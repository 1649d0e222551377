"""The adaptive portfolio: re-weight training tasks by what the new task's trials showed.

A one-shot warm start weighs training tasks by their meta-features only. After two or three
trials on the new task the observed scores say more: a training task whose regret ranks the
tried configurations the way the new task's scores rank them is a better guide than one
with similar meta-features. :class:`AdaptivePortfolio` keeps the prior weights (from the
ranker), and after each observation multiplies them by
``exp(agreement * (m - 1) / temperature)``, where ``agreement`` is the Spearman correlation,
over the ``m`` configurations observed so far, between the new task's scores and the
training task's regret (performance-space similarity). The next configuration is the greedy
portfolio's next pick under those weights: the candidate that most lowers the weighted mean,
over training tasks, of the best regret reached so far.

**When the meta-data stops paying** (:meth:`AdaptivePortfolio.hand_over`): once at least
``min_observations`` results are in, hand over to an independent search when

* the best remaining candidate is expected to lower the weighted best regret by less than
  ``min_gain`` (the similar tasks are already as good as they get), or
* the observed scores disagree with the training tasks: the weighted mean agreement is not
  above ``min_agreement`` (the new task resembles none of them), or
* no candidate is left.

Pure NumPy and deterministic; :class:`~mileage.metalearner.warmstart._sampler.WarmStartSampler`
wraps it for Optuna and ``benchmarks/warmstart.py`` replays it on TabRepo's matrix.

Example:
    >>> import numpy as np
    >>> regret = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.5]])
    >>> portfolio = AdaptivePortfolio(regret, np.array([0.5, 0.5]))
    >>> portfolio.observe(regret[:, 0], 0.9)
    >>> portfolio.observe(regret[:, 1], 0.1)   # the new task behaves like task 1
    >>> bool(portfolio.weights()[1] > portfolio.weights()[0])
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Default of ``temperature`` (the sampler's too).
DEFAULT_TEMPERATURE = 0.5
#: Share of the task weight the greedy step may ignore (the lightest tasks).
MASS_LEFT_OUT = 1e-4


@dataclass(frozen=True)
class HandOver:
    """Whether to stop proposing from the meta-data, and why."""

    stop: bool
    reason: str


def _ranks(a: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (ties share their mean rank)."""
    from scipy.stats import rankdata

    return np.asarray(rankdata(a, axis=-1), dtype=float)


def agreement(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Spearman correlation between the new task's values (``m``) and each training task's
    regret on the same configurations (``n_tasks x m``); 0 where either is constant."""
    return _spearman(
        _ranks(np.asarray(values, dtype=float)), _ranks(np.asarray(columns, dtype=float))
    )


def top_indices(weights: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` largest weights' indices, largest first, ties by index: the same as
    ``np.argsort(-weights, kind="stable")[:k]`` at O(n) instead of O(n log n)."""
    w = np.asarray(weights)
    n = len(w)
    if k >= n:
        return np.argsort(-w, kind="stable")
    threshold = np.partition(w, n - k)[n - k]
    above = np.flatnonzero(w > threshold)
    ties = np.flatnonzero(w == threshold)[: k - len(above)]
    chosen = np.concatenate([above, ties])
    return chosen[np.argsort(-w[chosen], kind="stable")]


def _spearman(rv: np.ndarray, rc: np.ndarray) -> np.ndarray:
    """Pearson correlation of ranks ``rv`` (``m``) with each row of ranks ``rc``."""
    rv = rv - rv.mean()
    rc = rc - rc.mean(axis=1, keepdims=True)
    denom = np.sqrt((rv**2).sum() * (rc**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (rc @ rv) / denom
    return np.asarray(np.where(denom > 0, corr, 0.0))


class AdaptivePortfolio:
    """Propose configurations one at a time, re-weighting training tasks after each result.

    Args:
        regret: Training tasks x candidate configurations, normalised regret in ``[0, 1]``.
        prior: Prior weight of each training task (from meta-features).
        temperature: Smaller trusts the observed agreement sooner.
        min_gain: Hand over when the next candidate is expected to gain less than this.
        min_agreement: Hand over when the weighted mean agreement is not above this.
        min_observations: Results needed before handing over is considered.
    """

    def __init__(
        self,
        regret: np.ndarray,
        prior: np.ndarray,
        *,
        temperature: float = DEFAULT_TEMPERATURE,
        min_gain: float = 0.001,
        min_agreement: float = 0.0,
        min_observations: int = 3,
    ) -> None:
        self.regret = np.asarray(regret, dtype=float)
        p = np.asarray(prior, dtype=float)
        self.prior = p / p.sum() if p.sum() > 0 else np.full(len(p), 1.0 / max(len(p), 1))
        self.temperature = float(temperature)
        self.min_gain = float(min_gain)
        self.min_agreement = float(min_agreement)
        self.min_observations = int(min_observations)
        # Observed columns and their per-task average ranks, kept incrementally (re-ranking
        # n_tasks x m from scratch after every result dominates the cost with many tasks).
        self._cols = np.empty((len(self.prior), 0))
        self._col_ranks = np.empty((len(self.prior), 0))
        self._values: list[float] = []
        self._weights = self.prior
        self._best = np.full(len(self.prior), np.inf)
        self._agreement = np.zeros(len(self.prior))
        self._support_cache: np.ndarray | None = None
        self._scores_cache: np.ndarray | None = None
        self._mean_cache: np.ndarray | None = None
        self._support_regret_cache: np.ndarray | None = None

    @property
    def n_observed(self) -> int:
        """Results observed so far."""
        return len(self._values)

    def observe(self, column: np.ndarray, value: float) -> None:
        """Add one result: the tried configuration's regret on every training task, and the
        new task's score (lower is better)."""
        col = np.asarray(column, dtype=float)
        self._add_column(col)
        self._values.append(float(value))
        self._best = np.minimum(self._best, col)
        self._support_cache = self._scores_cache = self._mean_cache = None
        self._support_regret_cache = None
        m = len(self._values)
        if m >= 2:
            self._agreement = _spearman(_ranks(np.asarray(self._values)), self._ranks_so_far())
            logits = self._agreement * (m - 1) / self.temperature
            w = self.prior * np.exp(logits - logits.max())
            self._weights = w / w.sum() if w.sum() > 0 else self.prior

    def _add_column(self, col: np.ndarray) -> None:
        """Append a column and update every task's average ranks in O(n_tasks x m)."""
        m = self._cols.shape[1]
        if self._cols.shape[1] == self._col_ranks.shape[1] and np.isfinite(col).all():
            old = self._cols[:, :m]
            ranks = self._col_ranks[:, :m]
            ranks = ranks + (col[:, None] < old) + 0.5 * (col[:, None] == old)
            new = 1.0 + (old < col[:, None]).sum(axis=1) + 0.5 * (old == col[:, None]).sum(axis=1)
            self._col_ranks = np.column_stack([ranks, new])
        self._cols = np.column_stack([self._cols, col])
        if self._cols.shape[1] != self._col_ranks.shape[1]:  # a non-finite value: rank afresh
            self._col_ranks = np.empty((len(self.prior), 0))

    def _ranks_so_far(self) -> np.ndarray:
        if self._col_ranks.shape[1] == self._cols.shape[1]:
            return self._col_ranks
        return _ranks(self._cols)

    def weights(self) -> np.ndarray:
        """Current weight of each training task (sums to 1)."""
        return self._weights

    def mean_agreement(self) -> float:
        """Weighted mean agreement of the training tasks with the observed results."""
        return float(self._weights @ self._agreement)

    def _support(self) -> np.ndarray:
        """The highest-weighted tasks holding all but ``MASS_LEFT_OUT`` of the weight: the
        greedy step is computed on them only (exact up to that share; bounds the cost with
        many training tasks)."""
        if self._support_cache is None:
            order = np.argsort(-self._weights, kind="stable")
            mass = np.cumsum(self._weights[order])
            n = int(np.searchsorted(mass, 1.0 - MASS_LEFT_OUT)) + 1
            self._support_cache = np.sort(order[: min(n, len(order))])
        return self._support_cache

    def scores(self, candidates: np.ndarray | None = None) -> np.ndarray:
        """Expected weighted best regret after adding each candidate column."""
        if candidates is None and self._scores_cache is not None:
            return self._scores_cache
        rows = self._support()
        if candidates is None:
            regret = self._support_regret()
        else:
            regret = np.asarray(candidates, dtype=float)[rows]
        best = np.where(np.isfinite(self._best[rows]), self._best[rows], np.inf)
        out = np.asarray(self._weights[rows] @ np.minimum(best[:, None], regret))
        if candidates is None:
            self._scores_cache = out
        return out

    def _support_regret(self) -> np.ndarray:
        """``regret`` on the support's rows (no copy when the support is every task)."""
        rows = self._support()
        if self._support_regret_cache is None:
            whole = len(rows) == len(self.regret)
            self._support_regret_cache = self.regret if whole else self.regret[rows]
        return self._support_regret_cache

    def _mean(self) -> np.ndarray:
        if self._mean_cache is None:
            rows = self._support()
            self._mean_cache = np.asarray(self._weights[rows] @ self._support_regret())
        return self._mean_cache

    def propose(self, exclude: np.ndarray | None = None) -> tuple[int, float]:
        """The next candidate and its expected gain in weighted best regret.

        Args:
            exclude: Boolean mask of candidates not to propose (already tried).

        Returns:
            ``(index, gain)``; index -1 when every candidate is excluded.
        """
        objective = np.round(self.scores(), 12)
        if exclude is not None:
            objective = np.where(exclude, np.inf, objective)
        if not np.isfinite(objective).any():
            return -1, 0.0
        # The lowest expected best regret; ties broken by the lowest weighted mean regret,
        # then the lowest index (the weighted mean is only computed when there is a tie).
        tied = np.flatnonzero(objective == objective.min())
        j = int(tied[0]) if len(tied) == 1 else int(tied[np.argmin(self._mean()[tied])])
        current = (
            float(self._weights @ self._best) if np.isfinite(self._best).all() else float("inf")
        )
        gain = current - float(objective[j]) if np.isfinite(current) else float("inf")
        return j, gain

    def hand_over(self, exclude: np.ndarray | None = None) -> HandOver:
        """The documented rule: see the module docstring."""
        m = self.n_observed
        if m < self.min_observations:
            return HandOver(False, f"{m} of {self.min_observations} results needed")
        j, gain = self.propose(exclude)
        if j < 0:
            return HandOver(True, "every stored configuration was tried")
        if gain < self.min_gain:
            return HandOver(
                True,
                f"the next stored configuration is expected to gain {gain:.4f} < {self.min_gain} "
                "in normalised regret",
            )
        agree = self.mean_agreement()
        if agree <= self.min_agreement:
            return HandOver(
                True,
                f"the results disagree with the training tasks (weighted agreement "
                f"{agree:.2f} <= {self.min_agreement})",
            )
        return HandOver(False, f"expected gain {gain:.4f}, agreement {agree:.2f}")


__all__ = ["DEFAULT_TEMPERATURE", "AdaptivePortfolio", "HandOver", "agreement", "top_indices"]
