"""Teacher-only: the one counterfactual every cost in skillforge is compared against.

**Teacher-only** is each input answered by the teacher with the plain prompt a user would write
without this library -- the spec's description and its output schema's text, the input as plain text;
no compiled instructions, no demos -- one call per input, at the teacher's list price (a local or
simulated teacher at the reference Claude model's: :func:`~skillforge.models.pricing.teacher_only_price`).
The benchmark, ``skillforge eval``, ``status``, ``report`` and the demo all use it. What a skill really
spends is priced at what it sends: an escalation's prompt (its instructions, and demos where the
teacher needs them) is usually longer than this plain one, so an escalated input costs a little more
than its teacher-only counterpart.

Token counts are measured where a call was made, and otherwise estimated from a measured request
(:func:`estimate_tokens`): the measured count plus the difference in text tokens under the model's
tokenizer when one is at hand, else scaled by the character ratio.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from skillforge.models.base import ModelRequest, Usage
from skillforge.models.pricing import cost_usd, teacher_only_price
from skillforge.run.prompt import PromptStyle, build_request, plain_instructions, render_output

TokenCounter = Callable[[str], int]


def teacher_only_request(
    *, description: str, output_schema: Mapping[str, Any], input_schema: Mapping[str, Any] | None,
    input: Mapping[str, Any], max_tokens: int,
) -> ModelRequest:
    """The teacher-only prompt for ``input``: the description and the output schema's text as the
    system prompt, the input as plain text (see the module docstring)."""
    return build_request(instructions=plain_instructions(description), output_schema=output_schema, demos=[],
                         input=input, max_tokens=max_tokens, style=PromptStyle("plain", input_schema))


def request_text(request: ModelRequest) -> str:
    """Every text a request sends (system and turns): what its input tokens are counted on."""
    return request.system + "".join(m.content for m in request.messages)


def estimate_tokens(text: str, measured_text: str, measured_tokens: int, counter: TokenCounter | None) -> int:
    """Tokens of ``text``, from ``measured_text`` measured at ``measured_tokens`` (chat-template overhead
    included): the measured count plus the difference in text tokens under ``counter``, else scaled by
    the character ratio. At least 1."""
    if counter is not None:
        return max(1, measured_tokens + counter(text) - counter(measured_text))
    return max(1, round(measured_tokens * len(text) / max(1, len(measured_text))))


def teacher_only_usage(
    request: ModelRequest, answer: Mapping[str, Any], output_schema: Mapping[str, Any], *,
    measured: ModelRequest, measured_tokens: int, answer_tokens: int | None, counter: TokenCounter | None,
) -> Usage:
    """What the teacher-only call for one input uses: its prompt's tokens estimated from ``measured``
    (a request for the same input measured at ``measured_tokens``), its answer's tokens ``answer_tokens``
    when known (a real teacher's answer), else ``answer`` rendered and counted (or sized by the measured
    request's tokens per character)."""
    prompt = (measured_tokens if request == measured
              else estimate_tokens(request_text(request), request_text(measured), measured_tokens, counter))
    if answer_tokens is None:
        text = render_output(answer, output_schema)
        answer_tokens = (counter(text) if counter is not None
                         else max(1, round(len(text) * measured_tokens / max(1, len(request_text(measured))))))
    return Usage(input_tokens=prompt, output_tokens=max(1, answer_tokens))


def teacher_only_cost(usage: Usage, teacher: str | None) -> float:
    """``usage`` at the price teacher-only is priced at for ``teacher`` (:func:`teacher_only_price`)."""
    return cost_usd(usage, teacher_only_price(teacher)[1])
