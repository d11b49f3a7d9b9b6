"""What a user asks for: a :class:`SkillSpec` (name, description, input and output schemas), labelled
:class:`Example` s, how answers are compared with the expected ones (:class:`Comparator`), and what an
acceptable JSON value is (:class:`InputLimits`)."""

from skillforge.spec.checks import AnswerChecks, check_errors, learn_checks
from skillforge.spec.config import UserConfig
from skillforge.spec.limits import DEFAULT_LIMITS, InputLimits, clip, json_value_problem, parse_json, short
from skillforge.spec.schema import canonical_json, schema_from, sha256_text, validation_errors, validator_for
from skillforge.spec.scoring import CaseScore, Comparator, FieldDiff, compare
from skillforge.spec.spec import Example, SkillSpec, check_examples, read_examples, spec_from_mapping

__all__ = [
    "DEFAULT_LIMITS",
    "AnswerChecks",
    "CaseScore",
    "Comparator",
    "Example",
    "FieldDiff",
    "InputLimits",
    "SkillSpec",
    "UserConfig",
    "canonical_json",
    "check_errors",
    "check_examples",
    "clip",
    "compare",
    "json_value_problem",
    "learn_checks",
    "parse_json",
    "read_examples",
    "schema_from",
    "sha256_text",
    "short",
    "spec_from_mapping",
    "validation_errors",
    "validator_for",
]
