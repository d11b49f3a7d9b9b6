"""skillforge: compile a task, solved once by an expensive teacher model, into a validated skill that a
cheap student model runs, escalating to the teacher when the student's answer fails or is unsure.

The package follows the pipeline, one subpackage per stage (imports run one way, top to bottom)::

    cli/        the terminal: the skillforge command, progress bars, reports
    regress/    regression tests of committed skills (record/replay, pytest plugin)
    evaluate/   a skill measured on labelled data (skillforge eval)
    compile/    spec + examples -> skill, in named steps (teacher drafts, student measured, calibrated)
    skill.py    the Skill you load, run and save
    run/        prompt -> student -> verify -> escalate -> ledger
    format/     the skill on disk (skill.yaml, instructions.md, examples.jsonl, tests.jsonl)
    ledger.py   one line per model call
    spec/       what the user asks for: SkillSpec, Example, comparators
    models/     the model protocol, providers (local llama.cpp, Anthropic), prices

>>> from skillforge import SkillSpec, Example, compile_skill, load_skill, get_model
"""

from skillforge._version import __version__
from skillforge.compile import CompileOptions, ConfidenceSettings, acompile_skill, compile_skill
from skillforge.errors import (
    ConfigurationError,
    EscalationFailed,
    InputValidationError,
    LedgerWriteError,
    LedgerWriteWarning,
    ModelAPIError,
    ModelAuthError,
    ModelRequestRejected,
    ReplayMissError,
    RunError,
    SkillforgeError,
    SkillFormatError,
    SkillIntegrityError,
    SkillIntegrityWarning,
    SpecError,
    UnknownPriceWarning,
    UserError,
)
from skillforge.ledger import Ledger, LedgerEntry
from skillforge.models import Attempt, Model, ModelRequest, ModelResponse, Usage, get_model, register_provider
from skillforge.progress import NullProgress, Progress
from skillforge.run import ItemResult, Runner, RunResult
from skillforge.skill import Skill, load_skill
from skillforge.spec import Comparator, Example, InputLimits, SkillSpec

__all__ = [
    "Attempt",
    "Comparator",
    "CompileOptions",
    "ConfidenceSettings",
    "ConfigurationError",
    "EscalationFailed",
    "Example",
    "InputLimits",
    "InputValidationError",
    "ItemResult",
    "Ledger",
    "LedgerEntry",
    "LedgerWriteError",
    "LedgerWriteWarning",
    "Model",
    "ModelAPIError",
    "ModelAuthError",
    "ModelRequest",
    "ModelRequestRejected",
    "ModelResponse",
    "NullProgress",
    "Progress",
    "ReplayMissError",
    "RunError",
    "RunResult",
    "Runner",
    "Skill",
    "SkillFormatError",
    "SkillIntegrityError",
    "SkillIntegrityWarning",
    "SkillSpec",
    "SkillforgeError",
    "SpecError",
    "UnknownPriceWarning",
    "Usage",
    "UserError",
    "__version__",
    "acompile_skill",
    "compile_skill",
    "get_model",
    "load_skill",
    "register_provider",
]
