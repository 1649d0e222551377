"""Leave-one-task-out evaluation of warm starts, and the baselines they must beat.

Every method sees a :class:`Fold`: the training tasks' meta-features, errors and the
configurations' features, plus the held-out task's meta-features and problem type, never
its errors. Whatever a method fits (models, scalers, portfolios) is therefore fitted on the
training tasks only; :func:`leave_one_task_out` builds the folds and scores the orders.

Regret after ``k`` evaluations: per task, ``(min error of the first k - best) / (worst -
best)`` over all configurations of the task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import comb

import numpy as np

KS = (1, 3, 5, 10, 25)


@dataclass(frozen=True)
class Fold:
    """What a method may see when recommending for one held-out task."""

    X: np.ndarray  # training tasks' meta-features
    errors: np.ndarray  # training tasks x configurations, lower is better
    problem_types: np.ndarray  # training tasks' problem types
    configurations: np.ndarray  # configurations' features
    x: np.ndarray  # held-out task's meta-features (1 x n)
    problem_type: str  # held-out task's problem type

    @property
    def regret(self) -> np.ndarray:
        """Training tasks' normalised regret."""
        from mileage.metalearner.warmstart._ranker import normalized_regret

        return normalized_regret(self.errors)


Method = Callable[[Fold], np.ndarray]  # returns configuration indices, best first


def regret_at(regret_row: np.ndarray, order: np.ndarray, ks: Sequence[int] = KS) -> list[float]:
    """Regret of the best of the first ``k`` configurations of ``order``, for each k."""
    return [float(regret_row[order[:k]].min()) for k in ks]


def random_regret(regret_row: np.ndarray, ks: Sequence[int] = KS) -> list[float]:
    """Expected regret of the best of ``k`` configurations drawn at random without replacement."""
    values = np.sort(regret_row)
    n = len(values)
    out = []
    for k in ks:
        # P(the i-th smallest is the minimum of the sample) = C(n-1-i, k-1) / C(n, k)
        p = np.array([comb(n - 1 - i, k - 1) for i in range(n)], dtype=float) / comb(n, k)
        out.append(float(p @ values))
    return out


def leave_one_task_out(
    X: np.ndarray,
    errors: np.ndarray,
    problem_types: np.ndarray,
    configurations: np.ndarray,
    method: Method,
    ks: Sequence[int] = KS,
) -> np.ndarray:
    """Regret of ``method`` on each task when it is held out, shape ``(n_tasks, len(ks))``."""
    from mileage.metalearner.warmstart._ranker import normalized_regret

    regret = normalized_regret(errors)
    out = np.empty((len(X), len(ks)))
    for i in range(len(X)):
        order = method(holdout(X, errors, problem_types, configurations, i))
        out[i] = regret_at(regret[i], np.asarray(order), ks)
    return out


def holdout(
    X: np.ndarray,
    errors: np.ndarray,
    problem_types: np.ndarray,
    configurations: np.ndarray,
    i: int,
) -> Fold:
    """The fold that holds out task ``i`` (its errors are not in it)."""
    train = np.arange(len(X)) != i
    return Fold(
        X=X[train],
        errors=errors[train],
        problem_types=problem_types[train],
        configurations=configurations,
        x=X[[i]],
        problem_type=str(problem_types[i]),
    )


# -- baselines -------------------------------------------------------------------------------


def default_first(default_index: int) -> Method:
    """The default configuration, then the average-rank order."""

    def method(fold: Fold) -> np.ndarray:
        rest = [j for j in average_rank(fold) if j != default_index]
        return np.asarray([default_index, *rest])

    return method


def average_rank(fold: Fold) -> np.ndarray:
    """Configurations by their mean rank over the training tasks."""
    from scipy.stats import rankdata

    ranks = np.apply_along_axis(rankdata, 1, fold.errors)
    return np.argsort(ranks.mean(axis=0), kind="stable")


def greedy_portfolio_method(fold: Fold) -> np.ndarray:
    """auto-sklearn 2.0 style: greedily minimise the mean best regret over training tasks."""
    from mileage.metalearner.warmstart._ranker import greedy_portfolio

    regret = fold.regret
    order, _ = greedy_portfolio(regret, np.ones(len(regret)))
    return order


def greedy_portfolio_per_type(fold: Fold) -> np.ndarray:
    """auto-sklearn 2.0 / TabRepo zero-shot style: one greedy portfolio per problem type,
    built on the training tasks of the held-out task's problem type (all tasks when none)."""
    from mileage.metalearner.warmstart._ranker import greedy_portfolio

    same = fold.problem_types == fold.problem_type
    regret = fold.regret
    order, _ = greedy_portfolio(regret, same.astype(float) if same.any() else np.ones(len(regret)))
    return order


