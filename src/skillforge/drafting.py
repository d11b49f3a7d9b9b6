"""The teacher's part of compilation: drafting instructions and answering training examples."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from skillforge.errors import ModelAPIError, ModelAuthError
from skillforge.ledger import Ledger
from skillforge.models.base import Message, Model, ModelRequest, ModelResponse, Usage
from skillforge.prompt import build_request, render_input, render_output, schema_text
from skillforge.runtime import ask
from skillforge.scoring import Comparator, compare
from skillforge.skill import Demo
from skillforge.spec import Example, SkillSpec

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

DRAFT_SYSTEM = (
    "You write instructions that a small, literal-minded language model will follow to do a task. "
    "Write a short numbered procedure: how to read the input, how to decide each output field, the "
    "edge cases and how to handle them, and the output rules. Plain text only, at most 200 words."
)

DRAFT_USER = _ENV.from_string(
    """Task: {{ description }}

Input JSON Schema:
{{ input_schema }}

Output JSON Schema:
{{ output_schema }}
{% if samples %}
Examples (input => output):
{% for s in samples %}{{ s.input }} => {{ s.output }}
{% endfor %}{% endif %}
Write the instructions now."""
)


def draft_request(spec: SkillSpec, samples: Sequence[Example]) -> ModelRequest:
    rows = [
        {"input": render_input(e.input),
         "output": render_output(e.expected, spec.output_schema) if e.expected else "?"}
        for e in samples
    ]
    user = DRAFT_USER.render(
        description=spec.description, input_schema=schema_text(spec.input_schema),
        output_schema=schema_text(spec.output_schema), samples=rows,
    )
    return ModelRequest(system=DRAFT_SYSTEM, messages=(Message(role="user", content=user),),
                        output_schema=None, max_tokens=400, temperature=0.0, logprobs=False)


async def draft_instructions(
    teacher: Model, spec: SkillSpec, samples: Sequence[Example], *, ledger: Ledger
) -> str | None:
    """The teacher's instructions, or ``None`` when it produced nothing usable (the template
    candidate still competes; a teacher outage must not sink compilation)."""
    response = await teacher_text(teacher, draft_request(spec, samples), skill=spec.name, ledger=ledger,
                                  outcome="draft")
    if response is None:
        return None
    text = _dedupe_lines(response.text).strip()
    return text + "\n" if len(text.split()) >= 5 else None


async def teacher_text(
    teacher: Model, request: ModelRequest, *, skill: str, ledger: Ledger, outcome: str
) -> ModelResponse | None:
    """A free-text teacher call at compile time, recorded in the ledger; ``None`` after a provider
    error (a teacher outage must not sink compilation). Authentication errors propagate."""
    try:
        response = await teacher.request(request)
    except ModelAuthError:
        raise
    except ModelAPIError:
        ledger.record(skill=skill, phase="compile", role="teacher", model_id=teacher.model_id,
                      usage=Usage(), cost_usd=0.0, latency_s=0.0, outcome="error")
        return None
    ledger.record(skill=skill, phase="compile", role="teacher", model_id=teacher.model_id,
                  usage=response.usage, cost_usd=teacher.cost_usd(response.usage),
                  latency_s=response.latency_s, outcome=outcome)
    return response


def _dedupe_lines(text: str) -> str:
    """Drop repeated lines: small teachers loop ("5. Read the text." twenty times)."""
    seen: set[str] = set()
    out = []
    for line in text.splitlines():
        key = line.strip().lstrip("0123456789.-*) ").casefold()
        if key and key in seen:
            continue
        seen.add(key)
        out.append(line)
    return "\n".join(out)


async def teacher_demos(
    teacher: Model,
    spec: SkillSpec,
    instructions: str,
    examples: Sequence[Example],
    *,
    comparators: Mapping[str, Comparator],
    ledger: Ledger,
    concurrency: int,
    on_case: Callable[[], None] = lambda: None,
    max_tokens: int = 256,
) -> TeacherPool:
    """The demo pool: the teacher answers each training example with the instructions alone. An answer
    is kept only if valid and, where a label exists, equal to it (source ``teacher``); otherwise the
    label itself is the demo (source ``label``); an unlabelled example the teacher fails on is dropped."""
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(ex: Example) -> tuple[Demo | None, bool, float | None]:
        request = build_request(instructions=instructions, output_schema=spec.output_schema, demos=[],
                                input=ex.input, max_tokens=max_tokens)
        async with sem:
            outcome = await ask(teacher, "teacher", request, schema=spec.output_schema, threshold=None,
                                max_reasks=1, ledger=ledger, skill=spec.name, phase="compile")
        on_case()
        score = None if ex.expected is None else compare(outcome.output, ex.expected, comparators)
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
