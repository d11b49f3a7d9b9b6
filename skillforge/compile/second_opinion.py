"""Measuring a second opinion on the calibration cases (see :mod:`skillforge.run.second_opinion`).

The second opinion answers each calibration input zero-shot with the plain prompt (the description as
one line, the input as text); its signals join the student's. If the skill's own prompt *is* that plain
prompt on the same model, the template instructions in JSON with the schema text are used instead: the
same prompt twice is no second opinion. Whether the skill keeps it is the confidence choice's call
(:mod:`skillforge.compile.confidence_fit`): only where it lets the student answer more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from skillforge.compile.candidates import PLAIN, Candidate, Rendering
from skillforge.compile.measure import CaseResult
from skillforge.compile.state import CompileState
from skillforge.format import SecondOpinion
from skillforge.models.base import Model
from skillforge.models.registry import resolve_model
from skillforge.run.second_opinion import consult, second_request, second_signals

#: ``CompileOptions.second_opinion`` naming the student's own model.
STUDENT = "student"


def second_model(state: CompileState) -> Model:
    """The model of the configured second opinion (the student's own, or the one named)."""
    name = state.options.second_opinion
    assert name is not None
    model = state.student if name == STUDENT else state.cached(resolve_model(name, name, role="second_opinion"))
    model.check_schema(state.spec.output_schema)
    return model


def second_settings(state: CompileState, chosen: Candidate, model: Model) -> SecondOpinion:
    """The second opinion's prompt: the plain prompt, unless the skill already asks the same model that."""
    rendering = PLAIN if model.supports_structured_output else Rendering("plain", schema_in_prompt=True)
    name = state.options.second_opinion
    same_prompt = chosen.k == 0 and chosen.instructions == state.plain_text and chosen.rendering == rendering
    text = state.plain_text
    if same_prompt and model is state.student:
        text, rendering = state.template_text, Rendering("json", schema_in_prompt=True)
    return SecondOpinion(model=None if name == STUDENT else name, instructions=text,
                         input_format=rendering.input_format, schema_in_prompt=rendering.schema_in_prompt)


async def measure_second_opinion(
    state: CompileState, chosen: Candidate, cases: Sequence[CaseResult], inputs: Sequence[Mapping[str, Any]],
) -> tuple[SecondOpinion, Model]:
    """Ask the second opinion about every calibration input and add its signals to each case's student
    answer (``second_prob``, ``second_agreement``). In case order, one at a time for a local model (its
    KV cache keeps the zero-shot prefix warm). Returns the settings and the model asked."""
    model = second_model(state)
    settings = second_settings(state, chosen, model)
    spec, o = state.spec, state.options
    state.progress.stage(f"second opinion ({model.model_id}) on calibration cases", len(cases))
    sem = asyncio.Semaphore(1 if model.is_local else state.student_concurrency())

    async def one(case: CaseResult, value: Mapping[str, Any]) -> None:
        request = second_request(settings, model, input=value, output_schema=spec.output_schema,
                                 input_schema=spec.input_schema, max_tokens=o.max_tokens)
        async with sem:
            response, _ = await consult(model, request, ledger=state.ledger, skill=state.name, phase="compile")
        state.progress.advance()
        if case.output is not None:
            case.signals.update(second_signals(response, case.output, output_schema=spec.output_schema,
                                               comparators=o.comparators))

    await asyncio.gather(*(one(c, x) for c, x in zip(cases, inputs, strict=True)))
    return settings, model
