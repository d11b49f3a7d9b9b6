"""skillforge: compile a task, solved once by an expensive teacher model, into a validated skill that a
cheap student model runs, escalating to the teacher when the student's answer fails or is unsure.

The package follows the pipeline, one subpackage per stage (imports run one way, top to bottom)::

    cli/        the terminal: the skillforge command, progress bars, reports
    adapters/   a skill as another system's tool: Anthropic tool use, MCP, pydantic-ai, Ray Data
    update/     fold production escalations back in and recompile (skillforge update)
    regress/    regression tests of committed skills (record/replay, pytest plugin)
    evaluate/   a skill measured on labelled data (skillforge eval)
    batch/      a skill over a file of inputs, crash-safe and resumable (skillforge batch)
    compile/    spec + examples -> skill, in named steps (teacher drafts, student measured, calibrated)
    skill.py    the Skill you load, run and save
    observe/    reading ledgers: status, reports, drift
    run/        prompt -> student -> verify -> escalate -> ledger
    format/     the skill on disk (skill.yaml, instructions.md, examples.jsonl, tests.jsonl)
    ledger.py   one line per model call
    spec/       what the user asks for: SkillSpec, Example, comparators
    models/     the model protocol and its providers, grouped by provider; prices
    stats/      intervals, thresholds, fitting and drift tests (pure functions)

The top level holds the user's nouns and verbs; errors live in :mod:`skillforge.errors` (re-exported here),
provider-author plumbing (``Model``, ``ModelRequest``, ``register_provider``) in :mod:`skillforge.models`.

>>> from skillforge import SkillSpec, Example, compile_skill, load_skill, get_model
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from skillforge._version import __version__
from skillforge.batch import run_batch
from skillforge.compile import CompileOptions, SearchConfig, acompile_skill, compile_skill, estimate_compile_skill
from skillforge.errors import (
    BatchJournalError,
    CacheWarning,
    ConfigurationError,
    DeprecatedModelWarning,
    EscalationFailed,
    InputValidationError,
    LedgerWriteError,
    LedgerWriteWarning,
    ModelAPIError,
    ModelAuthError,
    ModelRequestRejected,
    ReplayMissError,
    RetiredModelError,
    RunError,
    SkillforgeError,
    SkillFormatError,
    SkillIntegrityError,
    SkillIntegrityWarning,
    SpecError,
    UnknownPriceWarning,
    UserError,
)
from skillforge.evaluate import EvalResult, evaluate_skill
from skillforge.format import ConfidenceOptions
from skillforge.ledger import Ledger
from skillforge.models import get_model
from skillforge.progress import Progress
from skillforge.run import ItemResult, RunResult
from skillforge.skill import Skill, load_skill
from skillforge.spec import Comparator, Example, SkillSpec
from skillforge.update import RetargetReport, UpdateReport, retarget_skill, update_skill

#: Names the top level exported before 0.2, with where they live now. Importing one from ``skillforge``
#: still works for one release, with a DeprecationWarning naming the new home.
_MOVED: dict[str, str] = {
    "Attempt": "skillforge.models",
    "Model": "skillforge.models",
    "ModelRequest": "skillforge.models",
    "ModelResponse": "skillforge.models",
    "Usage": "skillforge.models",
    "register_provider": "skillforge.models",
    "Runner": "skillforge.run",
    "LedgerEntry": "skillforge.ledger",
    "InputLimits": "skillforge.spec",
    "NullProgress": "skillforge.progress",
    "ConfidenceSettings": "skillforge.compile",
}


def __getattr__(name: str) -> Any:
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module 'skillforge' has no attribute {name!r}")
    warnings.warn(
        f"skillforge.{name} moved: import it from {home} (the top-level name goes in the next release)",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(home), name)


__all__ = [
    # errors (the tree is in skillforge.errors)
    "BatchJournalError",
    "CacheWarning",
    # nouns
    "Comparator",
    "CompileOptions",
    "ConfidenceOptions",
    "ConfigurationError",
    "DeprecatedModelWarning",
    "EscalationFailed",
    "EvalResult",
    "Example",
    "InputValidationError",
    "ItemResult",
    "Ledger",
    "LedgerWriteError",
    "LedgerWriteWarning",
    "ModelAPIError",
    "ModelAuthError",
    "ModelRequestRejected",
    "Progress",
    "ReplayMissError",
    "RetargetReport",
    "RetiredModelError",
    "RunError",
    "RunResult",
    "SearchConfig",
    "Skill",
    "SkillFormatError",
    "SkillIntegrityError",
    "SkillIntegrityWarning",
    "SkillSpec",
    "SkillforgeError",
    "SpecError",
    "UnknownPriceWarning",
    "UpdateReport",
    "UserError",
    "__version__",
    # verbs
    "acompile_skill",
    "compile_skill",
    "estimate_compile_skill",
    "evaluate_skill",
    "get_model",
    "load_skill",
    "retarget_skill",
    "run_batch",
    "update_skill",
]
