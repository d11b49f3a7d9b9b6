"""Drift: does a skill's live traffic still behave as it was compiled to?

A compiled skill states what to expect (``settings.expected_student_share``, and for skills compiled
since it was recorded, ``metrics.invalid_share``). A window of live inputs departs from an expected rate
``p`` when ``p`` lies outside the two-sided Wilson score interval of the observed rate at ``level``
(99% by default) *and* the observed rate differs from ``p`` by at least ``min_effect`` (5 points):
the interval alone flags a 0.1-point difference on a million calls, and the effect alone flags noise
on twenty. Windows with fewer than ``min_inputs`` inputs are not tested.

The rates tested are the student's share (inputs answered before the teacher) and the escalation mix:
the share of inputs escalated for each reason (``invalid``, ``low_confidence``, ``refused``,
``error``). A refusal or an error is expected at rate 0; invalid and low-confidence escalations only
when the skill recorded its invalid share at compile time.

:class:`DriftMonitor` is what the runtime keeps per runner: the last ``window`` outcomes in memory
(no ledger read), tested every ``every`` inputs, and one ``logging`` warning per skill per process.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

from skillforge.format import Manifest

log = logging.getLogger(__name__)

REASONS = ("invalid", "low_confidence", "refused", "error")
DEFAULT_LEVEL = 0.99
DEFAULT_MIN_INPUTS = 50
DEFAULT_MIN_EFFECT = 0.05
SHARE = "student_share"


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


def expectations(manifest: Manifest | None) -> dict[str, float]:
    """The rates ``manifest`` was compiled to show, keyed ``student_share`` or an escalation reason."""
    out: dict[str, float] = {"refused": 0.0, "error": 0.0}
    if manifest is None:
        return out
    share = manifest.settings.expected_student_share
    if share is not None:
        out[SHARE] = share
        if not manifest.settings.ask_student:  # no student ask: nothing escalates for a reason of its own
            return out
        invalid = manifest.metrics.invalid_share
        if invalid is not None:
            out["invalid"] = invalid
            out["low_confidence"] = max(0.0, 1.0 - share - invalid)
    return out


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


_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_once(skill: str, message: str) -> bool:
    """Log ``message`` as a warning unless ``skill`` was already warned about in this process."""
    with _warned_lock:
        if skill in _warned:
            return False
        _warned.add(skill)
    log.warning("%s", message)
    return True


def reset_drift_warnings() -> None:
    """Forget which skills were warned about (for tests)."""
    with _warned_lock:
        _warned.clear()


class DriftMonitor:
    """The last ``window`` outcomes of one skill's runs, tested every ``every`` inputs; the first
    drifting test logs one warning per skill per process. Costs a deque append per input."""

    def __init__(
        self,
        skill: str,
        expected: Mapping[str, float],
        *,
        window: int = 500,
        every: int = 50,
        level: float = DEFAULT_LEVEL,
        min_inputs: int = 100,
        min_effect: float = DEFAULT_MIN_EFFECT,
    ) -> None:
        self.skill = skill
        self.expected = dict(expected)
        self.every = every
        self.level, self.min_inputs, self.min_effect = level, min_inputs, min_effect
        #: Per input: ``student_share`` (answered before the teacher) or the escalation reason.
        self.outcomes: deque[str] = deque(maxlen=window)
        self.seen = 0
        self.drift: list[DriftTest] = []
        self._lock = threading.Lock()

    def observe(self, outcome: str) -> list[DriftTest]:
        """Record one input's outcome; returns the drifting tests when this input triggered a check."""
        with self._lock:
            self.outcomes.append(outcome)
            self.seen += 1
            if self.seen % self.every or self.drift:
                return []
            counts = Counter(self.outcomes)
            tests = drift_tests(len(self.outcomes), counts, self.expected, level=self.level,
                                min_inputs=self.min_inputs, min_effect=self.min_effect)
            self.drift = [t for t in tests if t.drifting]
        if self.drift:
            warn_once(self.skill, f"skill {self.skill!r} is drifting over its last {len(self.outcomes)} inputs: "
                      + "; ".join(t.describe() for t in self.drift))
        return self.drift
