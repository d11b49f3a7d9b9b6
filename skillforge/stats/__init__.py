"""The statistics every stage shares, below them all: Wilson intervals, the precision-bounded threshold,
risk-coverage, small logistic fits and AUROC, and the drift test. Pure functions over numbers: no
models, no files."""

from skillforge.stats.drift import DriftTest, drift_tests
from skillforge.stats.fitting import auroc, fit_binary, fit_multinomial, folds
from skillforge.stats.intervals import (
    DEFAULT_CONFIDENCE_LEVEL,
    mean_se,
    two_sided_z,
    wilson_interval,
    wilson_lower_bound,
    z_for,
)
from skillforge.stats.threshold import (
    COVERAGES,
    Calibration,
    RiskCoverage,
    ToCertify,
    choose_threshold,
    confidence_order,
    examples_to_certify,
    risk_coverage,
    stored_threshold,
)

__all__ = [
    "COVERAGES",
    "DEFAULT_CONFIDENCE_LEVEL",
    "Calibration",
    "DriftTest",
    "RiskCoverage",
    "ToCertify",
    "auroc",
    "choose_threshold",
    "confidence_order",
    "drift_tests",
    "examples_to_certify",
    "fit_binary",
    "fit_multinomial",
    "folds",
    "mean_se",
    "risk_coverage",
    "stored_threshold",
    "two_sided_z",
    "wilson_interval",
    "wilson_lower_bound",
    "z_for",
]