def adaptive_order(
    fold: Fold,
    revealed: np.ndarray,
    prior: np.ndarray,
    n: int,
    **params: float,
) -> tuple[np.ndarray, int]:
    """Simulate the adaptive sampler on the matrix: the held-out task's errors are revealed
    one proposed configuration at a time.

    Args:
        fold: The fold (training tasks only).
        revealed: The held-out task's errors (read only for configurations proposed).
        prior: Prior weights of the training tasks.
        n: How many configurations to propose.
        params: :class:`~mileage.metalearner.warmstart._adaptive.AdaptivePortfolio` options.

    Returns:
        The order, and the step at which the hand-over rule first fired (``n`` if never).
    """
    from mileage.metalearner.warmstart._adaptive import AdaptivePortfolio

    regret = np.nan_to_num(fold.regret, nan=1.0)
    portfolio = AdaptivePortfolio(regret, prior, **params)  # type: ignore[arg-type]
    tried = np.zeros(regret.shape[1], dtype=bool)
    order: list[int] = []
    handed = n
    for step in range(n):
        if handed == n and portfolio.hand_over(tried).stop:
            handed = step
        j, _ = portfolio.propose(tried)
        if j < 0:
            break
        order.append(j)
        tried[j] = True
        portfolio.observe(regret[:, j], float(revealed[j]))
    rest = [j for j in np.argsort(portfolio.weights() @ regret) if not tried[j]]
    return np.asarray(order + rest, dtype=int), handed


def nearest_neighbour(feature_columns: Sequence[int]) -> Method:
    """FLAML zero-shot style: the best configuration of each training task of the same
    problem type, nearest first in robustly scaled meta-features; then the rest by mean rank.

    Args:
        feature_columns: Columns of ``X`` used as meta-features (FLAML uses instances,
            features, classes and the share of numeric features).
    """

    def method(fold: Fold) -> np.ndarray:
        cols = list(feature_columns)
        Xtr = fold.X[:, cols]
        centre = np.nanmedian(Xtr, axis=0)
        q75, q25 = np.nanpercentile(Xtr, [75, 25], axis=0)
        scale = np.where(q75 - q25 > 0, q75 - q25, 1.0)
        Z = np.nan_to_num((Xtr - centre) / scale)
        z = np.nan_to_num((fold.x[0, cols] - centre) / scale)
        dist = ((Z - z) ** 2).sum(axis=1) + np.where(
            fold.problem_types == fold.problem_type, 0, 1e6
        )
        chosen: list[int] = []
        for i in np.argsort(dist, kind="stable"):
            best = int(np.argmin(fold.errors[i]))
            if best not in chosen:
                chosen.append(best)
        rest = [j for j in average_rank(fold) if j not in chosen]
        return np.asarray(chosen + rest)

    return method


def lgbm_ranker(n_estimators: int = 200) -> Method:
    """Pointwise learning to rank: ``LGBMRanker`` (lambdarank) over meta-features x
    configuration features, relevance grades from each task's ranks."""

    def method(fold: Fold) -> np.ndarray:
        import lightgbm as lgb
        from scipy.stats import rankdata

        n_tasks, n_conf = fold.errors.shape
        ranks = np.apply_along_axis(lambda v: rankdata(v, method="ordinal"), 1, fold.errors)
        labels = ((n_conf - ranks) // 4).astype(int).reshape(-1)
        features = np.hstack(
            [np.repeat(fold.X, n_conf, axis=0), np.tile(fold.configurations, (n_tasks, 1))]
        )
        model = lgb.LGBMRanker(
            n_estimators=n_estimators,
            learning_rate=0.05,
            num_leaves=15,
            min_child_samples=20,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            n_jobs=1,
            random_state=0,
            verbose=-1,
        )
        model.fit(features, labels, group=[n_conf] * n_tasks)
        query = np.hstack([np.repeat(fold.x, n_conf, axis=0), fold.configurations])
        scores = np.asarray(model.predict(query), dtype=float)
        return np.argsort(-scores, kind="stable")

    return method


def warm_start_ranker(**params: object) -> Method:
    """Mileage's :class:`~mileage.metalearner.warmstart._ranker.WarmStartRanker`."""

    def method(fold: Fold) -> np.ndarray:
        from mileage.metalearner.warmstart._ranker import WarmStartRanker

        model = WarmStartRanker(**params).fit(  # type: ignore[arg-type]
            fold.X, fold.errors, configurations=fold.configurations
        )
        order, _ = model.recommend(fold.x)
        return order[0]

    return method


__all__ = [
    "KS",
    "Fold",
    "Method",
    "adaptive_order",
    "average_rank",
    "default_first",
    "greedy_portfolio_method",
    "greedy_portfolio_per_type",
    "holdout",
    "leave_one_task_out",
    "lgbm_ranker",
    "nearest_neighbour",
    "random_regret",
    "regret_at",
    "warm_start_ranker",
]
