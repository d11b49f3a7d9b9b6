"""What a user asks for: a :class:`SkillSpec` (name, description, input and output schemas), labelled
:class:`Example` s, and how answers are compared with the expected ones (:class:`Comparator`)."""

from skillforge.spec.schema import canonical_json, schema_from, sha256_text, validation_errors
from skillforge.spec.scoring import CaseScore, Comparator, FieldDiff, compare
from skillforge.spec.spec import Example, SkillSpec, UserConfig, check_examples, read_examples, spec_from_mapping

__all__ = [
    "CaseScore",
    "Comparator",
    "Example",
    "FieldDiff",
    "SkillSpec",
    "UserConfig",
    "canonical_json",
    "check_examples",
    "compare",
    "read_examples",
    "schema_from",
    "sha256_text",
    "spec_from_mapping",
    "validation_errors",
]
