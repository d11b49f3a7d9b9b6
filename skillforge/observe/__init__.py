"""Seeing what skills do in production, from the ledger: per-skill status over all time and a recent
window, the teacher-only counterfactual and break-even, drift against the compiled expectations, and
a self-contained HTML report (``skillforge status``, ``skillforge report``)."""

from skillforge.observe.drift import DriftMonitor, DriftTest, drift_tests, expectations, wilson_interval
from skillforge.observe.status import BreakEven, SkillStatus, compute_status, teacher_pricing
from skillforge.observe.stream import CLASSIFIER_ID, iter_entries, parse_window
from skillforge.observe.tally import LatencyHistogram, Tally

__all__ = [
    "CLASSIFIER_ID",
    "BreakEven",
    "DriftMonitor",
    "DriftTest",
    "LatencyHistogram",
    "SkillStatus",
    "Tally",
    "compute_status",
    "drift_tests",
    "expectations",
    "iter_entries",
    "parse_window",
    "teacher_pricing",
    "wilson_interval",
]
