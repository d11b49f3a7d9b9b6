"""Seeing what skills do in production, from the ledger: per-skill status over all time and a recent
window, the teacher-only counterfactual and break-even, drift against the compiled expectations, and
a self-contained HTML report (``skillforge status``, ``skillforge report``)."""

from skillforge.observe.status import BreakEven, SkillStatus, compute_status, teacher_pricing
from skillforge.observe.stream import iter_entries, parse_window
from skillforge.observe.tally import LatencyHistogram, Tally

__all__ = [
    "BreakEven",
    "LatencyHistogram",
    "SkillStatus",
    "Tally",
    "compute_status",
    "iter_entries",
    "parse_window",
    "teacher_pricing",
]
