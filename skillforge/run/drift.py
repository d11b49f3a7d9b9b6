"""Drift in a running skill: its live outcomes against the rates it was compiled to show.

A compiled skill states what to expect (``settings.expected_student_share``, and for skills compiled
since it was recorded, ``metrics.invalid_share``). The rates tested are the student's share (inputs
answered before the teacher) and the escalation mix: the share of inputs escalated for each reason
(``invalid``, ``low_confidence``, ``refused``, ``error``). A refusal or an error is expected at rate 0;
invalid and low-confidence escalations only when the skill recorded its invalid share at compile time.
The test itself is :func:`skillforge.stats.drift.drift_tests`.

:class:`DriftMonitor` is what the runtime keeps per runner: the last ``window`` outcomes in memory
(no ledger read), tested every ``every`` inputs, and one ``logging`` warning per skill per process.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Mapping

from skillforge.format import Manifest
from skillforge.stats.drift import DEFAULT_LEVEL, DEFAULT_MIN_EFFECT, DriftTest, drift_tests

log = logging.getLogger(__name__)

REASONS = ("invalid", "low_confidence", "refused", "error")
SHARE = "student_share"


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
