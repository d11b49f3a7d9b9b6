"""Skills as pydantic-ai tools (``pip install 'skillforge[pydantic-ai]'``).

:func:`pydantic_ai_tool` makes one skill a :class:`pydantic_ai.Tool` whose parameters are the skill's input
schema; :func:`pydantic_ai_toolset` makes every skill under some folders one
:class:`pydantic_ai.FunctionToolset`. A call runs the full runtime (student, verifier, escalation, ledger)
and returns the answer to the agent's model; who answered and what it cost ride along as the tool
return's ``metadata`` (kept by pydantic-ai for your code, never sent to the model).

Errors become pydantic-ai's two kinds of failed tool call: arguments that do not match the input schema
raise :class:`~pydantic_ai.ModelRetry` (the model is asked to correct them, within the tool's retry
budget); a run that gives no valid answer (failed escalation, provider error) raises
:class:`~pydantic_ai.ToolFailed` (the model sees the reason and carries on without the answer).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillforge.adapters import call_skill, provenance
from skillforge.adapters.catalog import load_catalog
from skillforge.errors import ConfigurationError
from skillforge.ledger import Ledger
from skillforge.models.base import Model
from skillforge.run import Runner
from skillforge.skill import Skill

if TYPE_CHECKING:
    from pydantic_ai import FunctionToolset, Tool


def require_pydantic_ai() -> None:
    """Raise :class:`~skillforge.errors.ConfigurationError` naming the extra when pydantic-ai is missing."""
    try:
        import pydantic_ai  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "skills as pydantic-ai tools need the 'pydantic-ai-slim' package: pip install 'skillforge[pydantic-ai]'"
        ) from None


def pydantic_ai_tool(
    skill: Skill,
    *,
    student: str | Model | None = None,
    teacher: str | Model | None = None,
    ledger: Ledger | None = None,
    escalate: bool = True,
) -> Tool[Any]:
    """``skill`` as a pydantic-ai tool: ``Agent(model, tools=[pydantic_ai_tool(skill)])``. Models and
    ledger as in :meth:`Skill.run`; the runner is built once and reused for every call."""
    return runner_tool(skill.runner(student=student, teacher=teacher, ledger=ledger, escalate=escalate))


def runner_tool(runner: Runner) -> Tool[Any]:
    """The pydantic-ai tool calling ``runner``'s skill."""
    require_pydantic_ai()
    from pydantic_ai import ModelRetry, Tool, ToolFailed, ToolReturn

    manifest = runner.skill.manifest

    async def run_skill(**arguments: Any) -> ToolReturn[dict[str, Any]]:
        outcome = await call_skill(runner, arguments)
        if outcome.result is None:
            if outcome.invalid_input:
                raise ModelRetry(outcome.error or "invalid input")
            raise ToolFailed(outcome.error or "failed")
        return ToolReturn(return_value=outcome.result.output, metadata=provenance(outcome.result))

    return Tool.from_schema(run_skill, name=manifest.name, description=manifest.description,
                            json_schema=manifest.input_schema)


def pydantic_ai_toolset(
    paths: Sequence[str | Path],
    *,
    student: str | Model | None = None,
    teacher: str | Model | None = None,
    ledger: Ledger | None = None,
    escalate: bool = True,
) -> FunctionToolset[Any]:
    """Every skill at or under ``paths`` as one pydantic-ai toolset (a skill that cannot be loaded is
    left out with a warning naming it and why)."""
    require_pydantic_ai()
    from pydantic_ai import FunctionToolset

    catalog = load_catalog(paths, student=student, teacher=teacher, ledger=ledger, escalate=escalate)
    for line in catalog.skipped:
        warnings.warn(f"skill not served: {line}", UserWarning, stacklevel=2)
    return FunctionToolset([runner_tool(s.runner) for s in catalog.skills.values()])
