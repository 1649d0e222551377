"""Statistical bounds behind severities: how much a sample of ``n`` rows can tell.

A finding's severity follows from three numbers it carries (see :class:`Finding`): the share
of the batch's rows it concerns, what the reference's own sampling noise allows for that
statistic, and the sizes of both samples. The bounds here are one-sided and exact:
Clopper-Pearson for a binomial share, the Garwood bound for a Poisson count, both at
``ALPHA``, so a clean reference and a clean batch fall outside them less than once in a
thousand checks.
"""

from __future__ import annotations

import math

#: One-sided level of every bound: a clean sample falls outside it with this probability.
ALPHA = 1e-3


def share_lower(count: int, n: int, alpha: float = ALPHA) -> float:
    """Smallest share consistent with ``count`` hits in ``n`` rows (Clopper-Pearson).

    Example:
        >>> round(share_lower(0, 100), 6), round(share_lower(50, 100), 3)
        (0.0, 0.345)
    """
    if n <= 0 or count <= 0:
        return 0.0
    from scipy.stats import beta

    return float(beta.ppf(alpha, count, n - count + 1))


def share_upper(count: int, n: int, alpha: float = ALPHA) -> float:
    """Largest share consistent with ``count`` hits in ``n`` rows (Clopper-Pearson).

    Example:
        >>> round(share_upper(0, 341), 4)
        0.0201
    """
    if n <= 0:
        return 1.0
    if count >= n:
        return 1.0
    from scipy.stats import beta

    return float(beta.ppf(1 - alpha, count + 1, n - count))


def count_upper(count: int, alpha: float = ALPHA) -> float:
    """Largest Poisson mean consistent with observing ``count`` events (Garwood)."""
    from scipy.stats import chi2

    return float(chi2.ppf(1 - alpha, 2 * (count + 1)) / 2)


def poisson_tail(count: int, mean: float) -> float:
    """``P(X >= count)`` for ``X ~ Poisson(mean)``."""
    if count <= 0:
        return 1.0
    from scipy.stats import poisson

    return float(poisson.sf(count - 1, mean))


def miss_probability(share: float, n: int) -> float:
    """Chance that ``n`` independent rows all miss an outcome of probability ``share``."""
    if share <= 0:
        return 1.0
    if share >= 1:
        return 0.0
    return math.exp(n * math.log1p(-share))


def rows_to_see(share: float, miss: float) -> int | None:
    """Rows from which a sample misses an outcome of ``share`` with probability < ``miss``.

    None when ``share`` is 0 (no batch size is enough).
    """
    if share <= 0:
        return None
    if share >= 1:
        return 1
    return math.ceil(math.log(miss) / math.log1p(-share))
