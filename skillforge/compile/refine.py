"""Teacher-reflective refinement: the teacher revises the instructions from the student's dev failures.

Each round shows the teacher the current instructions and the dev cases the student got wrong (input,
the student's answer, the expected answer) and asks for a complete revised text. The revision is
measured on dev with the same demos; it is kept only if it clearly beats the current choice (the
selection rule: more than ``selection_z`` standard errors of the paired gain). Rounds stop at the
first revision that does not improve: the next round would show a deterministic teacher the same
failures and get the same text back. Rounds are also bounded by count and by teacher spend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from skillforge.compile.measure import DevCase, Measurement
from skillforge.compile.teacher import clean_text, teacher_text
from skillforge.ledger import Ledger
from skillforge.models.base import Message, Model, ModelRequest
from skillforge.run import render_input, render_output
from skillforge.run.prompt import schema_text
from skillforge.spec import SkillSpec
from skillforge.templating import render


@dataclass(frozen=True)
class Failure:
    """A dev case the student got wrong."""

    input: dict[str, Any]
    got: dict[str, Any] | None
    expected: dict[str, Any]


def failures_of(measurement: Measurement, dev: Sequence[DevCase], limit: int) -> list[Failure]:
    """Up to ``limit`` wrong dev answers, in dev order."""
    out = [Failure(case.input, res.output, case.expected)
           for case, res in zip(dev, measurement.cases, strict=True) if not res.correct]
    return out[:limit]


#: The longest revision the teacher may write.
REVISE_MAX_TOKENS = 500


def refine_request(spec: SkillSpec, instructions: str, failures: Sequence[Failure]) -> ModelRequest:
    """The teacher's request for revised instructions."""
    schema = spec.output_schema
    rows = [{"input": render_input(f.input),
             "got": "(no valid answer)" if f.got is None else render_output(f.got, schema),
             "expected": render_output(f.expected, schema)} for f in failures]
    user = render("refine_user", description=spec.description, output_schema=schema_text(schema),
                              instructions=instructions.strip(), failures=rows)
    return ModelRequest(system=render("refine_system"), messages=(Message(role="user", content=user),),
                        output_schema=None, max_tokens=REVISE_MAX_TOKENS, temperature=0.0, logprobs=False)


async def revise_instructions(
    teacher: Model, spec: SkillSpec, instructions: str, failures: Sequence[Failure], *, ledger: Ledger
) -> tuple[str | None, float | None]:
    """(revised text or ``None`` when unusable, the call's cost). A teacher outage ends refinement
    quietly: the instructions already measured still stand."""
    response = await teacher_text(teacher, refine_request(spec, instructions, failures), skill=spec.name,
                                  ledger=ledger, outcome="refine")
    if response is None:
        return None, 0.0
    cost = teacher.cost_of(response)
    text = clean_text(response.text)
    if text is None or text.strip() == instructions.strip():
        return None, cost
    return text, cost


def over_budget(spent: float | None, budget: float | None) -> bool:
    """True when a refinement budget is set and spent (an unknown cost counts as over: never guess)."""
    if budget is None:
        return False
    return spent is None or spent >= budget
