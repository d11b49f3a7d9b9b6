"""Measuring a skill on labelled data: accuracy, confidence AUROC, risk-coverage, the threshold's
operating point, and cost per 1,000 calls against teacher-only (``skillforge eval``)."""

from skillforge.evaluate.evaluate import aevaluate_skill, evaluate_skill
from skillforge.evaluate.plot import risk_coverage_chart, write_plot
from skillforge.evaluate.result import (
    GOLD,
    STUDENT_REFERENCE,
    TEACHER_REFERENCE,
    EvalCase,
    EvalResult,
    costs_per_1k,
)
from skillforge.stats import RiskCoverage, auroc, risk_coverage

__all__ = [
    "GOLD",
    "STUDENT_REFERENCE",
    "TEACHER_REFERENCE",
    "EvalCase",
    "EvalResult",
    "RiskCoverage",
    "aevaluate_skill",
    "auroc",
    "costs_per_1k",
    "evaluate_skill",
    "risk_coverage",
    "risk_coverage_chart",
    "write_plot",
]
