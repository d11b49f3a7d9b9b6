"""Regression testing of compiled skills: each skill's ``tests.jsonl`` run through the full runtime with
recorded model answers (:mod:`~skillforge.regress.cassette`), gated on its minimum pass rate and field
score, compared with a baseline, reported as text or JUnit XML (``skillforge test``, the pytest plugin)."""

from skillforge.regress.baseline import compare_baseline, load_report, skill_delta
from skillforge.regress.cassette import CASSETTE_DIR, MODES, Cassette, CassetteModel, CassetteStore, Mode
from skillforge.regress.results import (
    DEFAULT_TOLERANCE,
    SUMMARY_FIELDS,
    CaseFailure,
    SkillDelta,
    SkillResult,
    SuiteReport,
    meets,
)
from skillforge.regress.suite import (
    arun_skill_tests,
    arun_suite,
    display_path,
    find_skills,
    run_skill_tests,
    run_suite,
)
from skillforge.regress.text import case_lines, failure_text, junit_xml, verdict

__all__ = [
    "CASSETTE_DIR",
    "DEFAULT_TOLERANCE",
    "MODES",
    "SUMMARY_FIELDS",
    "CaseFailure",
    "Cassette",
    "CassetteModel",
    "CassetteStore",
    "Mode",
    "SkillDelta",
    "SkillResult",
    "SuiteReport",
    "arun_skill_tests",
    "arun_suite",
    "case_lines",
    "compare_baseline",
    "display_path",
    "failure_text",
    "find_skills",
    "junit_xml",
    "load_report",
    "meets",
    "run_skill_tests",
    "run_suite",
    "skill_delta",
    "verdict",
]
