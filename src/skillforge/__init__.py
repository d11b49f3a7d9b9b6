"""skillforge: compile a task, solved once by an expensive teacher model, into a validated skill that a
cheap student model runs, escalating to the teacher when the student's answer fails or is unsure.

>>> from skillforge import SkillSpec, Example, compile_skill, load_skill, get_model
"""

__version__ = "0.1.0"

from skillforge.compiler import acompile_skill, compile_skill
from skillforge.errors import (
    ConfigurationError,
    EscalationFailed,
    InputValidationError,
    InvalidOutputError,
    ModelAPIError,
    ModelAuthError,
    ModelRequestRejected,
    RunError,
    SkillforgeError,
    SkillFormatError,
    SkillIntegrityError,
    SkillIntegrityWarning,
    SpecError,
    UserError,
)
from skillforge.ledger import Ledger, LedgerEntry
from skillforge.models.base import Attempt, Model, ModelRequest, ModelResponse, Usage
from skillforge.models.registry import get_model, register_provider
from skillforge.runtime import RunResult
from skillforge.scoring import Comparator
from skillforge.skill import Skill, load_skill
from skillforge.spec import Example, SkillSpec

__all__ = [
    "Attempt",
    "Comparator",
    "ConfigurationError",
    "EscalationFailed",
    "Example",
    "InputValidationError",
    "InvalidOutputError",
    "Ledger",
    "LedgerEntry",
    "Model",
    "ModelAPIError",
    "ModelAuthError",
    "ModelRequest",
    "ModelRequestRejected",
    "ModelResponse",
    "RunError",
    "RunResult",
    "Skill",
    "SkillFormatError",
    "SkillIntegrityError",
    "SkillIntegrityWarning",
    "SkillSpec",
    "SkillforgeError",
    "SpecError",
    "Usage",
    "UserError",
    "__version__",
    "acompile_skill",
    "compile_skill",
    "get_model",
    "load_skill",
    "register_provider",
]
