"""Confidence intervals for a proportion: Wilson's score interval and the normal quantiles behind it.

Wilson's interval, unlike the normal approximation, behaves at rates near 0 or 1 and at small counts --
exactly the regime of a high-precision threshold on a few dozen cases and of a rare escalation reason in a
drift window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

from skillforge.errors import SpecError

#: The default level of the one-sided bound a precision must reach its target by.
DEFAULT_CONFIDENCE_LEVEL = 0.95


def wilson_interval(successes: int, n: int, z: float) -> tuple[float, float]:
    """The Wilson score interval of ``successes / n`` at normal quantile ``z`` ((0, 1) when n = 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1.0 + z * z / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / denom), min(1.0, (centre + margin) / denom)


def two_sided_z(level: float) -> float:
    """The normal quantile of a two-sided interval: 0.99 -> 2.576."""
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def z_for(confidence_level: float) -> float:
    """The one-sided normal quantile: 0.95 -> 1.645."""
    if not 0.5 <= confidence_level < 1.0:
        raise SpecError("must be in [0.5, 1)", field="confidence_level")
    return NormalDist().inv_cdf(confidence_level)


def mean_se(xs: Sequence[float]) -> tuple[float, float]:
    """The mean of ``xs`` and its standard error (sample variance; ``(0, 0)`` for no values, SE 0 for one). Of
    per-case differences between two answerers on the same cases, it is their paired difference."""
    n = len(xs)
    if n == 0:
        return 0.0, 0.0
    mean = sum(xs) / n
    var = sum((x - mean) ** 2 for x in xs) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var / n)


def wilson_lower_bound(successes: int, n: int, *, confidence_level: float = DEFAULT_CONFIDENCE_LEVEL) -> float:
    """Lower end of the Wilson score interval for a proportion ``successes / n`` (0 when n = 0)."""
    if n <= 0:
        return 0.0
    return wilson_interval(successes, n, z_for(confidence_level))[0]
