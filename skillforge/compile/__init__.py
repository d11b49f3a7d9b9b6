"""Compilation: spec + examples -> a skill, in named steps over an explicit state
(:mod:`~skillforge.compile.pipeline`)."""

from skillforge.compile.candidates import Candidate, build_candidates, pick_demos, retrieval_candidates
from skillforge.compile.measure import CaseResult, DevCase, Measurement, measure
from skillforge.compile.pipeline import acompile_skill, compile_skill, estimate_compile_skill
from skillforge.compile.selection import best, choose, clearly_better, paired_gain
from skillforge.compile.state import CompileState
from skillforge.compile.steps import split_dev
from skillforge.format import CompileOptions, ConfidenceSettings, SearchConfig
from skillforge.stats import Calibration, choose_threshold, stored_threshold, wilson_lower_bound, z_for

__all__ = [
    "Calibration",
    "Candidate",
    "CaseResult",
    "CompileOptions",
    "CompileState",
    "ConfidenceSettings",
    "DevCase",
    "Measurement",
    "SearchConfig",
    "acompile_skill",
    "best",
    "build_candidates",
    "choose",
    "choose_threshold",
    "clearly_better",
    "compile_skill",
    "estimate_compile_skill",
    "measure",
    "paired_gain",
    "pick_demos",
    "retrieval_candidates",
    "split_dev",
    "stored_threshold",
    "wilson_lower_bound",
    "z_for",
]
