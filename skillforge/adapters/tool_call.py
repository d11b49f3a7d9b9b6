"""One tool call of a skill, as every agent-facing adapter makes it: the input goes through the full
runtime (input check, student, verifier, escalation, ledger), and the outcome is either the answer with
who gave it and what it cost, or a one-line reason an agent can read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skillforge.errors import InputValidationError, SkillforgeError
from skillforge.run import Runner, RunResult
from skillforge.spec import clip

#: Longest reason a failed call reports (a validation error can list many problems).
MAX_REASON = 500


@dataclass(frozen=True)
class ToolOutcome:
    """The outcome of one call: ``result`` when the skill answered, else ``error``, a one-line reason.
    ``invalid_input`` tells the caller's mistake (fix the arguments) from a run-time failure."""

    result: RunResult | None
    error: str | None = None
    invalid_input: bool = False

    @property
    def output(self) -> dict[str, Any] | None:
        """The skill's answer (valid against its output schema), or ``None`` when the call failed."""
        return None if self.result is None else self.result.output


def provenance(result: RunResult) -> dict[str, Any]:
    """Who answered and what it cost: ``answered_by`` (model id), ``tier`` (``classifier``, ``student`` or
    ``teacher``), ``escalated``, ``confidence`` and ``cost_usd`` (``None`` when a price is unknown)."""
    return {
        "answered_by": result.answered_by,
        "tier": result.tier,
        "escalated": result.escalated,
        "confidence": None if result.confidence is None else round(result.confidence, 4),
        "cost_usd": result.cost_usd,
    }


async def call_skill(runner: Runner, arguments: Any) -> ToolOutcome:
    """Run ``arguments`` (a tool call's input) through ``runner``. Never raises a skillforge error: an
    input that does not match the skill's input schema (nothing is called for it), a failed escalation,
    a provider error or a missing recording come back as :attr:`ToolOutcome.error`."""
    try:
        result = await runner.arun(arguments)
    except InputValidationError as exc:
        return ToolOutcome(None, clip(str(exc), MAX_REASON), invalid_input=True)
    except SkillforgeError as exc:
        # "see .attempts" points a Python caller at the exception's data; an agent has no such thing.
        return ToolOutcome(None, clip(str(exc).removesuffix("; see .attempts"), MAX_REASON))
    return ToolOutcome(result)
