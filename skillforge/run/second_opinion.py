"""A second opinion on the student's answer: another zero-shot look at the same input, as a signal.

A student's own probabilities rank its right and wrong answers only so well (a small model is often
confidently wrong). A second prompt -- or a second model -- that fails on *other* inputs than the
student's prompt does is independent evidence: where it backs the student's answer, the answer is far
more often right (the AUROC each signal reaches is measured by ``make bench``, docs/benchmarks.md).

Two signals (:mod:`skillforge.run.signals`):

- ``second_prob``: the probability the second opinion gives the student's values of the enum/boolean
  fields (a provider that scores choices, e.g. the local model), multiplied over the fields;
- ``second_agreement``: the field score of the second opinion's own answer against the student's
  (any provider, Claude included).

An invalid or failed second opinion gives no signal (the combiner then counts it at its mean): it
never blocks or changes the student's answer, and it is never an answer itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from skillforge.errors import ModelAPIError, ModelAuthError
from skillforge.format import SecondOpinion
from skillforge.ledger import Ledger, Phase
from skillforge.models.base import Attempt, Model, ModelRequest, ModelResponse, Usage, observed
from skillforge.run.prompt import PromptStyle, build_request
from skillforge.run.signals import Signals, chosen_probabilities
from skillforge.run.verify import check_answer
from skillforge.spec import Comparator, compare
from skillforge.spec.scoring import EXACT

#: The prefix of each field's own agreement with the second opinion in a signals dict (``second.city``).
SECOND_FIELD = "second."


def second_request(
    settings: SecondOpinion, model: Model, *, input: Mapping[str, Any], output_schema: Mapping[str, Any],
    input_schema: Mapping[str, Any] | None, max_tokens: int,
) -> ModelRequest:
    """The second opinion's request: zero-shot, in its own rendering; the probability of every allowed
    value asked for where ``model`` can score choices."""
    request = build_request(instructions=settings.instructions, output_schema=output_schema, demos=[],
                            input=input, max_tokens=max_tokens,
                            style=PromptStyle(settings.input_format, input_schema, settings.schema_in_prompt))
    return request.model_copy(update={"choice_scores": model.supports_choice_scores})


async def consult(
    model: Model, request: ModelRequest, *, ledger: Ledger, skill: str, phase: Phase,
) -> tuple[ModelResponse | None, Attempt]:
    """Ask the second opinion once (no re-ask: it is evidence, not an answer), recorded in the ledger
    with role ``second_opinion``. A provider error gives no response; an authentication error propagates
    (a wrong key is the user's to fix, not noise to average away)."""
    try:
        response = observed(model, await model.request(request))
    except ModelAuthError:
        raise
    except ModelAPIError as exc:
        ledger.record(skill=skill, phase=phase, role="second_opinion", model_id=model.model_id, usage=Usage(),
                      cost_usd=0.0, latency_s=0.0, outcome="error")
        return None, Attempt(model_id=model.model_id, role="second_opinion", raw_text="", verdict="error",
                             errors=[str(exc)], cost_usd=0.0)
    check = check_answer(response.text, request.output_schema or {})
    cost = model.cost_of(response)
    ledger.record(skill=skill, phase=phase, role="second_opinion", model_id=model.model_id, usage=response.usage,
                  cost_usd=cost, latency_s=response.latency_s, outcome=check.verdict, batch=response.batch,
                  cached=response.cached, original_cost_usd=model.bought_for(response) if response.cached else None)
    attempt = Attempt(model_id=model.model_id, role="second_opinion", raw_text=response.text, verdict=check.verdict,
                      errors=check.errors, usage=response.usage, cost_usd=cost, latency_s=response.latency_s)
    return response, attempt


def second_signals(
    response: ModelResponse | None, student_output: Mapping[str, Any], *, output_schema: Mapping[str, Any],
    comparators: Mapping[str, Comparator],
) -> Signals:
    """How much the second opinion in ``response`` backs ``student_output`` (empty: no usable opinion)."""
    if response is None:
        return {}
    out: Signals = {}
    own = check_answer(response.text, output_schema)
    if own.output is not None and own.verdict == "accepted":
        out["second_agreement"] = compare(own.output, dict(student_output), comparators).score
        fields = list(output_schema.get("properties") or {})
        if len(fields) >= 2:  # each field's own agreement, for per-field AUROC (no combiner reads these)
            for f in fields:
                same = comparators.get(f, EXACT).equal(own.output.get(f), student_output.get(f))
                out[f"{SECOND_FIELD}{f}"] = 1.0 if same else 0.0
    if response.choices:
        probs, _ = chosen_probabilities(response.choices, student_output)
        out["second_prob"] = math.prod(probs)
    return out
