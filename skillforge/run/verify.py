"""The verifier: is a model's answer valid JSON for the schema, and confident enough?

Never trusts the provider to have honoured the schema: some servers silently ignore structured-output
requests and answer in prose, so every answer is parsed and validated here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from skillforge.models.base import ModelResponse, Verdict
from skillforge.spec import json_value_problem, validation_errors


@dataclass(frozen=True)
class Check:
    """The verifier's finding on one answer."""

    verdict: Verdict
    output: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def extract_json(text: str) -> Any:
    """Parse the JSON object in ``text``: the whole text, else the first ``{...}`` that parses (which
    also finds one inside a fenced block or prose). Raises ``ValueError`` naming what was wrong
    (``NaN``/``Infinity``, integers too long to convert and nesting too deep for the parser included)."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("the answer is empty")
    decoder = json.JSONDecoder(parse_constant=_no_constant)
    try:
        try:
            return decoder.decode(stripped)
        except json.JSONDecodeError:
            pass
        start = stripped.find("{")
        while start != -1:
            try:
                value, _ = decoder.raw_decode(stripped, start)
                return value
            except json.JSONDecodeError:
                start = stripped.find("{", start + 1)
    except RecursionError:
        raise ValueError("the answer is nested too deeply") from None
    preview = stripped if len(stripped) <= 80 else stripped[:77] + "..."
    raise ValueError(f"the answer is not JSON: {preview!r}")


def refusal(response: ModelResponse) -> Check | None:
    """The ``refused`` finding when the model declined to answer (any text with it is not an answer)."""
    if not response.refused:
        return None
    detail = f": {response.text.strip()[:200]!r}" if response.text.strip() else ""
    return Check("refused", errors=[f"the model refused to answer (stop_reason {response.stop_reason!r}){detail}"])


def check_answer(
    text: str,
    schema: Mapping[str, Any],
    *,
    confidence: float | None = None,
    threshold: float | None = None,
) -> Check:
    """Validate ``text`` against ``schema``; below ``threshold`` a valid answer is ``low_confidence``."""
    try:
        value = extract_json(text)
    except ValueError as exc:
        return Check("invalid", errors=[str(exc)])
    if not isinstance(value, dict):
        return Check("invalid", errors=[f"expected a JSON object, got {type(value).__name__}"])
    problem = json_value_problem(value)  # e.g. a lone surrogate from a "\ud800" escape: unwritable
    if problem is not None:
        return Check("invalid", errors=[f"the answer is not acceptable JSON: {problem}"])
    errors = validation_errors(dict(schema), value)
    if errors:
        return Check("invalid", output=value, errors=errors)
    return gate(Check("accepted", output=value), confidence, threshold)


def gate(check: Check, confidence: float | None, threshold: float | None) -> Check:
    """An accepted answer whose confidence is below ``threshold`` becomes ``low_confidence`` -- and so
    does one without a confidence when there is a threshold: a signal the threshold was calibrated on is
    missing, so nothing certifies the answer. No threshold: no gate."""
    if check.verdict != "accepted" or threshold is None:
        return check
    if confidence is None:
        return Check("low_confidence", output=check.output,
                     errors=[f"no confidence to hold against the skill's threshold {threshold:.3f}"])
    if confidence >= threshold:
        return check
    return Check("low_confidence", output=check.output,
                 errors=[f"confidence {confidence:.3f} is below the skill's threshold {threshold:.3f}"])
