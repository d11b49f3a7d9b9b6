"""Does a window of live traffic still show the rates a skill was compiled to show?

A window of ``n`` inputs departs from an expected rate ``p`` when ``p`` lies outside the two-sided Wilson
score interval of the observed rate at ``level`` (99% by default) *and* the observed rate differs from
``p`` by at least ``min_effect`` (5 points): the interval alone flags a 0.1-point difference on a million
calls, and the effect alone flags noise on twenty. Windows with fewer than ``min_inputs`` inputs are not
tested.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from skillforge.stats.intervals import two_sided_z, wilson_interval

DEFAULT_LEVEL = 0.99
DEFAULT_MIN_INPUTS = 50
DEFAULT_MIN_EFFECT = 0.05


@dataclass(frozen=True)
class DriftTest:
    """One rate of one window against its expectation."""

    metric: str
    expected: float
    observed: float
    #: Inputs in the window, and how many showed the metric.
    n: int
    k: int
    low: float
    high: float
    level: float
    drifting: bool

    def describe(self) -> str:
        """``student_share 0.42 (21/50, 99% CI 0.25-0.60) vs expected 0.80``."""
        return (f"{self.metric} {self.observed:.2f} ({self.k}/{self.n}, {self.level:.0%} CI {self.low:.2f}-"
                f"{self.high:.2f}) vs expected {self.expected:.2f}")

    def to_json(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def drift_tests(
    n: int,
    counts: Mapping[str, int],
    expected: Mapping[str, float],
    *,
    level: float = DEFAULT_LEVEL,
    min_inputs: int = DEFAULT_MIN_INPUTS,
    min_effect: float = DEFAULT_MIN_EFFECT,
) -> list[DriftTest]:
    """Test every expected metric of a window of ``n`` inputs (``counts``: inputs per metric). None
    below ``min_inputs``."""
    if n < min_inputs:
        return []
    z = two_sided_z(level)
    out = []
    for metric, p in expected.items():
        k = counts.get(metric, 0)
        low, high = wilson_interval(k, n, z)
        observed = k / n
        drifting = not low <= p <= high and abs(observed - p) >= min_effect
        out.append(DriftTest(metric, p, observed, n, k, low, high, level, drifting))
    return out
