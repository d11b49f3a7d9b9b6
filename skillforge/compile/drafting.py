"""The teacher's part of compilation: drafting instructions and answering training examples."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from skillforge.compile.measure import Answerer
from skillforge.compile.teacher import clean_text, teacher_text
from skillforge.format import Demo
from skillforge.ledger import Ledger
from skillforge.models.base import Message, Model, ModelRequest
from skillforge.run import ask, build_request, render_input, render_output
from skillforge.run.ask import Acceptance
from skillforge.run.prompt import schema_text
from skillforge.spec import Example, SkillSpec, compare
from skillforge.templating import render

#: The longest draft the teacher may write (its instructions then fill up to this many tokens of every prompt).
DRAFT_MAX_TOKENS = 400


def draft_request(spec: SkillSpec, samples: Sequence[Example]) -> ModelRequest:
    """The teacher's request to draft instructions from the spec and a few labelled samples."""
    rows = [
        {"input": render_input(e.input),
         "output": render_output(e.expected, spec.output_schema) if e.expected else "?"}
        for e in samples
    ]
    user = render("draft_user", description=spec.description, input_schema=schema_text(spec.input_schema),
                  output_schema=schema_text(spec.output_schema), samples=rows)
    return ModelRequest(system=render("draft_system"), messages=(Message(role="user", content=user),),
                        output_schema=None, max_tokens=DRAFT_MAX_TOKENS, temperature=0.0, logprobs=False)


async def draft_instructions(
    teacher: Model, spec: SkillSpec, samples: Sequence[Example], *, ledger: Ledger
) -> str | None:
    """The teacher's instructions, or ``None`` when it produced nothing usable (the template
    candidate still competes; a teacher outage must not sink compilation)."""
    response = await teacher_text(teacher, draft_request(spec, samples), skill=spec.name, ledger=ledger,
                                  outcome="draft")
    if response is None:
        return None
    return clean_text(response.text)


async def teacher_demos(teacher: Answerer, instructions: str, examples: Sequence[Example]) -> TeacherPool:
    """The demo pool: the teacher answers each training example with the instructions alone. An answer
    is kept only if valid and, where a label exists, equal to it (source ``teacher``); otherwise the
    label itself is the demo (source ``label``); an unlabelled example the teacher fails on is dropped."""
    concurrency = teacher.concurrency
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(ex: Example) -> tuple[Demo | None, bool, float | None]:
        request = build_request(instructions=instructions, output_schema=teacher.output_schema, demos=[],
                                input=ex.input, max_tokens=teacher.max_tokens)
        async with sem:
            outcome = await ask(teacher.model, "teacher", request, Acceptance(teacher.output_schema), teacher.site)
        teacher.progress.advance()
        score = None if ex.expected is None else compare(outcome.output, ex.expected, teacher.comparators)
        good = outcome.accepted and outcome.output is not None and (score is None or score.correct)
        points = None if score is None else score.score
        if good and outcome.output is not None:
            return Demo(input=ex.input, output=outcome.output, source="teacher"), False, points
        if ex.expected is not None:
            return Demo(input=ex.input, output=ex.expected, source="label"), True, points
        return None, True, None

    if concurrency <= 1:
        results = [await one(ex) for ex in examples]
    else:
        results = list(await asyncio.gather(*(one(ex) for ex in examples)))
    scores = [score for _, _, score in results if score is not None]
    return TeacherPool(demos=[d for d, _, _ in results if d is not None],
                       dropped=sum(dropped for _, dropped, _ in results),
                       score=sum(scores) / len(scores) if scores else None)


@dataclass(frozen=True)
class TeacherPool:
    """The demo pool, and how the teacher did on the labelled examples with the instructions alone
    (the prompt an escalation sends it by default)."""

    demos: list[Demo]
    #: Teacher answers not used (wrong, invalid, or failed on an unlabelled example).
    dropped: int
    #: Mean score of the teacher's answers on the labelled examples (``None``: none labelled).
    score: float | None
